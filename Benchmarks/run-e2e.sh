#!/usr/bin/env bash
# One command for the end-to-end comparison (about 10 minutes plus a first release build):
# installs pgbouncer, sysbench and matplotlib if missing, starts the local RDS-like servers,
# builds iam-db-proxy in release mode, and runs Benchmarks/e2e/run.py, which alternates the
# proxy, a direct TLS connection, PgBouncer and a minimal C relay (the floor) and writes
# Benchmarks/results/e2e.{md,json,png}.
# Needs root (or sudo) for the servers. Extra arguments go to run.py (--rounds, --seconds, ...).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v swift >/dev/null || export PATH="/opt/swift/usr/bin:$PATH"
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"

$SUDO testenv/start.sh
if ! command -v pgbouncer >/dev/null || ! command -v gcc >/dev/null || [ ! -f /usr/include/openssl/ssl.h ]; then
    $SUDO apt-get update -qq
    # PgBouncer and what the C floor (Benchmarks/c-relay/relay.c) is compiled with.
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends pgbouncer gcc libc6-dev libssl-dev >/dev/null
fi
# The packaged service is not used; the harness runs its own PgBouncer.
$SUDO systemctl disable --now pgbouncer >/dev/null 2>&1 || true
python3 -c 'import matplotlib' 2>/dev/null || python3 -m pip install -q --root-user-action=ignore matplotlib

echo "e2e: building iam-db-proxy in release mode" >&2
swift build -c release --product iam-db-proxy >&2
exec python3 Benchmarks/e2e/run.py --proxy "$(swift build -c release --show-bin-path)/iam-db-proxy" "$@"
