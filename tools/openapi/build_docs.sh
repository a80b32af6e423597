#!/usr/bin/env bash
# build_docs.sh OUT.html — the API reference served at GET /docs: Redocly's
# build-docs (the @redocly/cli pinned in this folder, installed with `npm ci`
# on first use, as tests/contract/lint.sh does) renders api/openapi.yaml, and
# inline_docs.py inlines the Redoc bundle the CDN script tag would fetch, so
# the page needs nothing but itself. Run by meson at build time.
set -euo pipefail

out=${1:?usage: build_docs.sh OUT.html}
root=${EFFMON_SOURCE_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
tools=$root/tools/openapi
redocly=$tools/node_modules/.bin/redocly
doc=$root/api/openapi.yaml

export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1

fail() {
    echo "build_docs.sh: $*" >&2
    echo "build_docs.sh: GET /docs is built from api/openapi.yaml with @redocly/cli (npm);" \
        "install Node and npm (scripts/deps.sh does) and make the npm registry reachable" >&2
    exit 1
}

pinned=$(sed -n 's/^ *"@redocly\/cli": *"\([^"]*\)".*/\1/p' "$tools/package.json")
[[ -n $pinned ]] || fail "no @redocly/cli pin in $tools/package.json"
command -v node >/dev/null 2>&1 || fail "node not found"

# One installer at a time: two build dirs (or the linter) may start together.
exec 9>"$tools/.npm-install.lock"
flock -w 600 9 || fail "timed out waiting for another npm ci in $tools"
installed=
if [[ -x $redocly ]]; then
    installed=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' \
        "$tools/node_modules/@redocly/cli/package.json" 2>/dev/null | head -n1)
fi
if [[ $installed != "$pinned" ]]; then
    command -v npm >/dev/null 2>&1 || fail "npm not found; cannot install @redocly/cli $pinned"
    echo "build_docs.sh: installing @redocly/cli $pinned into $tools/node_modules" >&2
    npm ci --prefix "$tools" --no-audit --no-fund --loglevel=error >&2 ||
        fail "npm ci in $tools failed (see npm's message above)"
fi
flock -u 9

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Config: the linter's redocly.yaml (telemetry off); lint findings are the
# contract tests' business, not the build's.
"$redocly" build-docs --config "$tools/redocly.yaml" --lint-config off --disableGoogleFont \
    --title "effmon API" -o "$tmp/docs.html" "$doc" >"$tmp/log" 2>&1 ||
    { cat "$tmp/log" >&2; fail "redocly build-docs failed"; }
/usr/bin/python3 "$tools/inline_docs.py" "$tmp/docs.html" \
    "$tools/node_modules/redoc/bundles/redoc.standalone.js" "$out"
