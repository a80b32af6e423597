#!/usr/bin/env bash
# simulate.sh — the what-if simulator's time: POST /campaigns/{id}/simulations
# on the newest published campaign of the generated region with the most
# organizations (tests/bench/gen --scale SCALE; at SCALE=1 that region has
# about 6 000), with a catalog change (one indicator excluded, one reweighted)
# and new thresholds, as that region's operator. RUNS requests one after
# another; prints each time and the median. Starts its own PostgreSQL under
# /tmp (cluster.sh) and stops everything it started; every step is bounded by
# timeout(1). Not part of `meson test`.
# With ORGS=N the dataset is instead one region of N organizations (five kinds,
# 20 municipalities), a 40-indicator catalog of every value type and one
# published campaign with every submission approved and 90 % of the values
# filled, made by SQL in seconds (gen's national dataset takes long at the
# scale where one region reaches 6 000).
# usage: SCALE=0.05 RUNS=5 [BENCH_BUILD=build-bench] tests/bench/simulate.sh
#        ORGS=6000 RUNS=5 tests/bench/simulate.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
SCALE=${SCALE:-0.05}
RUNS=${RUNS:-5}
BUILD=${BENCH_BUILD:-build-bench}
work=$(mktemp -d /tmp/effmon-bench-sim-XXXXXX)
. tests/bench/cluster.sh
say() { printf '== %s\n' "$*" >&2; }

[ -f "$BUILD/build.ninja" ] || timeout 300 meson setup "$BUILD" -Dbuildtype=release \
  -Db_ndebug=true -Dtest_hooks=false >/dev/null
timeout 900 meson compile -C "$BUILD" effmond >/dev/null

cluster_start shared_buffers=256MB max_wal_size=4GB
timeout 120 "$BUILD/effmond" migrate 2>/dev/null
if [ -n "${ORGS:-}" ]; then
  say "dataset: one region of $ORGS organizations by SQL"
  pg -d effmon -v orgs="$ORGS" >/dev/null <<'SQL'
INSERT INTO regions (code, name) VALUES ('52', 'Bench region');
INSERT INTO municipalities (region_id, name, oktmo)
SELECT r.id, 'Bench town ' || g, lpad((22700000 + g)::text, 8, '0')
FROM regions r, generate_series(1, 20) g;
INSERT INTO organizations (municipality_id, region_id, full_name, short_name, inn, kind, settlement)
SELECT m.id, m.region_id, 'Org ' || x.g, 'Org ' || x.g,
       p || ((2 * substr(p, 1, 1)::int + 4 * substr(p, 2, 1)::int + 10 * substr(p, 3, 1)::int +
              3 * substr(p, 4, 1)::int + 5 * substr(p, 5, 1)::int + 9 * substr(p, 6, 1)::int +
              4 * substr(p, 7, 1)::int + 6 * substr(p, 8, 1)::int + 8 * substr(p, 9, 1)::int)
             % 11 % 10)::text,
       (ARRAY['school', 'school', 'preschool', 'additional', 'vocational', 'special'])[1 + x.g % 6],
       'urban'
FROM (SELECT g, '52' || lpad(g::text, 7, '0') AS p FROM generate_series(1, :orgs) g) x
JOIN municipalities m ON m.oktmo = lpad((22700000 + 1 + x.g % 20)::text, 8, '0');
INSERT INTO managers (full_name, municipality_id, region_id, organization_id)
SELECT 'Head ' || o.id, o.municipality_id, o.region_id, o.id FROM organizations o;
INSERT INTO campaigns (region_id, year, title, opens_at, closes_at, status)
SELECT id, 2025, 'Bench 2025', '2025-01-01', '2025-12-31', 'published' FROM regions;
INSERT INTO indicators (campaign_id, region_id, code, name, direction_id, value_type, min_value,
                        max_value, polarity, weights, position)
SELECT c.id, c.region_id, 'X' || g, 'Indicator ' || g, d.id,
       (ARRAY['number', 'percent', 'boolean', 'integer'])[1 + g % 4],
       CASE WHEN g % 4 = 2 THEN NULL ELSE 0 END, CASE g % 4 WHEN 2 THEN NULL WHEN 0 THEN 50
       ELSE 100 END, CASE WHEN g % 3 = 1 AND g % 4 <> 2 THEN 'down' ELSE 'up' END,
       jsonb_build_object('school', 1 + g % 3, 'preschool', g % 2, 'additional', 1,
                          'vocational', g % 4, 'special', 2), g
FROM campaigns c, generate_series(1, 40) g JOIN directions d ON d.position = 1 + g % 10;
INSERT INTO submissions (campaign_id, organization_id, region_id, municipality_id, kind,
                         manager_id, status, first_submitted_at)
SELECT c.id, o.id, o.region_id, o.municipality_id, o.kind, m.id, 'approved', '2025-02-01'
FROM campaigns c, organizations o JOIN managers m ON m.organization_id = o.id;
INSERT INTO submission_values (submission_id, indicator_id, value)
SELECT s.id, i.id, CASE WHEN i.value_type = 'boolean' THEN (random() < 0.7)::int
                        WHEN i.value_type = 'integer' THEN round((random() * i.max_value)::numeric)
                        ELSE round((random() * 1.1 * i.max_value)::numeric, 1) END
FROM submissions s JOIN indicators i ON i.campaign_id = s.campaign_id WHERE random() < 0.9;
SELECT em_rescore_campaign(id) FROM campaigns;
INSERT INTO users (login, password_hash, role, region_id)
SELECT 'bench-regional', 'x', 'regional_operator', id FROM regions;
ANALYZE;
SQL
  uid=$(pg -d effmon -tAc "SELECT id FROM users WHERE login = 'bench-regional'")
  rid=$(pg -d effmon -tAc "SELECT id FROM regions")
  printf '{"region": {"organization_count": %s, "published_campaign_ids": [%s]}, "users": {"regional_operator": {"claims": {"sub": "%s", "role": "regional_operator", "region_id": %s}}}}' \
    "$ORGS" "$(pg -d effmon -tAc "SELECT id FROM campaigns")" "$uid" "$rid" >"$work/ids.json"
else
  say "dataset: tests/bench/gen --scale $SCALE --seed 1"
  t0=$(date +%s.%N)
  timeout 7200 /usr/bin/python3 tests/bench/gen --scale "$SCALE" --seed 1 \
    --database-url "$EFFMON_DATABASE_URL" --out "$work/ids.json" >"$work/gen.log" 2>&1 ||
    { tail -20 "$work/gen.log" >&2; exit 1; }
  say "loaded in $(printf %.0f "$(echo "$(date +%s.%N) - $t0" | bc -l)") s"
fi

secret=$(head -c 48 /dev/urandom | base64 -w0)
eport=$(port)
EFFMON_JWT_SECRET=$secret EFFMON_LISTEN=127.0.0.1:$eport EFFMON_THREADS=2 \
  EFFMON_STATEMENT_TIMEOUT=60000 EFFMON_LOG_LEVEL=warning "$BUILD/effmond" serve \
  2>"$work/effmond.log" & pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$eport/readyz" >/dev/null && break; sleep 0.1; done

# The region, its campaign and its operator's token, from gen's JSON.
EFFMON_JWT_SECRET=$secret /usr/bin/python3 - "$work/ids.json" >"$work/vars.sh" <<'PY'
import json, os, shlex, sys, time, uuid, jwt
doc = json.load(open(sys.argv[1], encoding="utf-8"))
now = int(time.time())
claims = dict(doc["users"]["regional_operator"]["claims"], iss="effmon", aud="effmon", iat=now,
              exp=now + 7200, jti=uuid.uuid4().hex)
print("token=" + shlex.quote(jwt.encode(claims, os.environ["EFFMON_JWT_SECRET"], algorithm="HS256")))
print("campaign=%d" % doc["region"]["published_campaign_ids"][0])
print("orgs=%d" % doc["region"]["organization_count"])
PY
. "$work/vars.sh"
counted=$(pg -d effmon -tAc "SELECT count(*) FROM submission_scores WHERE campaign_id = $campaign \
  AND status = 'approved'")
values=$(pg -d effmon -tAc "SELECT count(*) FROM submission_values v JOIN submissions s \
  ON s.id = v.submission_id WHERE s.campaign_id = $campaign AND s.status = 'approved'")
body=$(pg -d effmon -tAc "WITH i AS (SELECT array_agg(code ORDER BY position, id) AS c \
  FROM indicators WHERE campaign_id = $campaign) \
  SELECT jsonb_build_object('indicators', jsonb_build_array( \
    jsonb_build_object('code', c[1], 'exclude', true), \
    jsonb_build_object('code', c[2], 'weights', jsonb_build_object('school', 5, 'preschool', 2))), \
    'thresholds', jsonb_build_object('high', 85, 'sufficient', 65, 'low', 45)) FROM i")
say "campaign $campaign: $orgs organizations in the region, $counted approved submissions, $values values"

times=()
for n in $(seq "$RUNS"); do
  out=$(timeout 120 curl -s -o "$work/sim.json" -w '%{http_code} %{time_total}' \
    "http://127.0.0.1:$eport/api/v1/campaigns/$campaign/simulations" \
    -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d "$body")
  set -- $out
  [ "$1" = 200 ] || { echo "simulation answered $1: $(head -c 300 "$work/sim.json")"; exit 1; }
  times+=("$2")
  printf 'run %d: %s s\n' "$n" "$2"
done
median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
printf 'simulation: campaign %s, %s organizations, %s approved, %s values: median %s s of %s runs\n' \
  "$campaign" "$orgs" "$counted" "$values" "$median" "$RUNS"
/usr/bin/python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print("answer: counted",
  d["counted"], "changed", d["changed"]["count"], "spearman", d["spearman"])' "$work/sim.json"
