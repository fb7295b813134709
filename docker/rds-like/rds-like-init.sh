#!/bin/bash
# Runs once when the postgres image initialises its data directory: a CA and a server
# certificate for the name `rds-like` (the CA goes to /ca, a volume the proxy trusts), TLS on,
# IAM users through PAM as on RDS, and the demo's IAM user.
set -euo pipefail
mkdir -p /ca
cd /ca
if [ ! -f ca.pem ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=rds-like demo CA" -keyout ca.key -out ca.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=rds-like" -keyout server.key -out server.csr 2>/dev/null
    printf 'subjectAltName=DNS:rds-like\n' > server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 -extfile server.ext -out server.pem 2>/dev/null
    chmod 0644 ca.pem
fi
install -m 0600 server.key "$PGDATA/server.key"
install -m 0644 server.pem "$PGDATA/server.pem"
cat >> "$PGDATA/postgresql.conf" <<CONF
ssl = on
ssl_cert_file = 'server.pem'
ssl_key_file = 'server.key'
CONF
cat > "$PGDATA/pg_hba.conf" <<HBA
local   all  all                  trust
hostssl all  +rds_iam  0.0.0.0/0  pam pamservice=rds-like-pg
host    all  +rds_iam  0.0.0.0/0  reject
host    all  all       0.0.0.0/0  scram-sha-256
HBA
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" <<'SQL'
CREATE ROLE rds_iam;
CREATE ROLE iam_user LOGIN;
GRANT rds_iam TO iam_user;
CREATE DATABASE appdb OWNER iam_user;
SQL
