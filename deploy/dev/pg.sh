#!/usr/bin/env bash
# Starts (or reuses) a local PostgreSQL cluster for development and tests.
#   deploy/dev/pg.sh start <dir> <port>   prints the superuser URL
#   deploy/dev/pg.sh stop <dir>
# initdb refuses to run as root, so as root the cluster belongs to the
# unprivileged "postgres" user (created if missing).
set -euo pipefail
cmd=${1:?start|stop}; dir=${2:?data directory}; port=${3:-55432}
bin=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)}
[ -x "$bin/initdb" ] || { echo "pg.sh: PostgreSQL server binaries not found (set PG_BIN)" >&2; exit 1; }
mkdir -p "$dir"; dir=$(cd "$dir" && pwd)

if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin postgres
  chown postgres "$dir"
  # A checkout under a private home (such as /root) is not reachable by the
  # postgres user: keep the cluster in a reachable folder and link it here.
  if ! runuser -u postgres -- test -w "$dir"; then
    alt=/var/tmp/rapport-pg-$(printf %s "$dir" | md5sum | cut -c1-12)
    mkdir -p "$alt"; chown postgres "$alt"
    ln -sfn "$alt" "$dir/cluster"
    dir=$alt
  fi
fi

as_owner() {
  if [ "$(id -u)" = 0 ]; then
    chown -R postgres "$dir"
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

case $cmd in
start)
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log"
    cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 300
shared_buffers = 256MB
fsync = ${PG_FSYNC:-on}
synchronous_commit = ${PG_SYNC_COMMIT:-on}
full_page_writes = ${PG_FSYNC:-on}
log_min_messages = warning
CONF
  fi
  if ! as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start >/dev/null
  fi
  echo "postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
  ;;
stop)
  if [ -f "$dir/data/PG_VERSION" ]; then
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  ;;
*) echo "usage: pg.sh start|stop <dir> [port]" >&2; exit 2 ;;
esac
