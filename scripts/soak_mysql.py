"""MySQL half of scripts/soak.sh: RATE new connections a second (connect, SELECT, close) and
STEADY long-lived sessions querying in a loop, for DURATION seconds, through the proxy.
Prints one summary line; exits 1 if any connection or query failed."""
import sys, threading, time
import pymysql

host, port, user, database = "127.0.0.1", int(sys.argv[1]), sys.argv[2], sys.argv[3]
rate, steady, duration = float(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
lock = threading.Lock()
counts = {"connections": 0, "queries": 0, "errors": 0}
first_errors = []
deadline = time.monotonic() + duration

def record(key, error=None):
    with lock:
        counts[key] += 1
        if error is not None:
            counts["errors"] += 1
            if len(first_errors) < 5: first_errors.append(repr(error))

def churn(share):
    interval, next_at = 1.0 / share, time.monotonic()
    while next_at < deadline:
        time.sleep(max(0.0, next_at - time.monotonic()))
        next_at += interval
        try:
            connection = pymysql.connect(host=host, port=port, user=user, database=database, connect_timeout=20)
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            connection.close()
            record("connections")
        except Exception as error:
            record("connections", error)

def query_loop():
    connection = pymysql.connect(host=host, port=port, user=user, database=database, connect_timeout=20)
    while time.monotonic() < deadline:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT COUNT(*) FROM information_schema.tables")
                cursor.fetchall()
            record("queries")
        except Exception as error:
            record("queries", error)
            connection = pymysql.connect(host=host, port=port, user=user, database=database, connect_timeout=20)
        time.sleep(0.01)

workers = 8
threads = [threading.Thread(target=churn, args=(rate / workers,)) for _ in range(workers)]
threads += [threading.Thread(target=query_loop) for _ in range(steady)]
for thread in threads: thread.start()
for thread in threads: thread.join()
print(f"mysql: {counts['connections']} new connections, {counts['queries']} steady queries, {counts['errors']} errors {first_errors}")
sys.exit(1 if counts["errors"] else 0)
