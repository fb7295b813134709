"""Oracle for the credentials chain: which credentials botocore finds on a described machine.

Reads cases as JSON on stdin, each {"environment": {...}, "profile": NAME or null}; for each,
replaces the process environment with the case's (IMDS and container providers are off, so no
network), creates a botocore session (with `profile` as an explicit profile, as `--profile`
does) and resolves credentials. Prints, per case, {"access_key", "token"} or {"error": class}
or {"none": true}.
"""
import json
import os
import sys

import botocore.session

results = []
for case in json.load(sys.stdin):
    os.environ.clear()
    os.environ.update(case["environment"])
    try:
        session = botocore.session.Session(profile=case.get("profile"))
        credentials = session.get_credentials()
        if credentials is None:
            results.append({"none": True})
        else:
            frozen = credentials.get_frozen_credentials()
            results.append({"access_key": frozen.access_key, "token": frozen.token})
    except Exception as error:  # the class is the answer
        results.append({"error": type(error).__name__})
json.dump(results, sys.stdout)
