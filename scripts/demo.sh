#!/usr/bin/env bash
# The main job on a fresh machine, no AWS account needed: starts the local RDS-like
# PostgreSQL and MariaDB (IAM users checked by an independent SigV4 verifier through PAM),
# builds iam-db-proxy, starts it with fixed test credentials on 127.0.0.1:15432 in front of
# PostgreSQL and on 127.0.0.1:13306 in front of MariaDB, runs a query through each with plain
# `psql` and `mariadb` (no password, no TLS on the client side) and leaves it running.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v swift >/dev/null || export PATH="/opt/swift/usr/bin:$PATH"
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
PORT="${DEMO_PORT:-15432}"
MYSQL_PORT="${DEMO_MYSQL_PORT:-13306}"
# For clients that require TLS (MariaDB 11.4+ by default, mysql --ssl): a listener with client_tls.
MYSQL_TLS_PORT="${DEMO_MYSQL_TLS_PORT:-13307}"
CONFIG=/tmp/iam-db-proxy-demo.yaml
PIDFILE=/tmp/iam-db-proxy-demo.pid
LOG=/tmp/iam-db-proxy-demo.log

$SUDO testenv/start.sh
# shellcheck disable=SC1091
. /tmp/iam-db-proxy-testenv/testenv.env
echo "demo: building iam-db-proxy (a first build takes about 8 minutes on 2 cores)" >&2
swift build --product iam-db-proxy >&2
BIN="$(swift build --show-bin-path)/iam-db-proxy"

# The test environment's fixed (fake) AWS credentials, as an AWS SDK would find them.
eval "$(python3 - <<'PY'
import json
identity = json.load(open("testenv/credentials.json"))["identities"][1]
print("export AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY='%s' AWS_SESSION_TOKEN='%s' AWS_EC2_METADATA_DISABLED=true"
      % (identity["access_key_id"], identity["secret_access_key"], identity["session_token"]))
PY
)"

if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then kill "$(cat "$PIDFILE")"; sleep 1; fi
cat > "$CONFIG" <<YAML
listeners:
  - name: postgres
    engine: postgres
    listen: 127.0.0.1:$PORT
    upstream: localhost:$TESTENV_PG_PORT
    iam_region: us-east-1
    tls: {mode: verify-full, ca_file: $TESTENV_CA_FILE}
  - name: mysql
    engine: mysql
    listen: 127.0.0.1:$MYSQL_PORT
    upstream: localhost:$TESTENV_MYSQL_PORT
    iam_region: us-east-1
    tls: {mode: verify-full, ca_file: $TESTENV_CA_FILE}
  - name: mysql-client-tls
    engine: mysql
    listen: 127.0.0.1:$MYSQL_TLS_PORT
    upstream: localhost:$TESTENV_MYSQL_PORT
    iam_region: us-east-1
    tls: {mode: verify-full, ca_file: $TESTENV_CA_FILE}
    client_tls: {cert_file: $TESTENV_DIR/ca/server.pem, key_file: $TESTENV_DIR/ca/server.key}
YAML
nohup "$BIN" --config "$CONFIG" >"$LOG" 2>&1 &
echo $! > "$PIDFILE"
for _ in $(seq 1 50); do [ "$(grep -c "listening" "$LOG" 2>/dev/null)" = 3 ] && break; sleep 0.2; done
[ "$(grep -c "listening" "$LOG")" = 3 ] || { echo "demo: the proxy did not start:"; cat "$LOG"; exit 1; }

echo "demo: psql -> iam-db-proxy (127.0.0.1:$PORT, plaintext, no password) -> TLS verify-full + IAM token -> PostgreSQL" >&2
psql "host=127.0.0.1 port=$PORT dbname=appdb user=iam_user sslmode=disable" \
    -c "SELECT current_user, ssl AS upstream_tls, version AS tls_version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
echo "demo: mariadb -> iam-db-proxy (127.0.0.1:$MYSQL_PORT, plaintext, no password) -> TLS verify-full + IAM token -> MariaDB" >&2
mariadb -h 127.0.0.1 -P "$MYSQL_PORT" -u iam_user --skip-ssl appdb \
    -e "SELECT CURRENT_USER() AS current_user_, VARIABLE_VALUE AS upstream_tls FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'Ssl_version'"
echo "demo: mariadb --ssl-verify-server-cert -> iam-db-proxy (127.0.0.1:$MYSQL_TLS_PORT, client_tls) -> TLS verify-full + IAM token -> MariaDB" >&2
mariadb -h localhost --protocol=tcp -P "$MYSQL_TLS_PORT" -u iam_user --ssl-verify-server-cert --ssl-ca="$TESTENV_CA_FILE" appdb \
    -e "SELECT CURRENT_USER() AS current_user_; \\s" | grep -E "current_user_|iam_user|SSL:"
cat <<TXT
iam-db-proxy is running (pid $(cat "$PIDFILE"), config $CONFIG, log $LOG). Connect with any client:
  psql "host=127.0.0.1 port=$PORT dbname=appdb user=iam_user sslmode=disable"
  pgbench -h 127.0.0.1 -p $PORT -U iam_user appdb
  mariadb -h 127.0.0.1 -P $MYSQL_PORT -u iam_user --skip-ssl appdb
  mariadb -h localhost --protocol=tcp -P $MYSQL_TLS_PORT -u iam_user --ssl-verify-server-cert --ssl-ca=$TESTENV_CA_FILE appdb   # clients that require TLS
Sign a token yourself (same credentials in the environment): $BIN token --host localhost --port $TESTENV_PG_PORT --user iam_user --region us-east-1
Stop the proxy: kill \$(cat $PIDFILE)      Stop the database servers: testenv/stop.sh
TXT
