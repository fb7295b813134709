#!/usr/bin/env bash
# One command for the connection benchmark (about 2 minutes plus a release build): starts the
# local RDS-like servers, builds iam-db-proxy in release mode and runs Benchmarks/e2e/connect.py,
# which compares new connections per second — direct with an IAM token, direct with a SCRAM
# password, through the proxy, and through the proxy with session_reuse — and writes
# Benchmarks/results/session-reuse.{md,json}. Needs root (or sudo) for the servers.
# Extra arguments go to connect.py (--rounds, --seconds, --clients).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v swift >/dev/null || export PATH="/opt/swift/usr/bin:$PATH"
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
$SUDO testenv/start.sh
echo "connect: building iam-db-proxy in release mode" >&2
swift build -c release --product iam-db-proxy >&2
exec python3 Benchmarks/e2e/connect.py --proxy "$(swift build -c release --show-bin-path)/iam-db-proxy" "$@"
