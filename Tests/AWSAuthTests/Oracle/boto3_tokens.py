"""Oracle for the Swift signer: reads cases as JSON on stdin, prints boto3's tokens as JSON.

Each case: host, port, user, region, access_key_id, secret_access_key, session_token (absent
for long-term keys), epoch (seconds). botocore's clock is frozen at `epoch` for each case.
One client per region is reused with each case's credentials (creating a client costs ~0.2 s).
"""
import datetime
import json
import sys

import boto3
import botocore.auth
import botocore.credentials

clients = {}
results = []
for case in json.load(sys.stdin):
    frozen = datetime.datetime.fromtimestamp(case["epoch"], datetime.timezone.utc).replace(tzinfo=None)
    botocore.auth.get_current_datetime = lambda frozen=frozen: frozen
    region = case["region"]
    if region not in clients:
        session = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name=region)
        clients[region] = session.client("rds", region_name=region)
    client = clients[region]
    client._request_signer._credentials = botocore.credentials.Credentials(
        case["access_key_id"], case["secret_access_key"], case.get("session_token"))
    results.append(client.generate_db_auth_token(case["host"], case["port"], case["user"], Region=region))
json.dump(results, sys.stdout)
