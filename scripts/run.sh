#!/usr/bin/env bash
# run.sh — what `make run` does after the build: a private database unless
# EFFMON_DATABASE_URL is set, migrations, a JWT secret kept in var/, a demo
# admin and the demo data (with one user per role) created once, then the
# daemon in the foreground.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
var="$root/var"
effmond="$root/build/effmond"
mkdir -p "$var"

if [ -z "${EFFMON_DATABASE_URL:-}" ]; then
  EFFMON_DATABASE_URL=$("$root/scripts/pg.sh" start)
fi
export EFFMON_DATABASE_URL

if [ -z "${EFFMON_JWT_SECRET:-}" ] && [ -z "${EFFMON_JWT_SECRET_FILE:-}" ]; then
  if [ ! -f "$var/jwt-secret" ]; then
    (umask 077; head -c 48 /dev/urandom | base64 -w0 >"$var/jwt-secret")
  fi
  export EFFMON_JWT_SECRET_FILE="$var/jwt-secret"
fi

"$effmond" migrate

if [ ! -f "$var/admin-password" ]; then
  pw=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
  echo "$pw" | "$effmond" create-user --login admin --role admin --password-stdin >/dev/null
  (umask 077; echo "$pw" >"$var/admin-password")
fi

# The demo data. load-demo is idempotent and completes what an older install
# lacks (the monitoring campaigns, the roadmaps), so it runs every time. It
# prints the passwords of the users it created once: they are kept in
# var/demo-users.txt (mode 600), nowhere else.
demo=$("$effmond" load-demo)
if printf '%s\n' "$demo" | grep -q '^Demo users'; then
  (umask 077; printf '%s\n' "$demo" >"$var/demo-users.txt"; chmod 600 "$var/demo-users.txt")
elif ! printf '%s\n' "$demo" | grep -q '^Demo data already loaded'; then
  printf '%s\n' "$demo"
fi

listen=${EFFMON_LISTEN:-127.0.0.1:8080}
cat <<MSG

effmon is starting on http://$listen
  demo admin: login "admin", password in var/admin-password ($(cat "$var/admin-password"))
  log in:
    TOKEN=\$(curl -s http://$listen/api/v1/auth/token -H 'Content-Type: application/json' \\
      -d '{"login":"admin","password":"$(cat "$var/admin-password")"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
    curl -s http://$listen/api/v1/auth/me -H "Authorization: Bearer \$TOKEN"
  stop: Ctrl-C (the database keeps running; 'make stop-db' stops it)

MSG
if [ -f "$var/demo-users.txt" ]; then
  echo "demo data and users (from var/demo-users.txt; they log in like the admin above):"
  sed 's/^/  /' "$var/demo-users.txt"
  echo
fi
exec "$effmond" serve
