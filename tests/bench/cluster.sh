# cluster.sh — sourced by tests/bench/bench.sh, tests/bench/import.sh and
# tests/soak/soak.sh: a private PostgreSQL cluster under $work (run as the
# postgres user when root: PostgreSQL refuses root), stopped with -m immediate
# on exit together with every PID in pids. Set work (a fresh directory) first.
bin=$(pg_config --bindir)
pids=()
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  as_pg "$bin/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# psql as the superuser, each call bounded by PG_TIMEOUT seconds (default 600).
pg() { timeout "${PG_TIMEOUT:-600}" psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pgport" -U postgres "$@"; }

# cluster_start [setting=value ...]: initdb, start on a free loopback port with
# fsync off and the given settings, create the role and database effmon; sets
# pgport and exports EFFMON_DATABASE_URL.
cluster_start() {
  local opts s
  pgport=$(port)
  opts="-c listen_addresses=127.0.0.1 -p $pgport -c unix_socket_directories=$work -c fsync=off"
  for s in "$@"; do opts+=" -c $s"; done
  [ "$(id -u)" = 0 ] && chown postgres "$work"
  as_pg "$bin/initdb" -D "$work/data" -A trust -U postgres --no-sync -E UTF8 --locale=C.UTF-8 >/dev/null
  as_pg timeout 60 "$bin/pg_ctl" -D "$work/data" -l "$work/pg.log" -w -o "$opts" start >/dev/null
  pg -d postgres -c "CREATE ROLE effmon LOGIN" -c "CREATE DATABASE effmon OWNER effmon"
  export EFFMON_DATABASE_URL="host=127.0.0.1 port=$pgport dbname=effmon user=effmon"
}
