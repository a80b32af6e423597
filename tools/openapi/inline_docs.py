#!/usr/bin/python3
"""inline_docs.py IN.html REDOC.js OUT.html — makes Redocly's build-docs page
self-contained: its one <script src="https://cdn.redocly.com/..."> becomes an
inline <script> holding the Redoc bundle from node_modules (the version the CLI
names in that URL). Fails if anything the browser would fetch from elsewhere is
left: a script or style with src/href, a font or @import URL."""
import re
import sys

CDN = re.compile(r'<script src="https://cdn\.redocly\.com/redoc/v([0-9.]+)/bundles/'
                 r'redoc\.standalone\.js"></script>')
# What a browser fetches by itself on loading the page (links in <a> are not).
FETCHED = [
    re.compile(r'<script\b[^>]*\bsrc\s*=', re.I),
    re.compile(r'<link\b[^>]*\bhref\s*=\s*["\']?(https?:)?//', re.I),
    re.compile(r'@import\b', re.I),
    re.compile(r'url\(\s*["\']?(https?:)?//', re.I),
    re.compile(r'<(img|iframe|embed|object|source|video|audio)\b[^>]*\b(src|data)\s*=\s*'
               r'["\']?(https?:)?//', re.I),
]


def main(src, bundle, out):
    page = open(src, encoding='utf-8').read()
    found = CDN.findall(page)
    if len(found) != 1:
        sys.exit('inline_docs.py: expected one Redoc CDN script tag in %s, found %d'
                 % (src, len(found)))
    js = open(bundle, encoding='utf-8').read()
    # The bundle must not end the inline element early.
    js = re.sub(r'</(script)', r'<\\/\1', js, flags=re.I)
    page = CDN.sub(lambda m: '<script>' + js + '</script>', page, count=1)
    page = page.replace('<meta charset="utf8" />', '<meta charset="utf-8" />', 1)
    # Checked on the markup and CSS: the inline scripts' text is code, whose URLs
    # are not fetched on load (the Redoc bundle holds a few in string literals).
    markup = re.sub(r'(<script\b[^>]*>).*?(</script>)', r'\1\2', page, flags=re.S | re.I)
    for rx in FETCHED:
        m = rx.search(markup)
        if m:
            sys.exit('inline_docs.py: %s would still fetch from elsewhere: %r'
                     % (out, markup[max(0, m.start() - 60):m.end() + 60]))
    with open(out, 'w', encoding='utf-8') as f:
        f.write(page)


if __name__ == '__main__':
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
