#!/bin/sh
# Lays out the runtime image's root file system from a built binary: the binary, exactly the
# shared libraries `ldd` lists for it (and the loader), the system CA roots with the RDS CA
# bundle appended (so `verify-full` trusts RDS with no ca_file) and the bundle on its own at
# /etc/iam-db-proxy/global-bundle.pem (for `ca_file`, which verify-ca needs), /etc/passwd and
# /etc/group with the numeric user 65532, /etc/nsswitch.conf, and a /tmp.
# Shared by the Dockerfile's build stage and docker/build-image.sh.
#   docker/assemble-rootfs.sh BINARY CA_BUNDLE ROOT
set -eu
BINARY=$1
CA_BUNDLE=$2
ROOT=$3
SYSTEM_ROOTS=/etc/ssl/certs/ca-certificates.crt

[ -x "$BINARY" ] || { echo "assemble-rootfs: $BINARY is not an executable" >&2; exit 1; }
[ -s "$CA_BUNDLE" ] || { echo "assemble-rootfs: $CA_BUNDLE is missing or empty" >&2; exit 1; }
grep -q "BEGIN CERTIFICATE" "$CA_BUNDLE" || { echo "assemble-rootfs: $CA_BUNDLE holds no PEM certificate" >&2; exit 1; }
[ -s "$SYSTEM_ROOTS" ] || { echo "assemble-rootfs: $SYSTEM_ROOTS is missing (install ca-certificates)" >&2; exit 1; }

mkdir -p "$ROOT/usr/local/bin" "$ROOT/etc/ssl/certs" "$ROOT/etc/iam-db-proxy" "$ROOT/tmp"
install -m 0755 "$BINARY" "$ROOT/usr/local/bin/iam-db-proxy"
# "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)" and "/lib64/ld-linux-x86-64.so.2 (0x...)".
ldd "$BINARY" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u | while read -r library; do
    cp -L --parents "$library" "$ROOT"
done
cat "$SYSTEM_ROOTS" "$CA_BUNDLE" > "$ROOT/etc/ssl/certs/ca-certificates.crt"
cp "$CA_BUNDLE" "$ROOT/etc/iam-db-proxy/global-bundle.pem"
printf 'root:x:0:0:root:/root:/sbin/nologin\niam-db-proxy:x:65532:65532:iam-db-proxy:/nonexistent:/sbin/nologin\n' > "$ROOT/etc/passwd"
printf 'root:x:0:\niam-db-proxy:x:65532:\n' > "$ROOT/etc/group"
printf 'hosts: files dns\n' > "$ROOT/etc/nsswitch.conf"
chmod 1777 "$ROOT/tmp"
chmod 0644 "$ROOT/etc/ssl/certs/ca-certificates.crt" "$ROOT/etc/iam-db-proxy/global-bundle.pem" "$ROOT/etc/passwd" "$ROOT/etc/group" "$ROOT/etc/nsswitch.conf"
