#!/usr/bin/env bash
# Lints api/openapi.yaml with the Redocly CLI pinned in tools/openapi
# (package.json + package-lock.json), installing it there with `npm ci` when
# node_modules is missing or holds another version. Fails on any lint error;
# warnings are printed but do not fail (the baseline is zero of them).
set -euo pipefail

root=${EFFMON_SOURCE_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
tools=$root/tools/openapi
redocly=$tools/node_modules/.bin/redocly
doc=$root/api/openapi.yaml

# No telemetry, no update checks against the network.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1

pinned=$(sed -n 's/^ *"@redocly\/cli": *"\([^"]*\)".*/\1/p' "$tools/package.json")
if [[ -z $pinned ]]; then
    echo "lint.sh: no @redocly/cli pin in $tools/package.json" >&2
    exit 1
fi

installed=
if [[ -x $redocly ]]; then
    installed=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' \
        "$tools/node_modules/@redocly/cli/package.json" 2>/dev/null | head -n1)
fi
if [[ $installed != "$pinned" ]]; then
    if ! command -v npm >/dev/null 2>&1; then
        echo "lint.sh: npm not found; cannot install @redocly/cli $pinned into $tools" >&2
        exit 1
    fi
    echo "lint.sh: installing @redocly/cli $pinned into $tools/node_modules" >&2
    npm ci --prefix "$tools" --no-audit --no-fund --loglevel=error >&2
fi

# Redocly exits non-zero when there is at least one error-level problem.
exec "$redocly" lint --config "$tools/redocly.yaml" --format=codeframe "$doc"
