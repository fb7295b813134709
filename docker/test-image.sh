#!/usr/bin/env bash
# Runs the image docker/build-image.sh built the way a container runtime would, without one
# (`podman run` is refused on these machines): mounts the image's root file system with
# buildah, bind-mounts /proc, /dev, /etc/hosts, /etc/resolv.conf and a configuration folder
# into it, and runs its binary there with chroot as the image's numeric user. The proxy then
# logs a real psql in to the local RDS-like PostgreSQL with `verify-full` and no `ca_file` (the
# image's system roots hold the bundle it was built with), and `iam-db-proxy health` inside the
# image answers. Needs root, the local servers (testenv/start.sh) and the image.
#   docker/test-image.sh [IMAGE]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VERSION="$(sed -n 's/.*static let string = "\(.*\)".*/\1/p' Sources/IAMDBProxy/Observability/ProxyVersion.swift)"
IMAGE="${1:-iam-db-proxy:$VERSION}"
# shellcheck disable=SC1091
. /tmp/iam-db-proxy-testenv/testenv.env
PORT=16432
ADMIN_PORT=16490

container="$(buildah from --pull-never "$IMAGE")"
root="$(buildah mount "$container")"
config="$(mktemp -d)"
mounted=()
cleanup() {
    [ -n "${proxy_pid:-}" ] && kill "$proxy_pid" 2>/dev/null || true
    for ((index = ${#mounted[@]} - 1; index >= 0; index--)); do umount -l "${mounted[index]}" 2>/dev/null || true; done
    buildah umount "$container" >/dev/null 2>&1 || true
    buildah rm "$container" >/dev/null 2>&1 || true
    rm -rf "$config"
}
trap cleanup EXIT
fail() { echo "test-image: FAILED: $*" >&2; [ -f "$config/proxy.log" ] && sed 's/^/  proxy: /' "$config/proxy.log" >&2; exit 1; }

# What the image must hold, and must not: the binary as the entrypoint, a numeric user, no shell.
[ "$(buildah inspect --format '{{.Docker.Config.User}}' "$IMAGE")" = "65532:65532" ] || fail "the image's user is not 65532:65532"
buildah inspect --format '{{.Docker.Config.Healthcheck.Test}}' "$IMAGE" | grep -q "iam-db-proxy health" || fail "no HEALTHCHECK running iam-db-proxy health"
[ ! -e "$root/bin/sh" ] || fail "the image has a shell"

for target in /proc /dev; do mkdir -p "$root$target"; mount --rbind "$target" "$root$target"; mounted+=("$root$target"); done
for file in /etc/hosts /etc/resolv.conf; do touch "$root$file"; mount --bind "$file" "$root$file"; mounted+=("$root$file"); done
mkdir -p "$root/config"; mount --bind "$config" "$root/config"; mounted+=("$root/config")
cat > "$config/proxy.yaml" <<YAML
http: {listen: 127.0.0.1:$ADMIN_PORT}
listeners:
  - name: pg
    engine: postgres
    listen: 127.0.0.1:$PORT
    upstream: localhost:$TESTENV_PG_PORT
    iam_region: us-east-1
YAML
chmod -R a+rX "$config"
eval "$(python3 -c '
import json
i = json.load(open("testenv/credentials.json"))["identities"][0]
print("export AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s" % (i["access_key_id"], i["secret_access_key"]))')"

# As a runtime starts a container: an empty environment but for what the task gives it.
in_image=(env -i PATH=/usr/local/bin AWS_ACCESS_KEY_ID="$AWS_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY"
          AWS_EC2_METADATA_DISABLED=true /usr/sbin/chroot --userspec=65532:65532 "$root")
run_in_image() { "${in_image[@]}" "$@"; }

run_in_image /usr/local/bin/iam-db-proxy check --config /config/proxy.yaml >/dev/null || fail "check --config in the image"
# Not through the function: env and chroot exec the proxy, so $! is the proxy itself.
"${in_image[@]}" /usr/local/bin/iam-db-proxy --config /config/proxy.yaml >"$config/proxy.log" 2>&1 &
proxy_pid=$!
for _ in $(seq 1 100); do grep -q "admin HTTP server up" "$config/proxy.log" && grep -q "listening" "$config/proxy.log" && break; sleep 0.1; done
grep -q "listening" "$config/proxy.log" || fail "the proxy in the image did not start"

answer="$(psql "host=127.0.0.1 port=$PORT dbname=appdb user=iam_user sslmode=disable connect_timeout=10" -XAtc \
    "SELECT current_user || ' ' || ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")" || fail "psql through the proxy in the image"
[ "$answer" = "iam_user true" ] || fail "psql said '$answer', not 'iam_user true'"
health="$(run_in_image /usr/local/bin/iam-db-proxy health --url "http://127.0.0.1:$ADMIN_PORT/readiness")" || fail "health: $health"
[ "$health" = "200 ok" ] || fail "health said '$health'"

kill -TERM "$proxy_pid"
wait "$proxy_pid" || fail "the proxy in the image exited $? after SIGTERM"
proxy_pid=""
echo "test-image: ok: $IMAGE ran as 65532:65532 from its own root file system; psql -> proxy (verify-full, no ca_file) -> PostgreSQL as iam_user; health 200" >&2
