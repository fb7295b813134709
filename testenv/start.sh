#!/usr/bin/env bash
# Starts the local RDS-like servers: PostgreSQL 15 and MariaDB with TLS from a CA made here,
# and IAM users checked by PAM through token_verifier.py, as RDS checks them.
# Idempotent: servers already running are left alone. Must run as root (PAM lives in /etc/pam.d).
# Writes $TESTENV_DIR/testenv.env (shell) and testenv.json (tests) describing what it started.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TESTENV_DIR="${IAM_DB_PROXY_TESTENV:-/tmp/iam-db-proxy-testenv}"
PG_PORT="${TESTENV_PG_PORT:-25432}"
MYSQL_PORT="${TESTENV_MYSQL_PORT:-23306}"
PG_BIN=/usr/lib/postgresql/15/bin
PG_PAM_SERVICE=iam-db-proxy-testenv-pg
MYSQL_PAM_SERVICE=iam-db-proxy-testenv-mysql
MYSQL_PERMIT_SERVICE=iam-db-proxy-testenv-mysql-permit
# A host name RDS would use; the server certificate carries it too, so tests can sign for it
# and verify TLS against it while dialling 127.0.0.1.
RDS_LIKE_HOST=testdb.cluster-abc123xyz.us-east-1.rds.amazonaws.com

log() { echo "testenv: $*" >&2; }
[ "$(id -u)" = 0 ] || { log "must run as root (writes /etc/pam.d and starts servers as their users)"; exit 1; }

"$HERE/install-deps.sh"

mkdir -p "$TESTENV_DIR"
chmod 0755 "$TESTENV_DIR"
cd "$TESTENV_DIR"

# --- certificates -----------------------------------------------------------------------
if [ ! -f ca/server.pem ]; then
    log "creating a test certificate authority and server certificate"
    mkdir -p ca && chmod 0755 ca
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=iam-db-proxy test CA" \
        -keyout ca/ca.key -out ca/ca.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
        -keyout ca/server.key -out ca/server.csr 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1,DNS:%s\nextendedKeyUsage=serverAuth\n' \
        "$RDS_LIKE_HOST" > ca/server.ext
    openssl x509 -req -in ca/server.csr -CA ca/ca.pem -CAkey ca/ca.key -CAcreateserial \
        -days 3650 -extfile ca/server.ext -out ca/server.pem 2>/dev/null
    chmod 0644 ca/ca.pem ca/server.pem
fi

# --- the verifier and PAM services --------------------------------------------------------
install -m 0644 "$HERE/token_verifier.py" verifier.py
python3 - "$HERE/credentials.json" "$TESTENV_DIR" "$PG_PORT" "$MYSQL_PORT" "$RDS_LIKE_HOST" <<'PY'
import json, sys
creds_path, testenv, pg_port, mysql_port, rds_host = sys.argv[1:]
creds = json.load(open(creds_path))
config = {
    "region": creds["region"],
    "identities": creds["identities"],
    "verdict_log": testenv + "/verdicts.log",
    "revoked_list": testenv + "/revoked.txt",
    "services": {
        "pg": {"hosts": ["localhost:" + pg_port, "127.0.0.1:" + pg_port, rds_host + ":5432"]},
        "mysql": {"hosts": ["localhost:" + mysql_port, "127.0.0.1:" + mysql_port, rds_host + ":3306"]},
        # The two "instances" of the Aurora routing tests (throwaway PostgreSQL servers on any
        # port): a token must be signed for the instance dialed, or the cluster endpoint.
        "aurora-a": {"hosts": ["instance-a.instances.test.invalid:*", "app.cluster-test.invalid:*"]},
        "aurora-b": {"hosts": ["instance-b.instances.test.invalid:*", "app.cluster-test.invalid:*"]},
    },
}
with open(testenv + "/verifier.json", "w") as handle:
    json.dump(config, handle, indent=2)
PY
chmod 0644 verifier.json
touch verdicts.log revoked.txt && chmod 0666 verdicts.log revoked.txt
for service in pg mysql aurora-a aurora-b; do
    case $service in
        pg) name=$PG_PAM_SERVICE ;;
        mysql) name=$MYSQL_PAM_SERVICE ;;
        *) name=iam-db-proxy-testenv-$service ;;
    esac
    cat > "/etc/pam.d/$name" <<PAM
# iam-db-proxy local test environment: IAM auth tokens checked like RDS does.
auth    required pam_python.so $TESTENV_DIR/verifier.py $TESTENV_DIR/verifier.json $service
account required pam_python.so $TESTENV_DIR/verifier.py $TESTENV_DIR/verifier.json $service
PAM
done

# A MariaDB user any password logs in as (over TLS), for load tests that the verifier, a Python
# process per login, cannot keep up with: the counterpart of PostgreSQL's trust `bench_user`.
cat > "/etc/pam.d/$MYSQL_PERMIT_SERVICE" <<PAM
# iam-db-proxy local test environment: bench_user, any password (load tests only).
auth    required pam_permit.so
account required pam_permit.so
PAM

# --- PostgreSQL -------------------------------------------------------------------------
PGDATA="$TESTENV_DIR/pg/data"
PGRUN="$TESTENV_DIR/pg/run"
pg_running() { runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; }
# Written on every start (and reloaded when the server already runs), so an older test
# environment gets the Secrets Manager tests' md5 and cleartext users too.
write_pg_hba() {
    # As on RDS: IAM users (members of rds_iam) log in only over TLS through PAM.
    cat > "$PGDATA/pg_hba.conf" <<HBA
local   all  all                       trust
hostssl all  +rds_iam    127.0.0.1/32  pam pamservice=$PG_PAM_SERVICE
hostssl all  +rds_iam    ::1/128       pam pamservice=$PG_PAM_SERVICE
host    all  +rds_iam    0.0.0.0/0     reject
host    all  +rds_iam    ::/0          reject
hostssl all  bench_user  127.0.0.1/32  trust
hostssl all  bench_user  ::1/128       trust
host    all  secret_md5    127.0.0.1/32  md5
host    all  secret_clear  127.0.0.1/32  password
host    all  all         127.0.0.1/32  scram-sha-256
host    all  all         ::1/128       scram-sha-256
HBA
}
if ! pg_running; then
    if [ ! -f "$PGDATA/PG_VERSION" ]; then
        log "initialising PostgreSQL in $PGDATA"
        mkdir -p "$PGDATA" "$PGRUN"
        chown -R postgres:postgres "$TESTENV_DIR/pg"
        runuser -u postgres -- "$PG_BIN/initdb" -D "$PGDATA" -A trust -U postgres >/dev/null
        install -o postgres -m 0600 ca/server.key "$PGDATA/server.key"
        install -o postgres -m 0644 ca/server.pem "$PGDATA/server.pem"
        install -o postgres -m 0644 ca/ca.pem "$PGDATA/ca.pem"
        cat >> "$PGDATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1,::1'
port = $PG_PORT
unix_socket_directories = '$PGRUN'
max_connections = 400
ssl = on
ssl_cert_file = 'server.pem'
ssl_key_file = 'server.key'
ssl_ca_file = 'ca.pem'
password_encryption = 'scram-sha-256'
log_connections = on
CONF
    fi
    write_pg_hba
    log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$TESTENV_DIR/pg/server.log" -w -t 60 start >/dev/null
    runuser -u postgres -- psql -h "$PGRUN" -p "$PG_PORT" -U postgres -d postgres -q -v ON_ERROR_STOP=1 <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'rds_iam') THEN CREATE ROLE rds_iam; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'iam_user') THEN CREATE ROLE iam_user LOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'iam_other') THEN CREATE ROLE iam_other LOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pw_user') THEN CREATE ROLE pw_user LOGIN PASSWORD 'pw_password'; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_user') THEN CREATE ROLE bench_user LOGIN; END IF;
END $$;
GRANT rds_iam TO iam_user, iam_other;
GRANT pg_monitor, pg_signal_backend TO iam_user;
SELECT 'CREATE DATABASE appdb' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'appdb') \gexec
ALTER DATABASE appdb OWNER TO iam_user;
GRANT ALL ON DATABASE appdb TO iam_other, pw_user, bench_user;
\c appdb
GRANT ALL ON SCHEMA public TO iam_user, iam_other, pw_user, bench_user;
SQL
else
    write_pg_hba
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PGDATA" reload >/dev/null
fi

# --- MariaDB ----------------------------------------------------------------------------
MYDATA="$TESTENV_DIR/mysql/data"
MYRUN="$TESTENV_DIR/mysql/run"
MYSOCK="$MYRUN/mysqld.sock"
my_admin() { mariadb --protocol=socket --socket="$MYSOCK" -uroot "$@"; }
if ! my_admin -e 'SELECT 1' >/dev/null 2>&1; then
    mkdir -p "$MYDATA" "$MYRUN"
    install -o mysql -m 0600 ca/server.key "$TESTENV_DIR/mysql/server.key"
    install -o mysql -m 0644 ca/server.pem "$TESTENV_DIR/mysql/server.pem"
    chown -R mysql:mysql "$TESTENV_DIR/mysql"
    cat > "$TESTENV_DIR/mysql/my.cnf" <<CNF
[mariadbd]
user = mysql
datadir = $MYDATA
socket = $MYSOCK
pid-file = $MYRUN/mysqld.pid
port = $MYSQL_PORT
bind-address = 127.0.0.1
skip-name-resolve
max_connections = 1000
log-error = $TESTENV_DIR/mysql/server.log
ssl-ca = $TESTENV_DIR/ca/ca.pem
ssl-cert = $TESTENV_DIR/mysql/server.pem
ssl-key = $TESTENV_DIR/mysql/server.key
plugin-load-add = auth_pam
pam_use_cleartext_plugin = ON
CNF
    if [ ! -d "$MYDATA/mysql" ]; then
        log "initialising MariaDB in $MYDATA"
        mariadb-install-db --defaults-file="$TESTENV_DIR/mysql/my.cnf" --skip-test-db >/dev/null
    fi
    log "starting MariaDB on 127.0.0.1:$MYSQL_PORT"
    setsid mariadbd --defaults-file="$TESTENV_DIR/mysql/my.cnf" </dev/null >/dev/null 2>&1 &
    for _ in $(seq 1 120); do my_admin -e 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.5; done
    my_admin -e 'SELECT 1' >/dev/null || { log "MariaDB did not start; see $TESTENV_DIR/mysql/server.log"; exit 1; }
    my_admin <<SQL
CREATE DATABASE IF NOT EXISTS appdb;
CREATE USER IF NOT EXISTS iam_user IDENTIFIED VIA pam USING '$MYSQL_PAM_SERVICE' REQUIRE SSL;
CREATE USER IF NOT EXISTS iam_other IDENTIFIED VIA pam USING '$MYSQL_PAM_SERVICE' REQUIRE SSL;
CREATE USER IF NOT EXISTS pw_user IDENTIFIED BY 'pw_password';
GRANT ALL ON appdb.* TO iam_user, iam_other, pw_user;
GRANT PROCESS, CONNECTION ADMIN ON *.* TO iam_user;
SQL
fi

my_admin <<SQL
CREATE USER IF NOT EXISTS bench_user IDENTIFIED VIA pam USING '$MYSQL_PERMIT_SERVICE' REQUIRE SSL;
GRANT ALL ON appdb.* TO bench_user;
SQL

# --- what the tests and the demo read -----------------------------------------------------
python3 - "$HERE/credentials.json" <<PY
import json, sys
creds = json.load(open(sys.argv[1]))
env = {
    "dir": "$TESTENV_DIR", "ca_file": "$TESTENV_DIR/ca/ca.pem", "verdict_log": "$TESTENV_DIR/verdicts.log", "revoked_list": "$TESTENV_DIR/revoked.txt",
    "rds_like_host": "$RDS_LIKE_HOST", "region": creds["region"],
    "postgres": {"host": "127.0.0.1", "port": $PG_PORT, "database": "appdb", "iam_user": "iam_user",
                 "iam_other_user": "iam_other", "password_user": "pw_user", "password": "pw_password",
                 "trust_user": "bench_user", "admin_socket_dir": "$PGRUN"},
    "mysql": {"host": "127.0.0.1", "port": $MYSQL_PORT, "database": "appdb", "iam_user": "iam_user",
              "iam_other_user": "iam_other", "password_user": "pw_user", "password": "pw_password",
              "trust_user": "bench_user", "admin_socket": "$MYSOCK"},
    "identities": creds["identities"],
}
json.dump(env, open("$TESTENV_DIR/testenv.json", "w"), indent=2)
PY
cat > testenv.env <<ENV
TESTENV_DIR=$TESTENV_DIR
TESTENV_CA_FILE=$TESTENV_DIR/ca/ca.pem
TESTENV_PG_PORT=$PG_PORT
TESTENV_MYSQL_PORT=$MYSQL_PORT
TESTENV_RDS_LIKE_HOST=$RDS_LIKE_HOST
ENV
chmod 0644 testenv.json testenv.env
log "ready: PostgreSQL 127.0.0.1:$PG_PORT, MariaDB 127.0.0.1:$MYSQL_PORT, CA $TESTENV_DIR/ca/ca.pem"
