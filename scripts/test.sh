#!/usr/bin/env bash
# Runs every test: installs what is missing, builds, starts the local RDS-like servers,
# runs the unit and integration tests against them, validates docker/ and builds and runs the
# container image, and stops the servers again.
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

# With a test filter, only those tests. Otherwise docker/: every manifest against its schema and
# the proxy's own check, then the image, built from the release binary and run from its own root
# file system (about 10 more minutes for the first release build; IAM_DB_PROXY_SKIP_IMAGE=1 skips it).
[ $# -eq 0 ] || exit 0
python3 docker/validate.py "$(swift build --show-bin-path)/iam-db-proxy"
[ "${IAM_DB_PROXY_SKIP_IMAGE:-}" = 1 ] && exit 0
# shellcheck disable=SC1091
. /tmp/iam-db-proxy-testenv/testenv.env
# The test CA stands in for AWS's RDS bundle: the proxy in the image must trust the local server with no ca_file.
docker/build-image.sh "$TESTENV_CA_FILE"
$SUDO docker/test-image.sh
BINARY="$(swift build -c release --show-bin-path)/iam-db-proxy" scripts/release.sh
