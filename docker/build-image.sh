#!/usr/bin/env bash
# Builds the runtime image of docker/Dockerfile without a registry: a locally built release
# binary (Swift runtime linked in, stripped) laid out by assemble-rootfs.sh on `scratch` with
# buildah. Commits iam-db-proxy:VERSION to buildah's store and writes a docker-archive
# (`docker load -i` / `podman load -i`), then prints the binary and image sizes.
#
#   docker/build-image.sh [CA_BUNDLE]
#
# CA_BUNDLE: the RDS CA bundle, AWS's global-bundle.pem
# (https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem); default
# docker/global-bundle.pem. Refresh it when AWS rotates the RDS CAs, and rebuild.
# Environment: BINARY (a built binary to use instead of building one), OUTPUT (the archive,
# default .build/image/iam-db-proxy-VERSION.tar).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v swift >/dev/null || export PATH="/opt/swift/usr/bin:$PATH"
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
# Docker's image format throughout: OCI image configs have no HEALTHCHECK.
export BUILDAH_FORMAT=docker
CA_BUNDLE="${1:-docker/global-bundle.pem}"
VERSION="$(sed -n 's/.*static let string = "\(.*\)".*/\1/p' Sources/IAMDBProxy/Observability/ProxyVersion.swift)"
OUTPUT="${OUTPUT:-.build/image/iam-db-proxy-$VERSION.tar}"
IMAGE="iam-db-proxy:$VERSION"

[ -s "$CA_BUNDLE" ] || {
    echo "build-image: no CA bundle at $CA_BUNDLE; download AWS's RDS bundle first:" >&2
    echo "  curl -fsSLo docker/global-bundle.pem https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem" >&2
    exit 1
}
if ! command -v buildah >/dev/null; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends buildah >/dev/null
fi
if [ -z "${BINARY:-}" ]; then
    echo "build-image: building the release binary (about 11 minutes the first time on 2 cores)" >&2
    swift build -c release --product iam-db-proxy --static-swift-stdlib -Xlinker -s >&2
    BINARY="$(swift build -c release --show-bin-path)/iam-db-proxy"
fi

ROOTFS="$(mktemp -d)"
trap 'rm -rf "$ROOTFS"' EXIT
docker/assemble-rootfs.sh "$BINARY" "$CA_BUNDLE" "$ROOTFS"

container="$($SUDO buildah from scratch)"
$SUDO buildah copy --quiet "$container" "$ROOTFS" / >/dev/null
$SUDO buildah config \
    --user 65532:65532 \
    --port 5432 --port 3306 --port 9090 \
    --entrypoint '["/usr/local/bin/iam-db-proxy"]' --cmd '--help' \
    --healthcheck 'CMD /usr/local/bin/iam-db-proxy health' \
    --healthcheck-interval 10s --healthcheck-timeout 5s --healthcheck-start-period 10s \
    --label org.opencontainers.image.title=iam-db-proxy \
    --label "org.opencontainers.image.description=Logs unmodified applications in to RDS and Aurora with IAM database authentication" \
    --label "org.opencontainers.image.version=$VERSION" \
    --label org.opencontainers.image.source=https://github.com/iam-db-proxy/iam-db-proxy \
    --label org.opencontainers.image.licenses=MIT \
    "$container"

$SUDO buildah commit --quiet --format docker --rm "$container" "$IMAGE" >/dev/null
# The image this name pointed at before is left untagged: drop it, so rebuilds do not pile up.
$SUDO buildah rmi --prune >/dev/null 2>&1 || true
mkdir -p "$(dirname "$OUTPUT")"
rm -f "$OUTPUT"
$SUDO buildah push --quiet "$IMAGE" "docker-archive:$OUTPUT:$IMAGE" >/dev/null
printf 'build-image: %s committed; archive %s\n' "$IMAGE" "$OUTPUT" >&2
printf 'build-image: binary %s bytes, image archive %s bytes, gzip-compressed %s bytes\n' \
    "$(stat -c %s "$BINARY")" "$(stat -c %s "$OUTPUT")" "$(gzip -c "$OUTPUT" | wc -c)" >&2
