#!/usr/bin/env bash
# bench.sh — `make bench`: builds effmond optimised (build-bench/), starts a
# private PostgreSQL under /tmp, loads the generated dataset at SCALE, runs each
# HTTP scenario with wrk for DURATION seconds against effmond and the ceiling
# program, then the import, rescoring and RSS-flatness measurements. One line
# per scenario, then each target of DESIGN §7's national size with its figure
# and met / not met. Every step is bounded by timeout(1); everything it started
# is stopped by PID on exit. usage: SCALE=0.01 DURATION=10 tests/bench/bench.sh
# ONLY=name,name runs those HTTP scenarios (and the ceiling) alone, without the
# RSS, login, rescoring and import steps (tests/bench/scaling.sh uses it).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
SCALE=${SCALE:-0.01}
DURATION=${DURATION:-10}
THREADS=${THREADS:-2}          # effmond's and the ceiling's pool threads
BUILD=${BENCH_BUILD:-build-bench}
RSS_SECONDS=${RSS_SECONDS:-$(awk -v s="$SCALE" 'BEGIN { print (s >= 0.5 ? 120 : 30) }')}
work=$(mktemp -d /tmp/effmon-bench-XXXXXX)
. tests/bench/cluster.sh
say() { printf '== %s\n' "$*" >&2; }
t_start=$(date +%s)

# --- build ------------------------------------------------------------------
say "build $BUILD (release, b_ndebug, no test hooks)"
[ -f "$BUILD/build.ninja" ] || timeout 300 meson setup "$BUILD" -Dbuildtype=release \
  -Db_ndebug=true -Dtest_hooks=false >/dev/null
timeout 900 meson compile -C "$BUILD" effmond tests/bench/bench-ceiling >/dev/null

# --- cluster, schema, dataset --------------------------------------------------
cluster_start shared_buffers=256MB max_wal_size=4GB
dburl=$EFFMON_DATABASE_URL
timeout 120 "$BUILD/effmond" migrate 2>/dev/null

[ -f tests/bench/gen ] || { echo "bench: tests/bench/gen (the dataset generator) is missing" >&2; exit 1; }
say "dataset: tests/bench/gen --scale $SCALE --seed 1"
t0=$(date +%s.%N)
timeout 3600 /usr/bin/python3 tests/bench/gen --scale "$SCALE" --seed 1 --database-url "$dburl" \
  --out "$work/ids.json" >"$work/gen.log" 2>&1 || { tail -20 "$work/gen.log" >&2; exit 1; }
load_s=$(echo "$(date +%s.%N) - $t0" | bc -l)
dataset="tests/bench/gen --scale $SCALE --seed 1"
# A vacuumed database, as one in service is: otherwise autovacuum works on the
# freshly loaded tables during the scenarios and their tails are its.
say "VACUUM (ANALYZE)"
t0=$(date +%s.%N)
PG_TIMEOUT=3600 pg -d effmon -qc 'VACUUM (ANALYZE)'
vacuum_s=$(echo "$(date +%s.%N) - $t0" | bc -l)

# --- servers --------------------------------------------------------------------
secret=$(head -c 48 /dev/urandom | base64 -w0)
eport=$(port); cport=$(port)
EFFMON_JWT_SECRET=$secret EFFMON_LISTEN=127.0.0.1:$eport EFFMON_THREADS=$THREADS \
  EFFMON_LOG_LEVEL=warning "$BUILD/effmond" serve 2>"$work/effmond.log" & epid=$!; pids+=("$epid")
EFFMON_JWT_SECRET=$secret "$BUILD/tests/bench/bench-ceiling" "$cport" "$THREADS" "$dburl" \
  2>"$work/ceiling.log" & cpid=$!; pids+=("$cpid")
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$eport/readyz" >/dev/null && break; sleep 0.1; done

# From gen's JSON: the id files of the Lua scripts, and shell variables (ids,
# the login, tokens minted with the daemon's secret from each user's claims).
EFFMON_JWT_SECRET=$secret /usr/bin/python3 - "$work" >"$work/vars.sh" <<'PY'
import json, os, shlex, sys, time, uuid, jwt
work = sys.argv[1]
doc = json.load(open(os.path.join(work, "ids.json"), encoding="utf-8"))
now = int(time.time())
def token(claims):
    c = dict(claims, iss="effmon", aud="effmon", iat=now, exp=now + 3600, jti=uuid.uuid4().hex)
    return jwt.encode(c, os.environ["EFFMON_JWT_SECRET"], algorithm="HS256")
def out(name, value):
    print(f"{name}={shlex.quote(str(value))}")
with open(os.path.join(work, "orgs.txt"), "w") as f:
    f.write("".join(f"{i}\n" for i in doc["organization_ids"]))
region = doc["region"]
w = doc["writes"]["regional"]
kinds = {"integer": "i", "boolean": "b"}
inds = ",".join(f"{i['code']}:{i.get('min_value') or 0}:{i.get('max_value') or 100}:"
                f"{kinds.get(i['value_type'], 'n')}" for i in w["indicators"])
with open(os.path.join(work, "subs.txt"), "w") as f:
    for s in w["submissions"]:
        f.write(f"{s['id']} {s['version']} {inds}\n")
users = doc["users"]
out("counts", ", ".join(f"{v} {k}" for k, v in doc["counts"].items()))
out("region", region["id"])
out("munis", len(region["municipality_ids"]))
out("campaign", region["published_campaign_ids"][0])
out("open_campaign", region["open_campaign_id"])
out("admin_token", token(users["admin"]["claims"]))
out("regional_token", token(users["regional_operator"]["claims"]))
out("writer_token", token(users[w["role"]]["claims"] if w["role"] in users else
                          {"sub": str(w["user_id"]), "role": w["role"], "region_id": region["id"]}))
out("login", users["regional_operator"]["login"])
out("password", users["regional_operator"]["password"])
PY
. "$work/vars.sh"
say "data: $counts; region $region ($munis municipalities), campaign $campaign, \
$(wc -l <"$work/subs.txt") writable submissions; loaded in $(printf %.1f "$load_s") s, \
vacuumed in $(printf %.1f "$vacuum_s") s"
base=http://127.0.0.1:$eport
agg="/api/v1/aggregates?campaign=$campaign&group_by=municipality"
etag=$(curl -sf -o /dev/null -D - -H "Authorization: Bearer $regional_token" "$base$agg" |
  tr -d '\r' | awk 'tolower($1) == "etag:" { print $2 }')
for probe in "$base/api/v1/organizations/$(head -1 "$work/orgs.txt") $admin_token" \
  "http://127.0.0.1:$cport/api/v1/organizations/$(head -1 "$work/orgs.txt") $admin_token" \
  "$base$agg $regional_token" "$base/api/v1/campaigns/$campaign/scores?limit=50 $regional_token"; do
  set -- $probe
  code=$(curl -s -o "$work/probe.json" -w '%{http_code}' -H "Authorization: Bearer $2" "$1")
  [ "$code" = 200 ] || { echo "probe $1 answered $code: $(head -c 300 "$work/probe.json")"; exit 1; }
done

# --- scenarios ------------------------------------------------------------------
rss() { awk -v k="$2:" '$1 == k { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
ms() { awk -v v="$1" 'BEGIN { n = v + 0; u = v; sub(/^[0-9.]+/, "", u);
  if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000;
  printf "%.2f", n }'; }
declare -A RPS P99
# Is scenario $1 to run (ONLY unset, or naming it)?
want() { [ -z "${ONLY:-}" ] || [[ ",$ONLY,ceiling," == *",$1,"* ]]; }
printf '%-22s %4s %9s %9s %9s %12s %9s %8s  %s\n' scenario c rps p50_ms p99_ms "errors" \
  peak_MiB rss_MiB ratio
# name concurrency pid ratio-base wrk-args... : one wrk run, one line
run() {
  local name=$1 c=$2 pid=$3 base_name=$4 out rps p50 p99 non2xx sock ratio
  shift 4
  want "$name" || return 0
  echo 5 >"/proc/$pid/clear_refs" 2>/dev/null || true # VmHWM: this scenario's peak
  out=$(timeout $((DURATION + 30)) wrk -t2 -c"$c" -d"${DURATION}s" --timeout 10s --latency "$@" 2>&1) ||
    { echo "$name: wrk failed: $out" >&2; return 1; }
  echo "$out" >"$work/wrk-$name.txt"
  rps=$(echo "$out" | awk '/^Requests\/sec:/ { print $2 }')
  p50=$(ms "$(echo "$out" | awk '$1 == "50%" { print $2 }')")
  p99=$(ms "$(echo "$out" | awk '$1 == "99%" { print $2 }')")
  non2xx=$(echo "$out" | awk '/Non-2xx or 3xx responses:/ { print $NF }')
  sock=$(echo "$out" | awk -F'[ ,]+' '/Socket errors:/ { print $4 + $6 + $8 + $10 }')
  RPS[$name]=$rps
  P99[$name]=$p99
  ratio=-
  if [ "$base_name" != - ] && [ -n "${RPS[$base_name]:-}" ]; then
    ratio=$(awk -v a="$rps" -v b="${RPS[$base_name]}" -v n="$base_name" \
      'BEGIN { printf "%.2f x %s", a / b, n }')
  fi
  printf '%-22s %4s %9.0f %9s %9s %12s %9s %8s  %s\n' "$name" "$c" "$rps" "$p50" "$p99" \
    "${non2xx:-0}+${sock:-0}" "$(rss "$pid" VmHWM)" "$(rss "$pid" VmRSS)" "$ratio"
}
export BENCH_THREADS=2
A="Authorization: Bearer $admin_token"; R="Authorization: Bearer $regional_token"
run healthz 32 "$epid" - "$base/healthz"
BENCH_IDS=$work/orgs.txt BENCH_PATH=/api/v1/organizations/%s \
  run ceiling 32 "$cpid" - -s tests/bench/ids.lua -H "$A" "http://127.0.0.1:$cport"
BENCH_IDS=$work/orgs.txt BENCH_PATH=/api/v1/organizations/%s \
  run organization 32 "$epid" ceiling -s tests/bench/ids.lua -H "$A" "$base"
run organizations_list 32 "$epid" ceiling -H "$A" \
  "$base/api/v1/organizations?region_id=$region&kind=school&status=active&sort=name&limit=50"
run managers_list 32 "$epid" ceiling -H "$A" \
  "$base/api/v1/managers?region_id=$region&sort=name&limit=50"
run submissions_list 32 "$epid" ceiling -H "$R" \
  "$base/api/v1/submissions?campaign_id=$campaign&status=approved&limit=50"
run aggregates 32 "$epid" ceiling -H "$R" "$base$agg"
run aggregates_304 32 "$epid" healthz -H "$R" -H "If-None-Match: $etag" "$base$agg"
run scores 32 "$epid" ceiling -H "$R" "$base/api/v1/campaigns/$campaign/scores?limit=50"
if [ -s "$work/subs.txt" ]; then
  BENCH_SUBS=$work/subs.txt run put_values 8 "$epid" ceiling -s tests/bench/put_values.lua \
    -H "Authorization: Bearer $writer_token" "$base"
else
  echo "put_values: gen's JSON names no writable submission"
fi
# The first read of the aggregates after a write: 30 rounds of one change of an
# approved submission's value (between its indicator's bounds, so the total and
# the campaign's stamp move) and em_rescore, then one timed GET.
after_write() {
  local sub ind i t times=()
  read -r sub ind < <(pg -d effmon -tAF' ' -c "SELECT v.submission_id, v.indicator_id \
    FROM submission_values v JOIN submissions s ON s.id = v.submission_id \
    JOIN indicators i ON i.id = v.indicator_id WHERE s.campaign_id = $campaign \
    AND s.status = 'approved' AND i.value_type = 'number' \
    AND coalesce((i.weights ->> s.kind)::numeric, 0) > 0 ORDER BY 1, 2 LIMIT 1")
  [ -n "$sub" ] || { echo "aggregates_after_write: no approved numeric value"; return 0; }
  for i in $(seq 30); do
    pg -d effmon -qc "UPDATE submission_values v SET value = CASE WHEN v.value <= \
      (i.min_value + i.max_value) / 2 THEN i.max_value ELSE i.min_value END FROM indicators i \
      WHERE i.id = v.indicator_id AND v.submission_id = $sub AND v.indicator_id = $ind; \
      SELECT em_rescore(ARRAY[$sub]::bigint[])" >/dev/null
    t=$(curl -s -o /dev/null -w '%{time_total}' -H "$R" "$base$agg")
    times+=("$t")
  done
  P99[aggregates_after_write]=$(printf '%s\n' "${times[@]}" | sort -n |
    awk '{ v[NR] = $1 * 1000 } END { i = int(NR * 0.99 + 0.999); if (i > NR) i = NR;
      printf "%.2f", v[i] }')
  printf '%-22s %4s %9s %9s %9s %12s %9s %8s  %s\n' aggregates_after_write 1 - \
    "$(printf '%s\n' "${times[@]}" | sort -n | awk '{ v[NR] = $1 * 1000 }
      END { printf "%.2f", v[int((NR + 1) / 2)] }')" "${P99[aggregates_after_write]}" \
    "30 rounds" - - -
}
want aggregates_after_write && after_write
if [ -n "${ONLY:-}" ]; then
  kill "$epid" "$cpid" 2>/dev/null || true
  echo "dataset: $dataset: $counts; total $(($(date +%s) - t_start)) s"
  exit 0
fi
# RSS flatness: c=128 on GET /organizations/{id} for RSS_SECONDS, RSS sampled
# every second; the peak is this run's alone.
echo 5 >"/proc/$epid/clear_refs" 2>/dev/null || true
before=$(rss "$epid" VmRSS)
( for _ in $(seq "$RSS_SECONDS"); do sleep 1; rss "$epid" VmRSS; echo; done >"$work/rss.txt" ) &
sampler=$!; pids+=("$sampler")
out=$(BENCH_IDS=$work/orgs.txt BENCH_PATH=/api/v1/organizations/%s timeout $((RSS_SECONDS + 30)) \
  wrk -t2 -c128 -d"${RSS_SECONDS}s" --timeout 10s -s tests/bench/ids.lua -H "$A" "$base" 2>&1)
wait "$sampler" 2>/dev/null || true
after=$(rss "$epid" VmRSS)
printf 'rss_flat c=128: %s requests in %s s, %s; RSS MiB: %s before, %s after, %s, peak %s\n' \
  "$(echo "$out" | awk '/requests in/ { print $1 }')" "$RSS_SECONDS" \
  "$(echo "$out" | awk '/Non-2xx/ { n = $NF } /Socket errors/ { s = $0; sub(/^ +/, "", s) } \
     END { printf "non-2xx %d, %s", n, s ? s : "no socket errors" }')" \
  "$before" "$after" "$(sort -n "$work/rss.txt" | awk 'NF { v[++n] = $1 } \
     END { if (n) printf "%d samples %s..%s", n, v[1], v[n] }')" "$(rss "$epid" VmHWM)"
# Login last: argon2id makes its own memory peak.
BENCH_LOGIN=$login BENCH_PASSWORD=$password run login 8 "$epid" ceiling \
  -s tests/bench/login.lua "$base"

# --- scoring --------------------------------------------------------------------
# Each statement twice in one session: the first pays the session's planning of
# the SQL and PL/pgSQL functions (as a daemon connection does once), the second not.
timing() { pg -d effmon -c '\timing on' -c "$1" -c "$1" | awk '/^Time:/ { t = t (t ? " ms, then " : "") $2 }
  END { print t " ms" }'; }
# The region's published campaign of the HTTP scenarios, and one of its approved submissions.
nsub=$(pg -d effmon -tAc "SELECT count(*) FROM submissions WHERE campaign_id = $campaign")
one=$(pg -d effmon -tAc "SELECT id FROM submissions WHERE campaign_id = $campaign \
  ORDER BY status = 'approved' DESC, id LIMIT 1")
printf 'rescore campaign %s (%s submissions): %s\n' "$campaign" "$nsub" \
  "$(timing "SELECT em_rescore_campaign($campaign)")"
printf 'rescore one submission %s: %s\n' "$one" "$(timing "SELECT em_rescore(ARRAY[$one]::bigint[])")"
kill "$epid" "$cpid" 2>/dev/null || true
grep -E 'ERROR|FATAL|PANIC' "$work/pg.log" | grep -v 'terminating connection' | tail -5 || true
grep -iE 'error|crit' "$work/effmond.log" | tail -5 || true

# --- import ---------------------------------------------------------------------
# import.sh (helper P's) builds its own cluster: SCALE x 25 000 schools x 40 values.
iorgs=$(awk -v s="$SCALE" 'BEGIN { n = int(25000 * s + 0.5); print (n < 100 ? 100 : n) }')
say "import: tests/bench/import.sh $BUILD $iorgs 40"
timeout 1800 bash tests/bench/import.sh "$root/$BUILD" "$iorgs" 40 >"$work/import.log" 2>&1 ||
  { echo "import.sh failed:"; tail -5 "$work/import.log"; }
grep -E 'values/s|ratio' "$work/import.log" | sed 's/^/import: /' || true

# --- targets (DESIGN §7: the national size is SCALE=1) ---------------------------
# name, the figure, the bound, met when the figure is within it.
target() { printf '%-48s %14s %14s  %s\n' "$1" "$2" "$3" "$4"; }
verdict() { awk -v a="$1" -v op="$2" -v b="$3" 'BEGIN { if (a == "" || a == "-") { print "no figure";
  exit } ok = op == "<" ? a + 0 < b + 0 : a + 0 >= b + 0; print ok ? "met" : "not met" }'; }
both() { [ "$1" = met ] && [ "$2" = met ] && echo met || echo "not met"; }
ratio() { awk -v a="${RPS[$1]:-}" -v b="${RPS[$2]:-}" 'BEGIN { if (a == "" || b == "" || b == 0)
  print "-"; else printf "%.2f", a / b }'; }
import_s=$(awk '/^effmond import \(new values\)/ { print $(NF - 3) }' "$work/import.log")
copy_s=$(awk '/^plain COPY into a bare table/ { print $(NF - 3) }' "$work/import.log")
shaped_s=$(awk '/^COPY into a submission_values shape/ { print $(NF - 3) }' "$work/import.log")
ivalues=$((iorgs * 40))
echo
echo "targets at SCALE=$SCALE (they are set for SCALE=1; a figure met at a smaller scale is not met):"
target target figure bound verdict
r=$(ratio organization ceiling)
target "GET /organizations/{id} / ceiling" "$r x" ">= 0.9 x" "$(verdict "$r" '>=' 0.9)"
target "GET /organizations/{id} p99" "${P99[organization]:--} ms" "< 10 ms" \
  "$(verdict "${P99[organization]:-}" '<' 10)"
r=$(ratio organizations_list ceiling)
target "organizations list (sort=name, 50) p99" "${P99[organizations_list]:--} ms" "< 20 ms" \
  "$(verdict "${P99[organizations_list]:-}" '<' 20)"
target "organizations list / ceiling" "$r x" ">= 0.3 x" "$(verdict "$r" '>=' 0.3)"
r=$(ratio scores ceiling)
target "GET /campaigns/{id}/scores?limit=50 p99" "${P99[scores]:--} ms" "< 25 ms" \
  "$(verdict "${P99[scores]:-}" '<' 25)"
target "scores / ceiling" "$r x" ">= 0.25 x" "$(verdict "$r" '>=' 0.25)"
target "aggregates, first read after a write, p99" "${P99[aggregates_after_write]:--} ms" \
  "< 50 ms" "$(verdict "${P99[aggregates_after_write]:-}" '<' 50)"
target "PUT /submissions/{id}/values (10), c=8, p99" "${P99[put_values]:--} ms" "< 25 ms" \
  "$(verdict "${P99[put_values]:-}" '<' 25)"
iv=$( [ "$ivalues" -ge 1000000 ] && verdict "${import_s:-}" '<' 5 || echo "not met (under 1 M values)")
target "import of $ivalues new values" "${import_s:--} s" "< 5 s for 1 M" "$iv"
[ -n "${copy_s:-}" ] && [ -n "${import_s:-}" ] &&
  target "  import / a bare COPY of the same file" "$(awk -v a="$copy_s" -v b="$import_s" \
    'BEGIN { printf "%.2f", a / b }')" - -
[ -n "${shaped_s:-}" ] && [ -n "${import_s:-}" ] &&
  target "  import / a COPY into the submission_values shape" "$(awk -v a="$shaped_s" \
    -v b="$import_s" 'BEGIN { printf "%.2f", a / b }')" - -

echo "dataset: $dataset: $counts; total $(($(date +%s) - t_start)) s"
