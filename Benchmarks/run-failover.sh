#!/usr/bin/env bash
# One command for the failover benchmark (about 30 s per round after a debug build): starts the
# local RDS-like servers and runs Tests/IntegrationTests/FailoverBenchmarkTests ROUNDS times
# (default 3). Each round builds a PostgreSQL 15 primary + hot standby on 127.0.0.2/127.0.0.3,
# writes continuously with libpq while the primary is killed and the standby promoted — once
# through the proxy's Aurora writer listener, once directly through a name that moves 5 s after
# the promotion — and reports promotion → first successful write and the failed writes.
# Writes Benchmarks/results/failover.md. Needs root (or sudo) for the servers.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v swift >/dev/null || export PATH="/opt/swift/usr/bin:$PATH"
ROUNDS="${1:-3}"
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
$SUDO testenv/start.sh
swift build --build-tests >&2
OUT=Benchmarks/results/failover.md
ROWS=$(mktemp)
for round in $(seq 1 "$ROUNDS"); do
    echo "failover: round $round of $ROUNDS" >&2
    IAM_DB_PROXY_FAILOVER_REPORT="$ROWS.$round" IAM_DB_PROXY_REQUIRE_TESTENV=1 \
        swift test --skip-build --no-parallel --filter FailoverBenchmarkTests >&2 </dev/null
    tail -n 2 "$ROWS.$round" | sed "s/^| /| $round | /" >> "$ROWS"
done
{
    echo "# Failover: promotion to the first successful write"
    echo
    echo "\`bash Benchmarks/run-failover.sh $ROUNDS\` on $(date -u +%Y-%m-%d), $(nproc) cores. One libpq client writes"
    echo "(INSERT, a new connection after each failure, 20 ms pause after a failure) while the primary is killed"
    echo "(\`pg_ctl -m immediate stop\`) and the standby promoted, and the test's stand-in for Aurora's control"
    echo "plane marks it the writer in \`aurora_replica_status()\`. Through the proxy: a writer listener with"
    echo "\`topology: aurora\` (the client waits in the proxy while the writer is in doubt). Directly: the same"
    echo "client through a name whose address moves 5 s after the promotion (Aurora's DNS TTL; real clients"
    echo "cache longer, so this is the direct client's best case)."
    echo
    echo "| round | client | promotion → first write | failed writes | writes |"
    echo "|---|---|---|---|---|"
    cat "$ROWS"
} > "$OUT"
rm -f "$ROWS" "$ROWS".*
cat "$OUT"
