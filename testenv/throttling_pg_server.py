"""A small scripted PostgreSQL-like server that throttles IAM logins the way AWS documents RDS
Proxy doing it, for tests of the proxy's retry: the first THROTTLE logins (of any user) are
answered `FATAL 08004 The IAM authentication failed because of too many competing requests.`
once their token has been read; the others are checked by the independent token verifier
(`token_verifier.py`, the one PAM uses in front of the real servers) and logged in. Written from
the PostgreSQL protocol documentation, sharing no code with the proxy.

    python3 throttling_pg_server.py CERT KEY VERIFIER_JSON THROTTLE LOG_FILE

The token must be signed for a host the verifier's `pg` service lists (give the proxy's
listener iam_host/iam_default_port). TLS is required (SSLRequest, then the handshake). After a
login every simple Query gets one row with one column: the user's name (`f` for the proxy's
`SELECT pg_is_in_recovery()`); Terminate closes. Each
login appends one JSON line to LOG_FILE: user, outcome (throttled, ok, denied) and the
verifier's reason — never the token. Binds 127.0.0.1 on a free port and prints it.
"""
import json
import os
import socket
import ssl
import struct
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import token_verifier  # noqa: E402

CERT, KEY, VERIFIER_JSON, THROTTLE, LOG = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
THROTTLE_MESSAGE = "The IAM authentication failed because of too many competing requests."
throttled = 0
lock = threading.Lock()


def recv_exact(sock, count):
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def message(kind, body=b""):
    return kind + struct.pack("!I", len(body) + 4) + body


def read_message(sock):
    kind = recv_exact(sock, 1)
    length = struct.unpack("!I", recv_exact(sock, 4))[0]
    return kind, recv_exact(sock, length - 4)


def error(code, text):
    return message(b"E", b"SFATAL\0VFATAL\0C" + code.encode() + b"\0M" + text.encode() + b"\0\0")


def log(record):
    with open(LOG, "a") as handle:
        handle.write(json.dumps(record) + "\n")


def serve(raw):
    sock = raw
    try:
        length, code = struct.unpack("!II", recv_exact(raw, 8))
        if code != 80877103:  # SSLRequest
            return
        raw.sendall(b"S")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(CERT, KEY)
        sock = context.wrap_socket(raw, server_side=True)
        length = struct.unpack("!I", recv_exact(sock, 4))[0]
        startup = recv_exact(sock, length - 4)[4:].split(b"\0")
        parameters = dict(zip(startup[0::2], startup[1::2]))
        user = parameters.get(b"user", b"").decode()
        sock.sendall(message(b"R", struct.pack("!I", 3)))  # AuthenticationCleartextPassword
        kind, body = read_message(sock)
        token = body.rstrip(b"\0").decode()
        global throttled
        with lock:
            throttle = throttled < THROTTLE
            if throttle:
                throttled += 1
        if throttle:
            log({"user": user, "outcome": "throttled"})
            sock.sendall(error("08004", THROTTLE_MESSAGE))
            return
        ok, reason = token_verifier.verify(token_verifier.load_config(VERIFIER_JSON, "pg"), user, token)
        log({"user": user, "outcome": "ok" if ok else "denied", "reason": reason})
        if not ok:
            sock.sendall(error("28P01", "IAM authentication failed for user %s. Check the IAM token for this user and try again." % user))
            return
        greeting = message(b"R", struct.pack("!I", 0))
        for name, value in [(b"server_version", b"15.0"), (b"client_encoding", b"UTF8"), (b"standard_conforming_strings", b"on")]:
            greeting += message(b"S", name + b"\0" + value + b"\0")
        greeting += message(b"K", struct.pack("!I", os.getpid()) + os.urandom(4)) + message(b"Z", b"I")
        sock.sendall(greeting)
        while True:
            kind, body = read_message(sock)
            if kind == b"X":
                return
            if kind != b"Q":
                sock.sendall(error("0A000", "only simple queries here"))
                return
            # The proxy's stale-DNS guard asks whether this is a standby: it is not.
            value = b"f" if b"pg_is_in_recovery" in body else user.encode()
            row = message(b"T", struct.pack("!H", 1) + b"user\0" + struct.pack("!IHIhih", 0, 0, 25, -1, -1, 0))
            row += message(b"D", struct.pack("!HI", 1, len(value)) + value)
            row += message(b"C", b"SELECT 1\0") + message(b"Z", b"I")
            sock.sendall(row)
    except (EOFError, OSError, ValueError, struct.error):
        pass
    finally:
        try:
            sock.close()
        except OSError:
            pass


listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(64)
print(listener.getsockname()[1], flush=True)
while True:
    client, _ = listener.accept()
    threading.Thread(target=serve, args=(client,), daemon=True).start()
