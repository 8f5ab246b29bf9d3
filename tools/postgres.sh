#!/usr/bin/env bash
# A throwaway PostgreSQL for the cluster pass of the tests: Debian's initdb and pg_ctl
# in the folder DIR, on a free loopback port, no system service.
#   tools/postgres.sh start DIR     prints the server's postgresql:// URL
#   tools/postgres.sh halt DIR      stops it at once, as a crash would, keeping its data
#   tools/postgres.sh restart DIR   starts it again (stopping it first if it runs), on
#                                   the same port: the URL its clients hold still works
#   tools/postgres.sh stop DIR      stops it (immediately: its data is thrown away)
# As root the server runs as the `postgres` user, since PostgreSQL refuses root.
set -euo pipefail
action=${1:?start, halt, restart or stop} dir=${2:?a folder}
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
serve() {
  as_owner "$bin/pg_ctl" -D "$dir/data" -w -l "$dir/log" \
    -o "-p $1 -h 127.0.0.1 -k $dir -c fsync=off -c max_connections=500" start >/dev/null
}
halt() { as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true; }
case $action in
start)
  mkdir -p "$dir/data"
  [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$dir"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  LC_ALL=C.UTF-8 as_owner "$bin/initdb" -A trust -U pecd -E UTF8 -D "$dir/data" >/dev/null
  echo "$port" >"$dir/port"
  serve "$port"
  echo "postgresql://pecd@127.0.0.1:$port/postgres"
  ;;
halt) halt ;;
restart)
  halt
  serve "$(cat "$dir/port")"
  ;;
stop)
  halt
  rm -rf "$dir"
  ;;
*) echo "usage: $0 start|halt|restart|stop DIR" >&2; exit 2 ;;
esac
