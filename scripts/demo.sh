#!/usr/bin/env bash
# The main job on a fresh machine, no AWS account needed: starts the local RDS-like
# PostgreSQL and MariaDB (IAM users checked by an independent SigV4 verifier through PAM),
# builds iam-db-proxy, starts it on 127.0.0.1:15432 in front of the PostgreSQL server with
# fixed test credentials, runs a query through it with plain `psql` (no password, no TLS on
# the client side) and leaves it running.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v swift >/dev/null || export PATH="/opt/swift/usr/bin:$PATH"
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
PORT="${DEMO_PORT:-15432}"
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
nohup "$BIN" --listen "127.0.0.1:$PORT" --upstream "localhost:$TESTENV_PG_PORT" \
    --iam-region us-east-1 --ca-file "$TESTENV_CA_FILE" >"$LOG" 2>&1 &
echo $! > "$PIDFILE"
for _ in $(seq 1 50); do grep -q "listening" "$LOG" 2>/dev/null && break; sleep 0.2; done
grep -q "listening" "$LOG" || { echo "demo: the proxy did not start:"; cat "$LOG"; exit 1; }

echo "demo: psql -> iam-db-proxy (127.0.0.1:$PORT, plaintext, no password) -> TLS verify-full + IAM token -> PostgreSQL" >&2
psql "host=127.0.0.1 port=$PORT dbname=appdb user=iam_user sslmode=disable" \
    -c "SELECT current_user, ssl AS upstream_tls, version AS tls_version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
cat <<TXT
iam-db-proxy is running (pid $(cat "$PIDFILE"), log $LOG). Connect with any PostgreSQL client:
  psql "host=127.0.0.1 port=$PORT dbname=appdb user=iam_user sslmode=disable"
  pgbench -h 127.0.0.1 -p $PORT -U iam_user appdb
Sign a token yourself (same credentials in the environment): $BIN token --host localhost --port $TESTENV_PG_PORT --user iam_user --region us-east-1
Stop the proxy: kill \$(cat $PIDFILE)      Stop the database servers: testenv/stop.sh
TXT
