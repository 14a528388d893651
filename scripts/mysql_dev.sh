#!/usr/bin/env bash
# A throwaway MariaDB server for the shared-metadata-store tests and for trying `metadata.kind: mysql`.
#
#   eval "$(scripts/mysql_dev.sh start)"   # install if missing, start, print the env the tests read
#   scripts/mysql_dev.sh env               # print those exports again for a running server
#   scripts/mysql_dev.sh stop              # shut the server down (the data dir stays)
#
# The server runs as a plain background process (these machines have no systemd) on
# 127.0.0.1:$LIFECYCLE_MYSQL_PORT (default 3307, so it never meets a system server on 3306), with
# its own data dir ($LIFECYCLE_MYSQL_DIR, default work/mysql) and no option files (--no-defaults).
# It creates the database $LIFECYCLE_MYSQL_DATABASE (default lifecycle) and the user `lifecycle`
# with a random password kept in <data dir>/password; the user may create further databases named
# <database>_* (the e2e tests make a fresh one per test).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DATA_DIR="${LIFECYCLE_MYSQL_DIR:-$ROOT/work/mysql}"
PORT="${LIFECYCLE_MYSQL_PORT:-3307}"
DATABASE="${LIFECYCLE_MYSQL_DATABASE:-lifecycle}"
DB_USER=lifecycle
SOCKET="$DATA_DIR/mysqld.sock"
PID_FILE="$DATA_DIR/mariadbd.pid"
OS_USER="$(id -un)"

log() { echo "mysql_dev: $*" >&2; }

install_server() {
    command -v mariadbd >/dev/null && return
    if [ "$(id -u)" != 0 ]; then
        log "mariadbd not found: install Debian's mariadb-server (sudo apt-get install mariadb-server)"
        exit 1
    fi
    log "installing mariadb-server (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends mariadb-server >/dev/null
}

running() { [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; }

client() { mariadb --no-defaults --socket="$SOCKET" --user="$OS_USER" "$@"; }

print_env() {
    echo "export LIFECYCLE_TEST_MYSQL=127.0.0.1:$PORT:$DATABASE:$DB_USER"
    echo "export LIFECYCLE_MYSQL_PASSWORD=$(cat "$DATA_DIR/password")"
}

start() {
    install_server
    mkdir -p "$DATA_DIR"
    if ! running; then
        if [ ! -d "$DATA_DIR/mysql" ]; then
            # Socket authentication for the OS user that runs this script: no root password exists.
            mariadb-install-db --no-defaults --datadir="$DATA_DIR" --user="$OS_USER" \
                --auth-root-authentication-method=socket --auth-root-socket-user="$OS_USER" \
                --skip-test-db >"$DATA_DIR/install.log" 2>&1 \
                || { log "mariadb-install-db failed, see $DATA_DIR/install.log"; exit 1; }
        fi
        # skip-name-resolve: clients on 127.0.0.1 match 'user'@'127.0.0.1' without a DNS lookup.
        mariadbd --no-defaults --datadir="$DATA_DIR" --user="$OS_USER" \
            --bind-address=127.0.0.1 --port="$PORT" --socket="$SOCKET" --pid-file="$PID_FILE" \
            --log-error="$DATA_DIR/error.log" --skip-name-resolve \
            --innodb-buffer-pool-size=64M --max-connections=200 </dev/null >/dev/null 2>&1 &
        for _ in $(seq 1 300); do
            client -e "SELECT 1" >/dev/null 2>&1 && break
            sleep 0.1
        done
        client -e "SELECT 1" >/dev/null 2>&1 \
            || { log "server did not start on 127.0.0.1:$PORT, see $DATA_DIR/error.log"; exit 1; }
        log "MariaDB $(client -N -e 'SELECT VERSION()') on 127.0.0.1:$PORT (data $DATA_DIR)"
    fi
    if [ ! -s "$DATA_DIR/password" ]; then
        (umask 077 && od -An -N12 -tx1 /dev/urandom | tr -d ' \n' >"$DATA_DIR/password")
    fi
    local password pattern
    password="$(cat "$DATA_DIR/password")"
    # In GRANT, `_` is a wildcard: escape it so the user gets exactly <database> and <database>_*.
    pattern="$(printf '%s' "$DATABASE" | sed 's/_/\\_/g')"
    client <<SQL
CREATE DATABASE IF NOT EXISTS \`$DATABASE\`;
CREATE USER IF NOT EXISTS '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$password';
ALTER USER '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$password';
GRANT ALL PRIVILEGES ON \`$pattern\`.* TO '$DB_USER'@'127.0.0.1';
GRANT ALL PRIVILEGES ON \`${pattern}\\_%\`.* TO '$DB_USER'@'127.0.0.1';
SQL
    print_env
}

stop() {
    if running; then
        local pid
        pid="$(cat "$PID_FILE")"
        kill "$pid"
        for _ in $(seq 1 300); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        log "stopped the server on 127.0.0.1:$PORT"
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    env) print_env ;;
    *)
        echo "usage: $0 start|stop|env" >&2
        exit 2
        ;;
esac
