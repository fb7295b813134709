"""A small scripted MySQL 8-like server, for tests of what MariaDB 10.11 cannot do server-side:
caching_sha2_password (fast authentication from its cache, full authentication over TLS) and
mysql_clear_password, with auth switches between plugins. Written from the MySQL protocol
documentation, sharing no code with the proxy.

    python3 scripted_mysql_server.py CERT KEY USERS_JSON LOG_FILE

USERS_JSON ({"user": {"plugin": "caching_sha2_password", "password": "..."}}) is read at every
login, so a test rotates a password by rewriting it; a changed password also empties the
caching_sha2 cache for that user, as ALTER USER does. The greeting offers caching_sha2_password
(as MySQL 8 does); a user with another plugin gets an AuthSwitchRequest. TLS is required.
After the login every COM_QUERY gets one row with one column: the user's name; COM_PING an OK;
COM_QUIT closes; the proxy's `SELECT @@global.read_only …` gets the user's `"read_only"` (0 unless
set, 1 standing for a replica). A user with `"throttle": N` has its first N logins refused, once its password
was checked, with RDS Proxy's documented `ERROR 1040 (HY000): IAM authentication rate limit
exceeded`. Each login appends one JSON line to LOG_FILE: user, plugin, path (fast, full,
switch+…) and outcome (ok, denied, throttled) — never a password. Binds 127.0.0.1 on a free port
and prints it.

    python3 scripted_mysql_server.py CERT KEY USERS_JSON LOG_FILE ADDRESS:PORT INSTANCE TOPOLOGY_JSON VERIFIER_JSON

With the four more arguments it stands for one instance of an Aurora MySQL cluster: it binds
ADDRESS:PORT, answers `information_schema.replica_host_status` from TOPOLOGY_JSON ({"writer":
ID, "instances": [ID, ...]}, read at every query, as Aurora's control plane would change it),
is read-only (`@@innodb_read_only`, the stale-DNS guard's query) unless INSTANCE is the writer,
answers SET with OK and other queries with `user@INSTANCE`, and checks the IAM token of a user whose entry says
`"iam": SERVICE` with the independent verifier (`token_verifier.py`, VERIFIER_JSON's SERVICE).
"""
import hashlib
import json
import os
import socket
import ssl
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import token_verifier  # noqa: E402

CERT, KEY, USERS, LOG = sys.argv[1:5]
BIND, INSTANCE, TOPOLOGY, VERIFIER = (sys.argv[5:9] + [None] * 4)[:4] if len(sys.argv) > 5 else ("127.0.0.1:0", None, None, None)
CLIENT_PROTOCOL_41, CLIENT_SSL, CLIENT_SECURE_CONNECTION = 0x200, 0x800, 0x8000
CLIENT_CONNECT_WITH_DB, CLIENT_PLUGIN_AUTH, CLIENT_PLUGIN_AUTH_LENENC = 0x8, 0x80000, 0x200000
# What MySQL 8 offers but compression, DEPRECATE_EOF and the query attributes/optional metadata
# extensions: the result sets below keep their EOF packets.
CAPABILITIES = 0xFFFF & ~0x20 & ~0x4000 | 0x7F0000
cache = {}  # user -> SHA256(SHA256(password)) after a full authentication, as MySQL 8 keeps it
cache_lock = threading.Lock()
throttled = {}  # user -> logins refused as throttled so far


def users():
    with open(USERS) as handle:
        return json.load(handle)


def xor(left, right):
    return bytes(a ^ b for a, b in zip(left, right))


def native_scramble(password, nonce):
    hashed = hashlib.sha1(password.encode()).digest()
    return xor(hashed, hashlib.sha1(nonce + hashlib.sha1(hashed).digest()).digest())


def sha2_matches(answer, double_hash, nonce):
    # answer = SHA256(p) XOR SHA256(SHA256(SHA256(p)) + nonce); recover SHA256(p) and hash it.
    recovered = xor(answer, hashlib.sha256(double_hash + nonce).digest())
    return len(answer) == 32 and hashlib.sha256(recovered).digest() == double_hash


class Connection:
    def __init__(self, sock):
        self.sock = sock
        self.sequence = 0

    def read(self):
        header = self.recv_exact(4)
        length = header[0] | header[1] << 8 | header[2] << 16
        self.sequence = (header[3] + 1) % 256
        return self.recv_exact(length)

    def recv_exact(self, count):
        data = b""
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def write(self, payload):
        self.sock.sendall(struct.pack("<I", len(payload))[:3] + bytes([self.sequence]) + payload)
        self.sequence = (self.sequence + 1) % 256

    def ok(self):
        self.write(b"\x00\x00\x00\x02\x00\x00\x00")

    def error(self, code, state, message):
        self.write(b"\xff" + struct.pack("<H", code) + b"#" + state.encode() + message.encode())


def lenenc(data):
    return bytes([len(data)]) + data


def read_lenenc(data, offset):
    first = data[offset]
    if first < 0xFB:
        return first, offset + 1
    size = {0xFC: 2, 0xFD: 3, 0xFE: 8}[first]
    return int.from_bytes(data[offset + 1:offset + 1 + size], "little"), offset + 1 + size


def parse_response(payload):
    flags = struct.unpack("<I", payload[:4])[0]
    offset = 32
    end = payload.index(b"\0", offset)
    user = payload[offset:end].decode()
    offset = end + 1
    if flags & CLIENT_PLUGIN_AUTH_LENENC:
        length, offset = read_lenenc(payload, offset)
    else:
        length, offset = payload[offset], offset + 1
    answer = payload[offset:offset + length]
    offset += length
    if flags & CLIENT_CONNECT_WITH_DB:
        offset = payload.index(b"\0", offset) + 1
    plugin = ""
    if flags & CLIENT_PLUGIN_AUTH and offset < len(payload):
        end = payload.find(b"\0", offset)
        plugin = payload[offset:end if end >= 0 else len(payload)].decode()
    return user, answer, plugin


def authenticate(conn, user, answer, plugin, nonce, record):
    account = users().get(user)
    if account is None:
        return False
    wanted, password = account["plugin"], account.get("password")
    path = []
    if plugin != wanted:
        # AuthSwitchRequest with a fresh nonce, as a server does when the user's plugin differs.
        nonce = os.urandom(20).replace(b"\0", b"\1")
        path.append("switch")
        conn.write(b"\xfe" + wanted.encode() + b"\0" + (b"" if wanted == "mysql_clear_password" else nonce + b"\0"))
        answer = conn.read()
    if wanted == "mysql_native_password":
        path.append("scramble")
        result = answer == native_scramble(password, nonce)
    elif wanted == "mysql_clear_password" and account.get("iam"):
        path.append("clear+iam")
        result, reason = token_verifier.verify(token_verifier.load_config(VERIFIER, account["iam"]), user, answer.rstrip(b"\0").decode())
        record["reason"] = reason
    elif wanted == "mysql_clear_password":
        path.append("clear")
        result = answer.rstrip(b"\0").decode() == password
    elif wanted == "caching_sha2_password":
        double_hash = hashlib.sha256(hashlib.sha256(password.encode()).digest()).digest()
        with cache_lock:
            cached = cache.get(user)
        if cached is not None and cached == double_hash and sha2_matches(answer, cached, nonce):
            path.append("fast")
            conn.write(b"\x01\x03")
            result = True
        else:
            path.append("full")
            conn.write(b"\x01\x04")
            result = conn.read().rstrip(b"\0").decode() == password
            if result:
                with cache_lock:
                    cache[user] = double_hash
    else:
        result = False
    record["path"] = "+".join(path)
    return result


def log(record):
    with open(LOG, "a") as handle:
        handle.write(json.dumps(record) + "\n")


def column_and_row(conn, value):
    conn.write(b"\x01")
    definition = lenenc(b"def") + lenenc(b"") + lenenc(b"") + lenenc(b"") + lenenc(b"user") + lenenc(b"")
    definition += b"\x0c" + struct.pack("<HIBHB", 33, 256, 0xFD, 0, 0) + b"\0\0"
    conn.write(definition)
    conn.write(b"\xfe\x00\x00\x02\x00")
    conn.write(lenenc(value.encode()))
    conn.write(b"\xfe\x00\x00\x02\x00")


def topology():
    with open(TOPOLOGY) as handle:
        return json.load(handle)


def replica_host_status(conn):
    """Five columns, as the proxy's topology query asks: SERVER_ID, SESSION_ID, the last update
    and this server's @@innodb_read_only and clock (epoch seconds)."""
    state, now = topology(), "%.6f" % time.time()
    read_only = "0" if state["writer"] == INSTANCE else "1"
    conn.write(b"\x05")
    for name in [b"SERVER_ID", b"SESSION_ID", b"LAST_UPDATE", b"READ_ONLY", b"NOW"]:
        definition = lenenc(b"def") + lenenc(b"") + lenenc(b"") + lenenc(b"") + lenenc(name) + lenenc(b"")
        conn.write(definition + b"\x0c" + struct.pack("<HIBHB", 33, 256, 0xFD, 0, 0) + b"\0\0")
    conn.write(b"\xfe\x00\x00\x02\x00")
    for instance in state["instances"]:
        session = "MASTER_SESSION_ID" if instance == state["writer"] else "replica-" + instance
        conn.write(b"".join(lenenc(value.encode()) for value in [instance, session, now, read_only, now]))
    conn.write(b"\xfe\x00\x00\x02\x00")


def serve(raw):
    conn = Connection(raw)
    record = {}
    try:
        nonce = os.urandom(20).replace(b"\0", b"\1")
        greeting = (b"\x0a" + b"8.0.36-scripted\0" + struct.pack("<I", 7) + nonce[:8] + b"\0"
                    + struct.pack("<H", CAPABILITIES & 0xFFFF) + b"\x2d" + struct.pack("<H", 2)
                    + struct.pack("<H", CAPABILITIES >> 16) + bytes([21]) + b"\0" * 10 + nonce[8:] + b"\0"
                    + b"caching_sha2_password\0")
        conn.write(greeting)
        request = conn.read()
        if len(request) != 32 or not struct.unpack("<I", request[:4])[0] & CLIENT_SSL:
            conn.error(3159, "HY000", "Connections using insecure transport are prohibited")
            return
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(CERT, KEY)
        conn.sock = context.wrap_socket(raw, server_side=True)
        user, answer, plugin = parse_response(conn.read())
        record.update(user=user, plugin=plugin)
        accepted = authenticate(conn, user, answer, plugin, nonce, record)
        with cache_lock:
            throttle = accepted and throttled.get(user, 0) < users().get(user, {}).get("throttle", 0)
            if throttle:
                throttled[user] = throttled.get(user, 0) + 1
        record["outcome"] = "throttled" if throttle else "ok" if accepted else "denied"
        # Logged before the answer, so a client that has its answer finds the line.
        log(record)
        if throttle:
            conn.error(1040, "HY000", "IAM authentication rate limit exceeded")
            return
        if not accepted:
            conn.error(1045, "28000", "Access denied for user '%s'@'localhost' (using password: YES)" % user)
            return
        conn.ok()
        while True:
            command = conn.read()
            if command[:1] == b"\x03" and TOPOLOGY and b"replica_host_status" in command:
                replica_host_status(conn)
            elif command[:1] == b"\x03" and b"@@global.read_only" in command and TOPOLOGY:
                column_and_row(conn, "0" if topology()["writer"] == INSTANCE else "1")
            elif command[:1] == b"\x03" and b"@@global.read_only" in command:
                # The proxy's stale-DNS guard: a user with "read_only": 1 stands for a replica.
                column_and_row(conn, str(users().get(user, {}).get("read_only", 0)))
            elif command[:1] == b"\x03" and TOPOLOGY and command[1:5].upper() == b"SET ":
                conn.ok()  # a driver's session setup (PyMySQL's SET AUTOCOMMIT)
            elif command[:1] == b"\x03" and TOPOLOGY:
                column_and_row(conn, "%s@%s" % (user, INSTANCE))
            elif command[:1] == b"\x03":
                column_and_row(conn, user)
            elif command[:1] == b"\x0e":
                conn.ok()
            elif command[:1] == b"\x01":
                return
            else:
                conn.error(1047, "08S01", "Unknown command")
    except (EOFError, OSError, ValueError, KeyError, IndexError):
        if "user" in record and "outcome" not in record:
            record["outcome"] = "broken"
            log(record)
    finally:
        try:
            conn.sock.close()
        except OSError:
            pass


listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
address, port = BIND.rsplit(":", 1)
listener.bind((address, int(port)))
listener.listen(64)
print(listener.getsockname()[1], flush=True)
while True:
    client, _ = listener.accept()
    threading.Thread(target=serve, args=(client,), daemon=True).start()
