"""MySQL half of scripts/soak.sh: about RATE new connections a second (connect, SELECT, close)
from several processes (PyMySQL is pure Python; one process cannot keep up) and STEADY
long-lived sessions querying in a loop, for DURATION seconds, through the proxy. A slot a
worker could not keep is skipped, not made up later, so the run ends on time. Prints one
summary line with the rate reached; exits 1 if any connection or query failed."""
import multiprocessing, sys, threading, time
import pymysql

host, port, user, database = "127.0.0.1", int(sys.argv[1]), sys.argv[2], sys.argv[3]
rate, steady, duration = float(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
WORKERS = 4

def connect():
    return pymysql.connect(host=host, port=port, user=user, database=database, connect_timeout=20, read_timeout=60)

def churn(deadline):
    """One worker's share of the churn; returns (connections, errors, first error)."""
    interval, next_at = WORKERS / rate, time.monotonic()
    done, errors, first = 0, 0, None
    while time.monotonic() < deadline:
        now = time.monotonic()
        if next_at > now: time.sleep(next_at - now)
        next_at = max(next_at + interval, time.monotonic())
        try:
            connection = connect()
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            connection.close()
            done += 1
        except Exception as error:
            errors += 1
            first = first or repr(error)
    return done, errors, first

def query_loop(deadline, results):
    queries, errors = 0, 0
    connection = connect()
    while time.monotonic() < deadline:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT COUNT(*) FROM information_schema.tables")
                cursor.fetchall()
            queries += 1
        except Exception as error:
            errors += 1
            results.append(repr(error))
            connection = connect()
        time.sleep(0.01)
    connection.close()
    results.append((queries, errors))

if __name__ == "__main__":
    started = time.monotonic()
    deadline = started + duration
    # Spawned, not forked, and before any thread starts: a fork of a process with running
    # threads can inherit a lock some thread held and spin on it for ever.
    pool = multiprocessing.get_context("spawn").Pool(WORKERS)
    pending = pool.map_async(churn, [deadline] * WORKERS)
    steady_results = []
    threads = [threading.Thread(target=query_loop, args=(deadline, steady_results)) for _ in range(steady)]
    for thread in threads: thread.start()
    shares = pending.get()
    pool.close()
    pool.join()
    for thread in threads: thread.join()
    elapsed = time.monotonic() - started
    connections = sum(share[0] for share in shares)
    counts = [r for r in steady_results if isinstance(r, tuple)]
    failures = [r for r in steady_results if isinstance(r, str)] + [share[2] for share in shares if share[2]]
    errors = sum(share[1] for share in shares) + sum(c[1] for c in counts)
    print(f"mysql: {connections} new connections ({connections / elapsed:.1f}/s), {sum(c[0] for c in counts)} steady queries, "
          f"{errors} errors {failures[:5]}")
    sys.exit(1 if errors else 0)
