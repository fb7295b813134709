"""A small real Secrets Manager on loopback, for tests: GetSecretValue only, with the request's
SigV4 signature recomputed the way AWS does — written from the SigV4 specification, sharing no
code with the Swift signer.

    python3 fake_secrets_manager.py CREDENTIALS_JSON SECRETS_JSON PORT_FILE

Answers POST / with X-Amz-Target secretsmanager.GetSecretValue. Checks: the Authorization
header's credential scope (key id from CREDENTIALS_JSON, service secretsmanager), that host,
x-amz-date, x-amz-target and content-type are signed, the signature over the canonical request,
x-amz-security-token for temporary keys, and a clock skew of at most 5 minutes. SECRETS_JSON
({"id": {"AWSCURRENT": "secret string", "AWSPENDING": …}}, or "deny" / "undecryptable" for those
errors, or {"AWSCURRENT": {"binary": "base64"}} for a SecretBinary) is read on every request, so a test
rotates a secret by rewriting the file. Every request is appended to SECRETS_JSON + ".log" as
one JSON line (id, stage, outcome), never a secret value. Binds 127.0.0.1 on a free port and
writes it to PORT_FILE.
"""
import datetime
import hashlib
import hmac
import http.server
import json
import sys

CREDENTIALS, SECRETS, PORT_FILE = sys.argv[1:4]
MAX_SKEW = datetime.timedelta(minutes=5)


def identities():
    with open(CREDENTIALS) as handle:
        return {identity["access_key_id"]: identity for identity in json.load(handle)["identities"]}


def hmac_sha256(key, text):
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def expected_signature(secret, method, path, headers, signed_names, body, timestamp, scope):
    canonical_headers = "".join("%s:%s\n" % (name, " ".join(headers[name].split())) for name in signed_names)
    canonical_request = "\n".join([method, path, "", canonical_headers, ";".join(signed_names), hashlib.sha256(body).hexdigest()])
    string_to_sign = "\n".join(["AWS4-HMAC-SHA256", timestamp, scope, hashlib.sha256(canonical_request.encode()).hexdigest()])
    day, region, service, _ = scope.split("/")
    key = hmac_sha256(("AWS4" + secret).encode(), day)
    for part in (region, service, "aws4_request"):
        key = hmac_sha256(key, part)
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, document):
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def refuse(self, status, kind, message, record):
        record["outcome"] = kind
        self.record(record)
        self.answer(status, {"__type": kind, "message": message})

    def record(self, record):
        with open(SECRETS + ".log", "a") as handle:
            handle.write(json.dumps(record) + "\n")

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {name.lower(): value for name, value in self.headers.items()}
        record = {}
        if headers.get("x-amz-target") != "secretsmanager.GetSecretValue":
            return self.refuse(400, "UnknownOperationException", "only GetSecretValue", record)
        try:
            request = json.loads(body)
            record = {"id": request["SecretId"], "stage": request.get("VersionStage", "AWSCURRENT")}
        except (ValueError, KeyError):
            return self.refuse(400, "ValidationException", "bad request body", record)
        authorization = headers.get("authorization", "")
        try:
            algorithm, rest = authorization.split(" ", 1)
            fields = dict(part.strip().split("=", 1) for part in rest.split(","))
            key_id, scope = fields["Credential"].split("/", 1)
            signed_names = fields["SignedHeaders"].split(";")
        except ValueError:
            return self.refuse(400, "IncompleteSignatureException", "malformed Authorization header", record)
        identity = identities().get(key_id)
        if algorithm != "AWS4-HMAC-SHA256" or identity is None:
            return self.refuse(400, "UnrecognizedClientException", "The security token included in the request is invalid.", record)
        if scope.split("/")[2] != "secretsmanager":
            return self.refuse(400, "InvalidSignatureException", "Credential should be scoped to correct service: 'secretsmanager'.", record)
        for required in ("host", "x-amz-date", "x-amz-target", "content-type"):
            if required not in signed_names:
                return self.refuse(400, "InvalidSignatureException", "%s is not signed" % required, record)
        if identity.get("session_token") and ("x-amz-security-token" not in signed_names
                                              or headers.get("x-amz-security-token") != identity["session_token"]):
            return self.refuse(400, "UnrecognizedClientException", "The security token included in the request is invalid.", record)
        timestamp = headers.get("x-amz-date", "")
        try:
            signed_at = datetime.datetime.strptime(timestamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
        except ValueError:
            return self.refuse(400, "IncompleteSignatureException", "bad x-amz-date", record)
        if abs(datetime.datetime.now(datetime.timezone.utc) - signed_at) > MAX_SKEW or scope.split("/")[0] != timestamp[:8]:
            return self.refuse(400, "InvalidSignatureException", "Signature expired: %s is now earlier or later than 5 minutes" % timestamp, record)
        if any(name not in headers for name in signed_names):
            return self.refuse(400, "InvalidSignatureException", "a signed header is missing", record)
        expected = expected_signature(identity["secret_access_key"], "POST", self.path, headers, signed_names, body, timestamp, scope)
        if not hmac.compare_digest(expected, fields.get("Signature", "")):
            return self.refuse(400, "InvalidSignatureException",
                               "The request signature we calculated does not match the signature you provided.", record)
        with open(SECRETS) as handle:
            secrets = json.load(handle)
        versions = secrets.get(request["SecretId"])
        if versions is None:
            return self.refuse(400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.", record)
        if versions == "deny":
            return self.refuse(400, "AccessDeniedException", "User is not authorized to perform: secretsmanager:GetSecretValue", record)
        if versions == "undecryptable":
            return self.refuse(400, "DecryptionFailure", "Secrets Manager can't decrypt the protected secret text using the provided KMS key.", record)
        stage = record["stage"]
        if stage not in versions:
            return self.refuse(400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret value for staging label: " + stage, record)
        record["outcome"] = "ok"
        self.record(record)
        value = versions[stage]
        answer = {"ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + request["SecretId"], "Name": request["SecretId"],
                  "VersionId": hashlib.sha256(json.dumps(value).encode()).hexdigest()[:32], "VersionStages": [stage]}
        if isinstance(value, dict) and "binary" in value:
            answer["SecretBinary"] = value["binary"]
        else:
            answer["SecretString"] = value
        self.answer(200, answer)


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(PORT_FILE, "w") as handle:
    handle.write(str(server.server_address[1]))
# The port on standard output too: the starter waits for this line, not for a file to appear.
print(server.server_address[1], flush=True)
server.serve_forever()
