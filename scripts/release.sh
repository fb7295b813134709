#!/usr/bin/env bash
# Builds the release tarball: a stripped release binary with the Swift runtime linked in, the
# LICENSE, README, example configuration, alert rules and systemd unit, as
# .build/dist/iam-db-proxy-VERSION-linux-ARCH.tar.gz with its SHA-256 sum beside it. Prints the
# newest glibc symbol version the binary needs: hosts with an older glibc (Amazon Linux 2 has
# 2.26) cannot run it and should use the container image instead.
#   scripts/release.sh            (BINARY=path uses a binary built already)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v swift >/dev/null || export PATH="/opt/swift/usr/bin:$PATH"
VERSION="$(sed -n 's/.*static let string = "\(.*\)".*/\1/p' Sources/IAMDBProxy/Observability/ProxyVersion.swift)"
ARCH="$(uname -m)"
NAME="iam-db-proxy-$VERSION-linux-$ARCH"
if [ -z "${BINARY:-}" ]; then
    swift build -c release --product iam-db-proxy --static-swift-stdlib -Xlinker -s >&2
    BINARY="$(swift build -c release --show-bin-path)/iam-db-proxy"
fi
DIST=.build/dist
STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/$NAME" "$DIST"
install -m 0755 "$BINARY" "$STAGE/$NAME/iam-db-proxy"
strip "$STAGE/$NAME/iam-db-proxy" 2>/dev/null || true
cp LICENSE README.md "$STAGE/$NAME/"
cp config/example.yaml "$STAGE/$NAME/proxy.example.yaml"
cp docker/systemd/iam-db-proxy.service config/prometheus/alerts.yaml "$STAGE/$NAME/"
# Reproducible order and owners.
tar --sort=name --owner=0 --group=0 --numeric-owner -C "$STAGE" -czf "$DIST/$NAME.tar.gz" "$NAME"
(cd "$DIST" && sha256sum "$NAME.tar.gz" > "$NAME.tar.gz.sha256")
glibc="$(objdump -T "$STAGE/$NAME/iam-db-proxy" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)"
[ "$("$STAGE/$NAME/iam-db-proxy" version)" = "iam-db-proxy $VERSION" ] || { echo "release: the packed binary does not run" >&2; exit 1; }
echo "release: $DIST/$NAME.tar.gz ($(stat -c %s "$DIST/$NAME.tar.gz") bytes; binary $(stat -c %s "$STAGE/$NAME/iam-db-proxy") bytes)" >&2
echo "release: $(cat "$DIST/$NAME.tar.gz.sha256")" >&2
echo "release: needs glibc ${glibc#GLIBC_} or newer (objdump -T)" >&2
