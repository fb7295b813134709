"""Oracle for the Swift signer: reads cases as JSON on stdin, prints boto3's tokens as JSON.

Each case: host, port, user, region, access_key_id, secret_access_key, session_token (or
null), epoch (seconds). botocore's clock is frozen at `epoch` for each case.
"""
import datetime
import json
import sys

import boto3
import botocore.auth

results = []
for case in json.load(sys.stdin):
    frozen = datetime.datetime.fromtimestamp(case["epoch"], datetime.timezone.utc).replace(tzinfo=None)
    botocore.auth.get_current_datetime = lambda frozen=frozen: frozen
    session = boto3.session.Session(
        aws_access_key_id=case["access_key_id"], aws_secret_access_key=case["secret_access_key"],
        aws_session_token=case.get("session_token"), region_name=case["region"])
    client = session.client("rds", region_name=case["region"])
    results.append(client.generate_db_auth_token(case["host"], case["port"], case["user"], Region=case["region"]))
json.dump(results, sys.stdout)
