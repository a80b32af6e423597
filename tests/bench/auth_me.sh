#!/usr/bin/env bash
# auth_me.sh — GET /api/v1/auth/me on effmond against a minimal libmicrohttpd
# server answering a fixed string, in the same run, with wrk (bounded: 10 s
# each). Starts its own PostgreSQL cluster under /tmp and stops everything it
# started. usage: tests/bench/auth_me.sh [build-dir]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
work=$(mktemp -d /tmp/effmon-bench-XXXXXX)
. "$root/tests/bench/cluster.sh"
cluster_start
"$build/effmond" migrate 2>/dev/null
echo bench-password | "$build/effmond" create-user --login bench --role admin --password-stdin >/dev/null

hport=$(port); eport=$(port)
"$build/tests/bench/bench-hello" "$hport" 2 & pids+=($!)
EFFMON_JWT_SECRET=$(head -c 48 /dev/urandom | base64 -w0) EFFMON_LISTEN=127.0.0.1:$eport \
  EFFMON_THREADS=2 EFFMON_LOG_LEVEL=warning "$build/effmond" serve 2>"$work/effmond.log" & pids+=($!)
sleep 1
token=$(curl -s "http://127.0.0.1:$eport/api/v1/auth/token" -H 'Content-Type: application/json' \
  -d '{"login":"bench","password":"bench-password"}' | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

echo "== minimal libmicrohttpd, fixed string"
wrk -t2 -c32 -d10s --latency "http://127.0.0.1:$hport/" | grep -E 'Requests/sec|99%|50%|Non-2xx'
echo "== effmond GET /api/v1/auth/me (HS256 + one prepared SELECT + jansson)"
wrk -t2 -c32 -d10s --latency -H "Authorization: Bearer $token" "http://127.0.0.1:$eport/api/v1/auth/me" |
  grep -E 'Requests/sec|99%|50%|Non-2xx'
