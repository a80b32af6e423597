#!/usr/bin/env bash
# import.sh — bulk import throughput: a 1 000 000-row CSV (25 000 schools x 40
# regional_import indicators of one open campaign) imported through effmond
# (POST /campaigns/{id}/imports: parse, COPY to staging, set-wise checks,
# upsert, history, audit, rescore), against a plain COPY of the same file into
# a bare table on the same cluster, and against a COPY of the same rows (as ids)
# into a table shaped like submission_values with its primary key and index:
# the honest limit of a write of that many values. Prints values/s and the ratios.
# FRESH=1 leaves the world never analysed (a fresh database before autovacuum's
# first visit), the case where a rescore's plans have no statistics to go on.
# Starts its own PostgreSQL cluster under /tmp and stops everything it started;
# every step is bounded by timeout(1). Not part of `meson test`.
# usage: tests/bench/import.sh [build-dir] [organizations] [indicators]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
orgs=${2:-25000}
inds=${3:-40}
rows=$((orgs * inds))
work=$(mktemp -d /tmp/effmon-bench-import-XXXXXX)
. "$root/tests/bench/cluster.sh"
now() { date +%s.%N; }

cluster_start shared_buffers=256MB max_wal_size=4GB
timeout 120 "$build/effmond" migrate 2>/dev/null
echo bench-password | timeout 60 "$build/effmond" create-user --login bench --role admin \
  --password-stdin >/dev/null

echo "== world: $orgs schools, $inds regional_import indicators, one open campaign"
pg -d effmon <<SQL
INSERT INTO regions (code, name) VALUES ('52', 'Bench region');
INSERT INTO municipalities (region_id, name, oktmo) SELECT id, 'Bench town', '22700000' FROM regions;
INSERT INTO organizations (municipality_id, region_id, full_name, short_name, inn, kind, settlement)
SELECT m.id, m.region_id, 'School ' || g, 'School ' || g,
       p || ((2 * substr(p, 1, 1)::int + 4 * substr(p, 2, 1)::int + 10 * substr(p, 3, 1)::int +
              3 * substr(p, 4, 1)::int + 5 * substr(p, 5, 1)::int + 9 * substr(p, 6, 1)::int +
              4 * substr(p, 7, 1)::int + 6 * substr(p, 8, 1)::int + 8 * substr(p, 9, 1)::int)
             % 11 % 10)::text, 'school', 'urban'
FROM municipalities m, (SELECT g, '52' || lpad(g::text, 7, '0') AS p
                        FROM generate_series(1, $orgs) g) x;
INSERT INTO campaigns (region_id, year, title, opens_at, closes_at, status)
SELECT id, 2024, 'Bench 2024', '2024-01-01', '2030-01-01', 'open' FROM regions;
INSERT INTO indicators (campaign_id, code, name, direction_id, value_type, min_value, max_value,
                        source, weights, position)
SELECT c.id, 'X' || g, 'Indicator ' || g, d.id, 'number', 0, 1000, 'regional_import',
       '{"school": 1}', g
FROM campaigns c, generate_series(1, $inds) g
JOIN directions d ON d.position = 1 + g % 10;
INSERT INTO submissions (campaign_id, organization_id, region_id, municipality_id, kind)
SELECT c.id, o.id, o.region_id, o.municipality_id, o.kind FROM campaigns c, organizations o;
SELECT em_rescore_campaign(id) FROM campaigns;
$([ "${FRESH:-0}" = 1 ] && echo '-- FRESH=1: no ANALYZE' || echo 'ANALYZE;')
SQL
campaign=$(pg -d effmon -tAc "SELECT id FROM campaigns")

echo "== file: $rows rows"
pg -d effmon -c "\\copy (SELECT o.inn AS organization_inn, i.code AS indicator_code, \
  round((random() * 1000)::numeric, 2) AS value FROM organizations o CROSS JOIN indicators i \
  ORDER BY o.id, i.position) TO '$work/import.csv' WITH (FORMAT csv, HEADER)"
ls -l "$work/import.csv" | awk '{printf "%d bytes\n", $5}'

eport=$(port)
EFFMON_JWT_SECRET=$(head -c 48 /dev/urandom | base64 -w0) EFFMON_LISTEN=127.0.0.1:$eport \
  EFFMON_THREADS=2 EFFMON_HTTP_TIMEOUT=600 "$build/effmond" serve 2>"$work/effmond.log" & pids+=($!)
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$eport/healthz" >/dev/null && break; sleep 0.1; done
token=$(curl -sf "http://127.0.0.1:$eport/api/v1/auth/token" -H 'Content-Type: application/json' \
  -d '{"login":"bench","password":"bench-password"}' | jq -r .access_token)

echo "== plain COPY of the file into a bare table (psql \\copy)"
pg -d effmon -c "CREATE TABLE bare (organization_inn text, indicator_code text, value text)"
t0=$(now)
pg -d effmon -c "\\copy bare FROM '$work/import.csv' WITH (FORMAT csv, HEADER)"
t1=$(now)
copy_s=$(echo "$t1 - $t0" | bc -l)

echo "== COPY of the same rows into a table shaped like submission_values, with its indexes"
pg -d effmon -c "\\copy (SELECT s.id, i.id, b.value::numeric FROM bare b \
  JOIN organizations o ON o.inn = b.organization_inn JOIN submissions s ON s.organization_id = o.id \
  JOIN indicators i ON i.code = b.indicator_code AND i.campaign_id = s.campaign_id) \
  TO '$work/shaped.copy'"
pg -d effmon -c "CREATE TABLE shaped (LIKE submission_values INCLUDING DEFAULTS INCLUDING \
  CONSTRAINTS INCLUDING INDEXES)"
t0=$(now)
pg -d effmon -c "\\copy shaped (submission_id, indicator_id, value) FROM '$work/shaped.copy'"
t1=$(now)
shaped_s=$(echo "$t1 - $t0" | bc -l)

echo "== effmond import (POST /api/v1/campaigns/$campaign/imports, text/csv)"
t0=$(now)
code=$(timeout 600 curl -s -o "$work/answer.json" -w '%{http_code}' \
  -H "Authorization: Bearer $token" -H 'Content-Type: text/csv' \
  --data-binary "@$work/import.csv" "http://127.0.0.1:$eport/api/v1/campaigns/$campaign/imports")
t1=$(now)
import_s=$(echo "$t1 - $t0" | bc -l)
if [ "$code" != 201 ]; then
  echo "import answered $code:"; head -c 2000 "$work/answer.json"; echo; tail -5 "$work/effmond.log"
  exit 1
fi
jq -c . "$work/answer.json"

echo "== the same file again (every value unchanged)"
t0=$(now)
code=$(timeout 600 curl -s -o "$work/answer2.json" -w '%{http_code}' \
  -H "Authorization: Bearer $token" -H 'Content-Type: text/csv' \
  --data-binary "@$work/import.csv" "http://127.0.0.1:$eport/api/v1/campaigns/$campaign/imports")
t1=$(now)
again_s=$(echo "$t1 - $t0" | bc -l)
jq -c '{values_written, values_unchanged}' "$work/answer2.json"

printf '\n%-34s %8.2f s %12.0f values/s\n' "plain COPY into a bare table" "$copy_s" \
  "$(echo "$rows / $copy_s" | bc -l)"
printf '%-34s %8.2f s %12.0f values/s\n' "COPY into a submission_values shape" "$shaped_s" \
  "$(echo "$rows / $shaped_s" | bc -l)"
printf '%-34s %8.2f s %12.0f values/s\n' "effmond import (new values)" "$import_s" \
  "$(echo "$rows / $import_s" | bc -l)"
printf '%-34s %8.2f s %12.0f values/s\n' "effmond import (unchanged)" "$again_s" \
  "$(echo "$rows / $again_s" | bc -l)"
printf 'ratio import / COPY: %.2f (new values), %.2f (unchanged)\n' \
  "$(echo "$copy_s / $import_s" | bc -l)" "$(echo "$copy_s / $again_s" | bc -l)"
printf 'ratio import / shaped COPY: %.2f (new values)\n' "$(echo "$shaped_s / $import_s" | bc -l)"
