#!/usr/bin/python3
"""
test_docs.py - GET /docs: the API reference built at build time from api/openapi.yaml
(Redocly build-docs, tools/openapi/build_docs.sh) and embedded in the binary. Public,
text/html with a strong ETag (304 on If-None-Match, lists and weak forms included),
Cache-Control, a Content-Security-Policy, nothing fetched from elsewhere; and the page run
by headless Chromium with every host but 127.0.0.1 unresolvable: the rendered DOM holds
the operations' summaries and the blob: download link that only Redoc's script, running
in the browser under that CSP, makes. The screenshot is kept in
<build>/meson-logs/docs.png.

Stdlib only; run with /usr/bin/python3.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import SOURCE_ROOT, assert_status  # noqa: E402
from test_cycle_report import CHROMIUM, png_check  # noqa: E402

SHOT_W, SHOT_H = 1280, 900


def operation_summaries():
    """Every operation's summary in api/openapi.yaml (method keys at column 4,
    their summary at column 6, the layout test_routes_match.py relies on)."""
    out, in_op = [], False
    with open(os.path.join(SOURCE_ROOT, 'api', 'openapi.yaml'), encoding='utf-8') as f:
        for line in f:
            if re.match(r'^    (get|put|post|patch|delete):', line):
                in_op = True
            elif in_op and line.startswith('      summary: '):
                out.append(line[len('      summary: '):].strip().strip('\'"'))
                in_op = False
    return out


class DocsTest(harness.DaemonTestCase):

    def get(self, headers=None, method='GET'):
        r = self.daemon.request(method, '/docs', headers=headers or {})
        self.assertNotEqual(r.status, 500, repr(r))
        return r

    def test_01_served_public_with_headers(self):
        r = self.get()
        assert_status(r, 200, 'GET /docs without a token')
        self.assertEqual(r.headers['content-type'], 'text/html; charset=utf-8')
        etag = r.headers['etag']
        self.assertRegex(etag, r'^"[0-9a-f]{32}"$')
        self.assertEqual(r.headers['cache-control'], 'public, max-age=3600')
        self.assertEqual(r.headers['x-content-type-options'], 'nosniff')
        csp = r.headers['content-security-policy']
        self.assertIn("default-src 'none'", csp)
        self.assertRegex(csp, r"script-src 'sha256-[A-Za-z0-9+/=]+'")
        self.assertNotIn('unsafe-eval', csp)
        self.assertNotIn("script-src 'unsafe-inline'", csp)
        page = r.body.decode('utf-8')
        self.assertTrue(page.lstrip().lower().startswith('<!doctype html>'), page[:100])
        self.assertIn('<title>effmon API</title>', page)
        # Self-contained: no script, stylesheet or font from elsewhere (the inline
        # scripts' own text is code, not markup, and is left out of the check).
        markup = re.sub(r'(<script\b[^>]*>).*?(</script>)', r'\1\2', page, flags=re.S | re.I)
        self.assertEqual(re.findall(r'<script\b[^>]*\bsrc\s*=', markup, re.I), [])
        self.assertEqual(re.findall(r'<link\b[^>]*\bhref\s*=\s*["\']?(?:https?:)?//',
                                    markup, re.I), [])
        self.assertEqual(re.findall(r'url\(\s*["\']?(?:https?:)?//', markup, re.I), [])
        self.assertNotIn('@import', markup)
        self.assertNotIn('fonts.googleapis.com', markup)
        self.assertNotIn('cdn.redocly.com', page)
        # HEAD: the same headers, no body.
        h = self.get(method='HEAD')
        assert_status(h, 200, 'HEAD /docs')
        self.assertEqual(h.headers['etag'], etag)
        self.assertEqual(h.body, b'')

    def test_02_conditional(self):
        etag = self.get().headers['etag']
        for inm in (etag, 'W/' + etag, '"nope", ' + etag, '"a",W/%s , "b"' % etag, '*'):
            r = self.get({'If-None-Match': inm})
            assert_status(r, 304, inm)
            self.assertEqual(r.body, b'', inm)
            self.assertEqual(r.headers['etag'], etag, inm)
        for inm in ('"nope"', etag[:-2] + '"', 'W/"x", "y"', ''):
            r = self.get({'If-None-Match': inm})
            assert_status(r, 200, inm)
            self.assertGreater(len(r.body), 100000, inm)
        # Other methods: 405 with Allow.
        r = self.get(method='POST')
        self.assertEqual(r.status, 405, repr(r))
        self.assertIn('GET', r.headers.get('allow', ''))

    def chromium(self, tmp, *args):
        profile = os.path.join(tmp, 'profile-%d' % len(os.listdir(tmp)))
        os.mkdir(profile)
        url = 'http://%s:%d/docs' % (harness.HOST, self.daemon.port)
        argv = [CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
                '--no-first-run', '--disable-background-networking',
                '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage',
                '--hide-scrollbars', '--user-data-dir=' + profile,
                # Nothing but the daemon can be reached: any other name fails.
                '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE %s' % harness.HOST,
                '--enable-logging=stderr', '--v=0',
                # Let the page's scripts run to the end before the dump or the shot.
                '--virtual-time-budget=15000'] + list(args) + [url]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=dict(os.environ, HOME=tmp), start_new_session=True)
        try:
            out, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: chromium and children
            proc.communicate()
            self.fail('chromium did not finish in 120 s')
        return out.decode('utf-8', errors='replace'), err.decode('utf-8', errors='replace')

    def test_03_runs_in_chromium(self):
        self.assertTrue(os.access(CHROMIUM, os.X_OK),
                        'no %s: scripts/deps.sh installs chromium' % CHROMIUM)
        tmp = tempfile.mkdtemp(prefix='effmon-docs-')
        self.addCleanup(shutil.rmtree, tmp, True)
        dom, err = self.chromium(tmp, '--dump-dom')
        # The CSP let every script, style and worker run, and was read whole; what it
        # blocks is only Redoc's footer logo from its CDN (an <img>, not needed).
        # (Redoc 2.5 also logs React hydration mismatches, #418/#423, for pages that
        # build-docs prerenders, and then renders on the client: a known upstream bug,
        # not checked here; the blob: link below shows the client rendering ran.)
        console = [l for l in err.splitlines() if ':CONSOLE:' in l]
        csp_lines = [l for l in console if 'Content-Security-Policy' in l
                     or 'Content Security Policy' in l or 'Refused to' in l]
        blocked = [l for l in csp_lines if "Loading the image 'https://" not in l]
        self.assertEqual(blocked, [], '\n'.join(csp_lines))
        # Redoc's script ran in the browser: the spec download link is a blob: URL it
        # makes there (the prerendered page has none).
        served = self.get().body.decode('utf-8')
        self.assertNotIn('href="blob:', served)
        self.assertRegex(dom, r'href="blob:http://%s:%d/' % (re.escape(harness.HOST),
                                                           self.daemon.port), dom[:2000])
        summaries = operation_summaries()
        self.assertGreater(len(summaries), 40)
        missing = [s for s in summaries
                   if s.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')
                   not in dom]
        self.assertEqual(missing, [], 'operation summaries not rendered')
        png = os.path.join(tmp, 'docs.png')
        self.chromium(tmp, '--screenshot=' + png, '--window-size=%d,%d' % (SHOT_W, SHOT_H))
        self.assertTrue(os.path.exists(png), 'no screenshot')
        w, h, colours = png_check(png, SHOT_W, SHOT_H)
        self.assertGreater(colours, 1, 'the screenshot is blank')
        keep = os.path.join(os.path.dirname(os.path.abspath(harness.EFFMOND_SOURCE)), 'meson-logs')
        if os.path.isdir(keep):
            shutil.copy(png, os.path.join(keep, 'docs.png'))
            with open(os.path.join(keep, 'docs-dom.html'), 'w', encoding='utf-8') as f:
                f.write(dom)
            png = os.path.join(keep, 'docs.png')
        print('\ndocs screenshot: %s (%dx%d, %d colours in the head)' % (png, w, h, colours))


if __name__ == '__main__':
    harness.main()
