#!/usr/bin/env bash
# Installs the system packages the local servers, tests and demo need, when missing.
set -euo pipefail
needed=()
for pkg in postgresql-15 postgresql-client-15 libpq-dev mariadb-server mariadb-client libpam-python openssl python3; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || needed+=("$pkg")
done
if [ ${#needed[@]} -gt 0 ]; then
    echo "testenv: installing ${needed[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${needed[@]}" >/dev/null
fi
python3 -c 'import boto3' 2>/dev/null || pip install -q boto3
