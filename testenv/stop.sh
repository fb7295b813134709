#!/usr/bin/env bash
# Stops the local RDS-like servers started by start.sh. Idempotent. Pass --clean to also
# delete their data and the PAM services.
set -uo pipefail
TESTENV_DIR="${IAM_DB_PROXY_TESTENV:-/tmp/iam-db-proxy-testenv}"
PGDATA="$TESTENV_DIR/pg/data"
if [ -f "$PGDATA/postmaster.pid" ]; then
    runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null 2>&1 || true
fi
PIDFILE="$TESTENV_DIR/mysql/run/mysqld.pid"
if [ -f "$PIDFILE" ]; then
    pid="$(cat "$PIDFILE")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
fi
if [ "${1:-}" = "--clean" ]; then
    rm -rf "$TESTENV_DIR" /etc/pam.d/iam-db-proxy-testenv-pg /etc/pam.d/iam-db-proxy-testenv-mysql /etc/pam.d/iam-db-proxy-testenv-mysql-permit
fi
echo "testenv: stopped" >&2
