#!/usr/bin/env bash
# The main job on a fresh machine, no AWS account needed: starts the local RDS-like
# PostgreSQL and MariaDB (IAM users checked by a SigV4 verifier through PAM), builds
# iam-db-proxy, signs an IAM token with the fixed test credentials and logs psql in with it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v swift >/dev/null || export PATH="/opt/swift/usr/bin:$PATH"
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"

$SUDO testenv/start.sh
# shellcheck disable=SC1091
. /tmp/iam-db-proxy-testenv/testenv.env
echo "demo: building iam-db-proxy" >&2
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
TOKEN="$("$BIN" token --host localhost --port "$TESTENV_PG_PORT" --user iam_user --region us-east-1)"
echo "demo: signed a ${#TOKEN}-byte IAM auth token; logging psql in with it over verify-full TLS" >&2
PGPASSWORD="$TOKEN" psql "host=localhost port=$TESTENV_PG_PORT dbname=appdb user=iam_user sslmode=verify-full sslrootcert=$TESTENV_CA_FILE" \
    -c "SELECT current_user, ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
cat <<TXT
The local RDS-like servers keep running:
  PostgreSQL  127.0.0.1:$TESTENV_PG_PORT  (IAM user iam_user, database appdb, CA $TESTENV_CA_FILE)
  MariaDB     127.0.0.1:$TESTENV_MYSQL_PORT  (IAM user iam_user, database appdb)
Stop them with: testenv/stop.sh
TXT
