#!/usr/bin/env bash
# Soak: SECONDS (default 600) of churn through one proxy with a PostgreSQL and a MySQL
# listener — up to 100 new connections a second on each engine (pgbench -C; PyMySQL) plus
# steady sessions querying all along — while /metrics is sampled every 10 s. Prints start,
# peak and end of descriptors, resident memory and heap in use, and exits 1 on any error or
# if descriptors do not come back to where they started. The logins use the `bench_user`
# of each server (PostgreSQL trust over TLS, MariaDB pam_permit): the token verifier, a Python
# process per login, cannot check 200 logins a second on 2 cores. The proxy still signs and
# sends a token for every login. Not part of scripts/test.sh.
#   scripts/soak.sh [SECONDS] [--release]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v swift >/dev/null || export PATH="/opt/swift/usr/bin:$PATH"
DURATION="${1:-600}"; CONFIGURATION=debug; [ "${2:-}" = --release ] && CONFIGURATION=release
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
$SUDO testenv/start.sh
source "${IAM_DB_PROXY_TESTENV:-/tmp/iam-db-proxy-testenv}/testenv.env"
swift build -c "$CONFIGURATION" --product iam-db-proxy >&2
BIN="$(swift build -c "$CONFIGURATION" --show-bin-path)/iam-db-proxy"

WORK="$(mktemp -d /tmp/iam-db-proxy-soak.XXXX)"
cat > "$WORK/proxy.yaml" <<YAML
http: {listen: 127.0.0.1:19190}
listeners:
  - {name: pg, engine: postgres, listen: 127.0.0.1:19432, upstream: "localhost:$TESTENV_PG_PORT", iam_region: us-east-1,
     tls: {ca_file: "$TESTENV_CA_FILE"}, max_connections: 2000}
  - {name: my, engine: mysql, listen: 127.0.0.1:19306, upstream: "localhost:$TESTENV_MYSQL_PORT", iam_region: us-east-1,
     tls: {ca_file: "$TESTENV_CA_FILE"}, max_connections: 2000}
YAML
read -r KEY SECRET < <(python3 -c 'import json; i=json.load(open("testenv/credentials.json"))["identities"][0]; print(i["access_key_id"], i["secret_access_key"])')
AWS_ACCESS_KEY_ID="$KEY" AWS_SECRET_ACCESS_KEY="$SECRET" AWS_EC2_METADATA_DISABLED=true \
    "$BIN" --config "$WORK/proxy.yaml" --log-level warning 2> "$WORK/proxy.log" &
PROXY=$!
trap 'kill $PROXY 2>/dev/null; wait $PROXY 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -fs 127.0.0.1:19190/startup >/dev/null 2>&1 && break; sleep 0.2; done

sample() { curl -fs 127.0.0.1:19190/metrics | awk -v t="$1" '
    /^process_open_fds / {f=$2} /^process_resident_memory_bytes / {r=$2} /^iam_db_proxy_heap_in_use_bytes / {h=$2}
    END {printf "%s %d %d %d\n", t, f, r, h}'; }
sample 0 > "$WORK/samples"
echo "SELECT 1;" > "$WORK/select.sql"
PGPASSWORD=unused pgbench -n -C -R 100 -T "$DURATION" -c 8 -j 2 -f "$WORK/select.sql" \
    "host=127.0.0.1 port=19432 dbname=appdb user=bench_user sslmode=disable" > "$WORK/pgbench-churn.log" 2>&1 &
CHURN=$!
PGPASSWORD=unused pgbench -n -R 200 -T "$DURATION" -c 4 -j 1 -f "$WORK/select.sql" \
    "host=127.0.0.1 port=19432 dbname=appdb user=bench_user sslmode=disable" > "$WORK/pgbench-steady.log" 2>&1 &
STEADY=$!
python3 scripts/soak_mysql.py 19306 bench_user appdb 100 4 "$DURATION" > "$WORK/mysql.log" 2>&1 &
MYSQL=$!
elapsed=0
while kill -0 $CHURN 2>/dev/null || kill -0 $MYSQL 2>/dev/null; do
    sleep 10; elapsed=$((elapsed + 10)); sample "$elapsed" >> "$WORK/samples"
done
status=0
wait $CHURN || status=1; wait $STEADY || status=1; wait $MYSQL || status=1
for _ in $(seq 1 100); do
    [ "$(curl -fs 127.0.0.1:19190/metrics | awk '/^iam_db_proxy_connections_active/ {s+=$2} END {print s+0}')" = 0 ] && break; sleep 0.2
done
sample end >> "$WORK/samples"

echo "soak: $DURATION s, $CONFIGURATION build, results in $WORK"
grep -E "number of (transactions actually processed|failed transactions)|latency average|tps" "$WORK/pgbench-churn.log" | sed 's/^/  pg churn:  /'
grep -E "number of (transactions actually processed|failed transactions)|tps" "$WORK/pgbench-steady.log" | sed 's/^/  pg steady: /'
sed 's/^/  /' "$WORK/mysql.log"
awk 'NR==1 {f0=$2; r0=$3; h0=$4} {if ($2>fp) fp=$2; if ($3>rp) rp=$3; if ($4>hp) hp=$4; f=$2; r=$3; h=$4}
     END {printf "  descriptors start %d peak %d end %d\n  RSS start %.1f MB peak %.1f MB end %.1f MB\n  heap in use start %.1f MB peak %.1f MB end %.1f MB\n",
          f0, fp, f, r0/1e6, rp/1e6, r/1e6, h0/1e6, hp/1e6, h/1e6}' "$WORK/samples"
read -r start_fds end_fds < <(awk 'NR==1 {s=$2} {e=$2} END {print s, e}' "$WORK/samples")
[ "$start_fds" = "$end_fds" ] || { echo "  descriptors did not return: $start_fds -> $end_fds"; status=1; }
echo "  proxy log lines with \"error\": $(grep -c "error" "$WORK/proxy.log" || true)"
exit $status
