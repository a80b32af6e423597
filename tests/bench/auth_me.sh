#!/usr/bin/env bash
# auth_me.sh — GET /api/v1/auth/me on effmond against a minimal libmicrohttpd
# server answering a fixed string, in the same run, with wrk (bounded: 10 s
# each). Starts its own PostgreSQL cluster under /tmp and stops everything it
# started. usage: tests/bench/auth_me.sh [build-dir]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
bin=$(pg_config --bindir)
work=$(mktemp -d /tmp/effmon-bench-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  runuser -u postgres -- "$bin/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

chown postgres "$work"
pgport=$(port)
runuser -u postgres -- "$bin/initdb" -D "$work/data" -A trust -U postgres --no-sync >/dev/null
runuser -u postgres -- "$bin/pg_ctl" -D "$work/data" -l "$work/pg.log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $pgport -c unix_socket_directories=$work -c fsync=off" start >/dev/null
psql -h 127.0.0.1 -p "$pgport" -U postgres -qc "CREATE ROLE effmon LOGIN" -c "CREATE DATABASE effmon OWNER effmon"
export EFFMON_DATABASE_URL="host=127.0.0.1 port=$pgport dbname=effmon user=effmon"
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
