#!/usr/bin/env bash
# pg.sh — the private PostgreSQL cluster of `make run`, under var/pg. It runs
# as an unprivileged user (the postgres system user when we are root: the
# server refuses root), listens on 127.0.0.1 only, and keeps its port and the
# application role's password in var/, so that a second run reuses it.
#   scripts/pg.sh start   start (creating on first use); prints the libpq URL
#   scripts/pg.sh stop    stop it
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
var="$root/var"
pgdir="$var/pg"
data="$pgdir/data"
run="$pgdir/run"
bin=$(pg_config --bindir)

as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# The server must reach var/pg: grant the postgres user search permission on
# any ancestor that lacks it (an ACL entry, nothing wider).
grant_traversal() {
  [ "$(id -u)" -eq 0 ] || return 0
  local d="$pgdir"
  while [ "$d" != "/" ]; do
    d=$(dirname "$d")
    if ! runuser -u postgres -- test -x "$d"; then
      setfacl -m u:postgres:x "$d"
      echo "pg: granted the postgres user search (x) on $d" >&2
    fi
  done
}

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
  mkdir -p "$pgdir"
  chmod 711 "$var"
  grant_traversal
  if [ ! -f "$data/PG_VERSION" ]; then
    mkdir -p "$data" "$run"
    chmod 700 "$run"
    [ "$(id -u)" -eq 0 ] && chown -R postgres: "$pgdir"
    as_pg "$bin/initdb" -D "$data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
      -E UTF8 --locale=C.UTF-8 >"$pgdir/initdb.log"
    free_port >"$pgdir/port"
    head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$var/db-password"
    chmod 600 "$var/db-password"
  fi
  port=$(cat "$pgdir/port")
  if ! as_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    as_pg "$bin/pg_ctl" -D "$data" -l "$pgdir/server.log" -w -t 30 \
      -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$run" start >/dev/null
  fi
  psql=(as_pg psql -h "$run" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA)
  if [ -z "$("${psql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname = 'effmon'")" ]; then
    "${psql[@]}" -c "CREATE ROLE effmon LOGIN PASSWORD '$(cat "$var/db-password")'"
    "${psql[@]}" -c "CREATE DATABASE effmon OWNER effmon"
  fi
  echo "host=127.0.0.1 port=$port dbname=effmon user=effmon password=$(cat "$var/db-password")"
}

stop() {
  [ -f "$data/PG_VERSION" ] || return 0
  as_pg "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
