#!/usr/bin/env bash
# scaling.sh — does a read stay flat from a region to the country? Runs bench.sh
# at each of SCALES (default 1 %, 10 %, 100 %) with only the organizations
# list, the scores page and the first aggregates read after a write (and the
# ceiling they are measured against), and prints one table: rps and p99 of
# each scenario at each scale. A dataset is generated per scale (SCALE=1 takes
# minutes). usage: SCALES="0.01 0.1 1" DURATION=10 tests/bench/scaling.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
SCALES=${SCALES:-0.01 0.1 1}
ONLY=organizations_list,scores,aggregates_after_write
out=$(mktemp -d /tmp/effmon-scaling-XXXXXX)
trap 'rm -rf "$out"' EXIT
for s in $SCALES; do
  echo "== SCALE=$s" >&2
  SCALE=$s ONLY=$ONLY timeout 3600 bash tests/bench/bench.sh >"$out/$s.txt" 2>"$out/$s.err" ||
    { echo "bench.sh at SCALE=$s failed:" >&2; tail -5 "$out/$s.err" >&2; exit 1; }
done
printf '%-24s' scenario
for s in $SCALES; do printf ' %22s' "SCALE $s: rps / p99 ms"; done
echo
for name in ceiling ${ONLY//,/ }; do
  printf '%-24s' "$name"
  for s in $SCALES; do
    printf ' %22s' "$(awk -v n="$name" '$1 == n { printf "%s / %s", $3, $5 }' "$out/$s.txt")"
  done
  echo
done
for s in $SCALES; do grep '^dataset:' "$out/$s.txt" | sed "s/^/SCALE $s: /"; done
