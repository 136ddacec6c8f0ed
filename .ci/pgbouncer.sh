#!/usr/bin/env bash
# Starts (or stops) PgBouncer on 127.0.0.1:6432 in transaction mode in front of the local
# PostgreSQL, with a server pool (4) smaller than the tests' concurrency.
#   .ci/pgbouncer.sh start | stop
set -euo pipefail
dir=/tmp/bulkhead-pgbouncer
port="${PGBOUNCER_PORT:-6432}"

case "${1:-start}" in
  start)
    if ! command -v pgbouncer >/dev/null 2>&1 && [ ! -x /usr/sbin/pgbouncer ]; then
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null
    fi
    bin=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
    [ -f "$dir/pgbouncer.pid" ] && kill "$(cat "$dir/pgbouncer.pid")" 2>/dev/null || true
    rm -rf "$dir" && mkdir -p "$dir"
    cat > "$dir/userlist.txt" <<USERS
"bulkhead_app" ""
"postgres" ""
USERS
    cat > "$dir/pgbouncer.ini" <<INI
[databases]
; any database name is forwarded, so tests can create and drop their own
* = host=127.0.0.1 port=5432

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
pool_mode = transaction
default_pool_size = 4
max_client_conn = 500
server_reset_query =
ignore_startup_parameters = extra_float_digits,options
pidfile = $dir/pgbouncer.pid
logfile = $dir/pgbouncer.log
INI
    chown -R postgres "$dir" 2>/dev/null || true
    if [ "$(id -u)" = 0 ]; then "$bin" -d -u postgres "$dir/pgbouncer.ini"; else "$bin" -d "$dir/pgbouncer.ini"; fi
    for _ in $(seq 1 50); do
      pg_isready -h 127.0.0.1 -p "$port" -q && break
      sleep 0.2
    done
    pg_isready -h 127.0.0.1 -p "$port"
    ;;
  stop)
    if [ -f "$dir/pgbouncer.pid" ]; then kill "$(cat "$dir/pgbouncer.pid")" 2>/dev/null || true; fi
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
