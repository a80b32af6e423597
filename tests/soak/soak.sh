#!/usr/bin/env bash
# soak.sh — `make soak`: an optimised effmond (build-soak/) on a private
# PostgreSQL with the demo data, SOAK_REQUESTS (1 M) mixed requests with wrk
# (tests/soak/mix.lua: reads with tokens, 304s, PATCHes with If-Match, logins)
# bounded by SOAK_MAX_SECONDS. Fails when the daemon's RSS grows more than 10 %
# from after the warm-up to the end, on any unexpected status or socket error.
# Everything it starts is stopped by PID on exit. Not part of `make test` / CI.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
REQUESTS=${SOAK_REQUESTS:-1000000}
WARMUP=${SOAK_WARMUP:-50000}
MAX_SECONDS=${SOAK_MAX_SECONDS:-1800}
CONNECTIONS=${SOAK_CONNECTIONS:-32}
THREADS=${SOAK_DAEMON_THREADS:-2}   # effmond's workers
WRK_THREADS=2
MAX_GROWTH=${SOAK_MAX_GROWTH:-10}   # percent
BUILD=${SOAK_BUILD:-build-soak}
work=$(mktemp -d /tmp/effmon-soak-XXXXXX)
PG_TIMEOUT=120
. tests/bench/cluster.sh
say() { printf '== %s\n' "$*" >&2; }
fail() { printf 'soak: FAILED: %s\n' "$*" >&2; exit 1; }
rss_kib() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status"; }

say "build $BUILD (release, b_ndebug, no test hooks)"
[ -f "$BUILD/build.ninja" ] || timeout 300 meson setup "$BUILD" -Dbuildtype=release \
  -Db_ndebug=true -Dtest_hooks=false >/dev/null
timeout 900 meson compile -C "$BUILD" effmond >/dev/null

say "private cluster, schema, demo data"
cluster_start shared_buffers=128MB
timeout 120 "$BUILD/effmond" migrate 2>"$work/migrate.log" || { cat "$work/migrate.log" >&2; exit 1; }
timeout 300 "$BUILD/effmond" load-demo >"$work/demo.txt" 2>&1 || { cat "$work/demo.txt" >&2; exit 1; }
password=$(awk '$1 == "demo-regional" { print $3 }' "$work/demo.txt")
[ -n "$password" ] || fail "load-demo printed no password for demo-regional"

eport=$(port)
base=http://127.0.0.1:$eport
EFFMON_JWT_SECRET=$(head -c 48 /dev/urandom | base64 -w0) EFFMON_LISTEN=127.0.0.1:$eport \
  EFFMON_THREADS=$THREADS EFFMON_TOKEN_TTL=86400 EFFMON_LOG_LEVEL=warning \
  "$BUILD/effmond" serve 2>"$work/effmond.log" & epid=$!; pids+=("$epid")
for _ in $(seq 100); do curl -sf "$base/readyz" >/dev/null && break; sleep 0.1; done
curl -sf "$base/readyz" >/dev/null || fail "effmond not ready: $(tail -5 "$work/effmond.log")"

# a token, the ids the reads draw from, one organization per wrk thread to write
login_body=$(printf '{"login":"demo-regional","password":"%s"}' "$password")
token=$(curl -sf -H 'Content-Type: application/json' -d "$login_body" "$base/api/v1/auth/token" |
  /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
api() { curl -sf -H "Authorization: Bearer $token" "$base/api/v1/$1"; }
ids() { /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print("\n".join(str(x["id"]) for x in d["items"]))'; }
api 'organizations?limit=500' | ids >"$work/orgs.txt"
api 'managers?limit=500' | ids >"$work/managers.txt"
campaign=$(api 'campaigns?limit=50' | /usr/bin/python3 -c 'import json,sys
print([c["id"] for c in json.load(sys.stdin)["items"] if c["status"] == "published"][0])')
agg="aggregates?campaign=$campaign&group_by=municipality"
etag() { curl -sf -o /dev/null -D - -H "Authorization: Bearer $token" "$base/api/v1/$1" |
  tr -d '\r' | awk 'tolower($1) == "etag:" { print $2 }'; }
agg_etag=$(etag "$agg")
: >"$work/write.txt"
for i in $(seq "$WRK_THREADS"); do
  org=$(sed -n "${i}p" "$work/orgs.txt")
  echo "$org $(etag "organizations/$org")" >>"$work/write.txt"
done
for probe in "organizations/$(head -1 "$work/orgs.txt")" "organizations?limit=20&sort=name" \
  "managers/$(head -1 "$work/managers.txt")" "campaigns/$campaign/scores?limit=50" "$agg" \
  "auth/me" "submissions?campaign_id=$campaign&limit=20" roadmaps; do
  code=$(curl -s -o "$work/probe.json" -w '%{http_code}' -H "Authorization: Bearer $token" \
    "$base/api/v1/$probe")
  [ "$code" = 200 ] || fail "probe $probe answered $code: $(head -c 300 "$work/probe.json")"
done
say "data: $(wc -l <"$work/orgs.txt") organizations, $(wc -l <"$work/managers.txt") managers, \
campaign $campaign; writes to organizations $(cut -d' ' -f1 "$work/write.txt" | tr '\n' ' ')"

export SOAK_ORGS=$work/orgs.txt SOAK_MANAGERS=$work/managers.txt SOAK_TOKEN=$token \
  SOAK_CAMPAIGN=$campaign SOAK_AGG_ETAG=$agg_etag SOAK_LOGIN=demo-regional \
  SOAK_PASSWORD=$password SOAK_THREADS=$WRK_THREADS SOAK_WRITE_ORGS=$work/write.txt
# One wrk run of n requests, at most $2 seconds; output in $work/wrk-$3.txt.
# wrk sleeps out -d even when every thread has stopped at its quota: each
# thread notes that in SOAK_DONE_FILE, and SIGINT makes wrk report at once.
mix() {
  local wpid deadline=$((SECONDS + $2 + 30))
  : >"$work/done-$3"
  SOAK_DONE_FILE=$work/done-$3 SOAK_REQUESTS=$1 wrk -t"$WRK_THREADS" -c"$CONNECTIONS" \
    -d"$2s" --timeout 10s --latency -s tests/soak/mix.lua "$base" >"$work/wrk-$3.txt" 2>&1 &
  wpid=$!; pids+=("$wpid")
  while kill -0 "$wpid" 2>/dev/null && [ "$(wc -l <"$work/done-$3")" -lt "$WRK_THREADS" ] &&
    [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
  kill -INT "$wpid" 2>/dev/null || true
  wait "$wpid" || true
  grep -q 'requests in' "$work/wrk-$3.txt" || fail "wrk ($3) failed: $(tail -5 "$work/wrk-$3.txt")"
  # each run's PATCHes start from the ETag the previous one left
  for i in $(seq "$WRK_THREADS"); do
    org=$(sed -n "${i}p" "$work/write.txt" | cut -d' ' -f1)
    echo "$org $(etag "organizations/$org")"
  done >"$work/write.next" && mv "$work/write.next" "$work/write.txt"
}
# requests done, unexpected statuses and socket errors of one run
check() {
  local f=$work/wrk-$1.txt done bad sock
  done=$(awk '/requests in/ { print $1 }' "$f")
  sock=$(awk -F'[ ,]+' '/Socket errors:/ { print $4 + $6 + $8 + $10 }' "$f")
  bad=$(awk '$1 == "soak-status" && $2 !~ /^(200|304|patch-200)$/ { printf "%s x %s ", $3, $2 }' "$f")
  [ -z "${sock:-}" ] || [ "$sock" = 0 ] || fail "$1: socket errors: $(grep 'Socket errors' "$f")"
  [ -z "$bad" ] || fail "$1: unexpected statuses: $bad (see effmond's log: $(tail -3 "$work/effmond.log"))"
  echo "$done"
}

say "warm-up: $WARMUP requests"
mix "$WARMUP" "$MAX_SECONDS" warmup
check warmup >/dev/null
rss_start=$(rss_kib "$epid")
( while kill -0 "$epid" 2>/dev/null; do rss_kib "$epid"; sleep 5; done >"$work/rss.txt" ) &
pids+=("$!")

say "soak: $REQUESTS requests, c=$CONNECTIONS, at most $MAX_SECONDS s"
t0=$(date +%s.%N)
mix "$REQUESTS" "$MAX_SECONDS" soak
secs=$(echo "$(date +%s.%N) - $t0" | bc -l)
rss_end=$(rss_kib "$epid")
kill -0 "$epid" 2>/dev/null || fail "effmond died: $(tail -5 "$work/effmond.log")"
done_n=$(check soak)
awk '$1 == "soak-status" || $1 == "soak-latency" || /Requests\/sec|Socket|Non-2xx/' \
  "$work/wrk-soak.txt" | sed 's/^/  /'
growth=$(awk -v a="$rss_start" -v b="$rss_end" 'BEGIN { printf "%.1f", (b - a) * 100 / a }')
peak=$(sort -n "$work/rss.txt" | tail -1)
printf 'soak: %s requests in %.0f s (%.0f/s), RSS %.1f MiB after warm-up, %.1f MiB at the end (%s %%), peak sample %.1f MiB\n' \
  "$done_n" "$secs" "$(echo "$done_n / $secs" | bc -l)" "$(echo "$rss_start / 1024" | bc -l)" \
  "$(echo "$rss_end / 1024" | bc -l)" "$growth" "$(echo "${peak:-0} / 1024" | bc -l)"
[ "$done_n" -ge "$REQUESTS" ] || fail "only $done_n of $REQUESTS requests within $MAX_SECONDS s"
awk -v g="$growth" -v m="$MAX_GROWTH" 'BEGIN { exit !(g <= m) }' ||
  fail "RSS grew $growth % (> $MAX_GROWTH %)"
if grep -iE 'error|crit' "$work/effmond.log" | grep -q .; then
  fail "effmond logged errors: $(grep -iE 'error|crit' "$work/effmond.log" | tail -3)"
fi
echo "soak: OK"
