#!/usr/bin/env bash
# deps.sh — installs the Debian 12 packages effmon needs to build, run and
# test, and only those that are missing. Runs as root, or through sudo.
set -euo pipefail

packages=(
  gcc pkg-config meson ninja-build
  libmicrohttpd-dev libjansson-dev libpq-dev libjwt-dev libsodium-dev check
  postgresql-15 postgresql-client-15
  python3 python3-jwt python3-cryptography
  curl acl util-linux
  chromium
  libxlsxwriter-dev python3-openpyxl
  clang-format
)
# libxlsxwriter-dev: XLSX answers (scores, aggregates, submissions, outliers,
# the cycle report); python3-openpyxl: the XLSX test reads them back.
# clang-format (Debian 12: version 14): `meson compile -C build format-check`
# checks the C sources against .clang-format, `format` rewrites them.
# chromium: the cycle-report test renders the printable HTML report headless
# and checks the screenshot.
# `make fuzz` (scripts/deps.sh fuzz) also needs clang and its libFuzzer runtime;
# `make test` does not: it replays the corpora with gcc.
[ "${1:-}" = fuzz ] && packages+=(clang libclang-rt-14-dev)
# `make bench` (scripts/deps.sh bench) drives the HTTP scenarios with wrk and
# reads JSON and sums with jq and bc.
[ "${1:-}" = bench ] && packages+=(wrk jq bc)
# tests/integration/test_compose.py checks docker/compose.yaml with Debian 12's docker-compose
# (1.29) and, parsed by PyYAML, against the compose-spec schema pinned in tools/compose.
packages+=(docker-compose python3-yaml)
# The OpenAPI linter and the build of GET /docs (tools/openapi/build_docs.sh)
# run on Node; any npm on the machine will do.
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deps: need root or sudo to install ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
