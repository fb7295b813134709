#!/usr/bin/env bash
# Runs every test: installs what is missing, builds, starts the local RDS-like servers,
# runs the unit and integration tests against them, and stops the servers again.
# Needs root (or sudo) for the servers' PAM configuration. Exit code: the tests' result.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v swift >/dev/null || export PATH="/opt/swift/usr/bin:$PATH"
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"

# The folders of Sources/IAMDBProxy depend on each other one way (Sources/IAMDBProxy/LAYERS).
python3 scripts/check_layers.py --self-test
python3 scripts/check_layers.py

$SUDO testenv/start.sh
trap '$SUDO testenv/stop.sh' EXIT

echo "test: building (a first build takes about 8 minutes on 2 cores)" >&2
swift build --build-tests
# Serially: integration tests read the shared verifier log and must not see each other's logins.
IAM_DB_PROXY_REQUIRE_TESTENV=1 swift test --skip-build --no-parallel "$@"
