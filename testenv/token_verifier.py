"""Independent verifier for RDS IAM auth tokens, written against the SigV4 spec.

It shares no code with the Swift signer: it re-derives the canonical request from the
token's decoded parameters and checks the signature against the fixed test credentials in
credentials.json, the action, the database user, the signed host:port and the time window.

Used two ways:
  * as a PAM module through pam_python (pam_sm_authenticate), which is how the local
    PostgreSQL and MariaDB check IAM users, like RDS does;
  * from the command line: `python3 token_verifier.py CONFIG SERVICE USER TOKEN` prints the verdict.
"""

import datetime
import hashlib
import hmac
import json
import os
import sys
import urllib.parse

MAX_EXPIRES = 900
CLOCK_SKEW = 300


def rfc3986(value):
    return urllib.parse.quote(value, safe="~")  # quote keeps A-Za-z0-9_.-~ and escapes the rest


def parse_token(token):
    if "://" in token:
        raise ValueError("token must not carry a scheme")
    authority, sep, rest = token.partition("/")
    if not sep or not rest.startswith("?"):
        raise ValueError("token is not HOST:PORT/?QUERY")
    pairs = []
    for item in rest[1:].split("&"):
        key, eq, value = item.partition("=")
        if not eq:
            raise ValueError("query item without '='")
        pairs.append((urllib.parse.unquote(key, errors="strict"),
                      urllib.parse.unquote(value, errors="strict")))
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("duplicate query parameter")
    return authority, dict(pairs)


def signing_key(secret, date, region, service):
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def verify(config, user, token, now=None):
    """Returns (ok, reason). Never includes the token or secrets in the reason."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    try:
        authority, params = parse_token(token)
    except ValueError as error:
        return False, "malformed token: %s" % error
    required = ["Action", "DBUser", "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date",
                "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature"]
    missing = [k for k in required if k not in params]
    if missing:
        return False, "missing parameters: %s" % ",".join(missing)
    allowed = set(required) | {"X-Amz-Security-Token"}
    extra = sorted(set(params) - allowed)
    if extra:
        return False, "unexpected parameters: %s" % ",".join(extra)
    if params["Action"] != "connect":
        return False, "action is not connect"
    if params["DBUser"] != user:
        return False, "DBUser %r does not match login user %r" % (params["DBUser"], user)
    if params["X-Amz-Algorithm"] != "AWS4-HMAC-SHA256":
        return False, "unsupported algorithm"
    if params["X-Amz-SignedHeaders"] != "host":
        return False, "signed headers must be exactly 'host'"
    host_header = authority.lower()
    if not any(host_matches(host_header, allowed) for allowed in config["hosts"]):
        return False, "signed host %r is not this server (%s)" % (host_header, ",".join(config["hosts"]))
    scope = params["X-Amz-Credential"].split("/")
    if len(scope) != 5 or scope[3] != "rds-db" or scope[4] != "aws4_request":
        return False, "bad credential scope"
    key_id, scope_date, region = scope[0], scope[1], scope[2]
    if region != config["region"]:
        return False, "region %r is not %r" % (region, config["region"])
    identity = next((i for i in config["identities"] if i["access_key_id"] == key_id), None)
    if identity is None:
        return False, "unknown access key id %s" % key_id
    session_token = params.get("X-Amz-Security-Token")
    if identity.get("session_token"):
        if session_token != identity["session_token"]:
            return False, "session token missing or wrong"
    elif session_token is not None:
        return False, "session token present for long-term credentials"
    try:
        signed_at = datetime.datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(
            tzinfo=datetime.timezone.utc)
        expires = int(params["X-Amz-Expires"])
    except ValueError:
        return False, "bad X-Amz-Date or X-Amz-Expires"
    if scope_date != params["X-Amz-Date"][:8]:
        return False, "credential scope date differs from X-Amz-Date"
    if not 0 < expires <= MAX_EXPIRES:
        return False, "X-Amz-Expires out of range"
    age = (now - signed_at).total_seconds()
    if age < -CLOCK_SKEW:
        return False, "token signed in the future"
    if age > expires:
        return False, "token expired %d s ago" % int(age - expires)

    encoded = sorted((rfc3986(k), rfc3986(v)) for k, v in params.items() if k != "X-Amz-Signature")
    canonical_query = "&".join("%s=%s" % pair for pair in encoded)
    canonical_request = "\n".join([
        "GET", "/", canonical_query, "host:%s" % host_header, "", "host",
        hashlib.sha256(b"").hexdigest()])
    string_to_sign = "\n".join([
        "AWS4-HMAC-SHA256", params["X-Amz-Date"], "/".join(scope[1:]),
        hashlib.sha256(canonical_request.encode()).hexdigest()])
    key = signing_key(identity["secret_access_key"], scope_date, region, "rds-db")
    expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, params["X-Amz-Signature"]):
        return False, "signature mismatch"
    return True, "ok (key %s, %s session token)" % (key_id, "with" if session_token else "no")


def host_matches(host_header, allowed):
    """`allowed` is host:port, or host:* for a server on any port (throwaway test servers)."""
    allowed = allowed.lower()
    if allowed.endswith(":*"):
        return host_header.rsplit(":", 1)[0] == allowed[:-2] and ":" in host_header
    return host_header == allowed


def load_config(path, service):
    with open(path) as handle:
        config = json.load(handle)
    merged = dict(config)
    merged["hosts"] = config["services"][service]["hosts"]
    return merged


def fingerprint(token):
    """A short hash that tells tokens apart in the log without revealing them."""
    return hashlib.sha256((token or "").encode()).hexdigest()[:16]


def is_revoked(config, token):
    """Tests list fingerprints in revoked.txt to make the server refuse a token it would accept."""
    try:
        with open(config.get("revoked_list", os.devnull)) as handle:
            return fingerprint(token) in {line.strip() for line in handle}
    except OSError:
        return False


def log_verdict(config, service, user, ok, reason, token=None):
    line = json.dumps({
        "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds"),
        "service": service, "user": user, "ok": ok, "reason": reason, "fp": fingerprint(token)})
    try:
        with open(config["verdict_log"], "a") as handle:
            handle.write(line + "\n")
    except OSError:
        pass


# --- pam_python entry points -------------------------------------------------------------

def pam_sm_authenticate(pamh, flags, argv):
    config_path, service = argv[1], argv[2]
    try:
        config = load_config(config_path, service)
        user = pamh.get_user(None)
        token = pamh.authtok
        if token is None:
            reply = pamh.conversation(pamh.Message(pamh.PAM_PROMPT_ECHO_OFF, "Password: "))
            token = reply.resp
        ok, reason = verify(config, user, token or "")
        if ok and is_revoked(config, token):
            ok, reason = False, "token revoked by the test"
    except Exception as error:  # a verifier bug must deny, never allow
        ok, reason, user = False, "verifier error: %s" % type(error).__name__, locals().get("user")
        config = locals().get("config") or {"verdict_log": os.devnull}
    log_verdict(config, service, user, ok, reason, locals().get("token"))
    return pamh.PAM_SUCCESS if ok else pamh.PAM_AUTH_ERR


def pam_sm_setcred(pamh, flags, argv):
    return pamh.PAM_SUCCESS


def pam_sm_acct_mgmt(pamh, flags, argv):
    return pamh.PAM_SUCCESS


if __name__ == "__main__":
    cfg = load_config(sys.argv[1], sys.argv[2])
    verdict, why = verify(cfg, sys.argv[3], sys.argv[4])
    print(("ACCEPT " if verdict else "REJECT ") + why)
    sys.exit(0 if verdict else 1)
