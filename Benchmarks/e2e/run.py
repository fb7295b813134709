#!/usr/bin/env python3
"""End-to-end comparison of the data path: iam-db-proxy against a direct TLS connection to
the same server, PgBouncer, and a minimal C relay (Benchmarks/c-relay/relay.c, the floor: what
the plaintext-to-TLS hop itself costs), contenders alternating in one run.
Started by Benchmarks/run-e2e.sh, which builds the release proxy and starts the servers.
Writes Benchmarks/results/e2e.md, e2e.json and e2e.png."""
import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
RESULTS = os.path.join(ROOT, "Benchmarks", "results")
PROXY_PG, PROXY_MY, PROXY_STANDIN, BOUNCER, FLOOR, STANDIN = 16432, 16306, 16433, 16434, 16435, 16999
MIDDLE_BOXES = ["direct", "proxy", "pgbouncer", "floor"]


def log(*parts):
    print("e2e:", *parts, file=sys.stderr, flush=True)


def run(command, env=None, check=True, **kwargs):
    result = subprocess.run(command, env=env, capture_output=True, text=True, **kwargs)
    if check and result.returncode != 0:
        raise SystemExit("e2e: %s failed:\n%s\n%s" % (" ".join(command), result.stdout[-2000:], result.stderr[-2000:]))
    return result


def pgbench_totals(stdout):
    """(TPS, transactions processed) from pgbench's summary."""
    return (float(re.search(r"tps = ([\d.]+)", stdout).group(1)),
            int(re.search(r"number of transactions actually processed: (\d+)", stdout).group(1)))


def cpu_times(pid):
    """(user seconds, kernel seconds) a process has used, from /proc/PID/stat."""
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return int(fields[11]) / os.sysconf("SC_CLK_TCK"), int(fields[12]) / os.sysconf("SC_CLK_TCK")


class Bench:
    def __init__(self, args):
        self.args = args
        self.testenv = json.load(open("/tmp/iam-db-proxy-testenv/testenv.json"))
        self.ca = self.testenv["ca_file"]
        self.work = tempfile.mkdtemp(prefix="iam-db-proxy-e2e-")
        os.chmod(self.work, 0o755)
        self.processes = []
        identity = json.load(open(os.path.join(ROOT, "testenv", "credentials.json")))["identities"][1]
        self.proxy_env = dict(os.environ, AWS_ACCESS_KEY_ID=identity["access_key_id"],
                              AWS_SECRET_ACCESS_KEY=identity["secret_access_key"],
                              AWS_SESSION_TOKEN=identity["session_token"], AWS_EC2_METADATA_DISABLED="true")

    # --- contenders -------------------------------------------------------------------------
    def pg_env(self, contender, user="bench_user"):
        env = dict(os.environ, PGUSER=user, PGDATABASE="appdb", PGCONNECT_TIMEOUT="20")
        env.pop("PGPASSWORD", None)
        if contender == "direct":
            env.update(PGHOST="localhost", PGPORT=str(self.testenv["postgres"]["port"]), PGSSLMODE="verify-full", PGSSLROOTCERT=self.ca)
        else:
            port = {"proxy": PROXY_PG, "pgbouncer": BOUNCER, "floor": FLOOR}[contender]
            env.update(PGHOST="127.0.0.1", PGPORT=str(port), PGSSLMODE="disable")
        return env

    def start_proxy(self):
        config = os.path.join(self.work, "proxy.yaml")
        mysql_port = self.testenv["mysql"]["port"]
        pg_port = self.testenv["postgres"]["port"]
        open(config, "w").write(f"""
max_connections: 9000
listeners:
  - {{name: pg, engine: postgres, listen: 127.0.0.1:{PROXY_PG}, upstream: localhost:{pg_port}, iam_region: us-east-1,
     tls: {{mode: verify-full, ca_file: {self.ca}}}}}
  - {{name: mysql, engine: mysql, listen: 127.0.0.1:{PROXY_MY}, upstream: localhost:{mysql_port}, iam_region: us-east-1,
     tls: {{mode: verify-full, ca_file: {self.ca}}}}}
  - {{name: standin, engine: postgres, listen: 127.0.0.1:{PROXY_STANDIN}, upstream: localhost:{STANDIN}, iam_region: us-east-1,
     handshake_timeout: 60, role: reader, tls: {{mode: verify-full, ca_file: {self.ca}}}}}
""")
        logfile = open(os.path.join(self.work, "proxy.log"), "w")
        self.proxy = subprocess.Popen([self.args.proxy, "--config", config, "--log-level", "warning"], env=self.proxy_env,
                                      stdout=logfile, stderr=logfile)
        self.processes.append(self.proxy)
        self.wait_port(PROXY_PG)

    def start_pgbouncer(self):
        ini = os.path.join(self.work, "pgbouncer.ini")
        users = os.path.join(self.work, "users.txt")
        open(users, "w").write('"bench_user" ""\n')
        open(ini, "w").write(f"""[databases]
appdb = host=localhost port={self.testenv["postgres"]["port"]} dbname=appdb
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {BOUNCER}
unix_socket_dir =
auth_type = trust
auth_file = {users}
pool_mode = session
max_client_conn = 2000
default_pool_size = 200
server_tls_sslmode = verify-full
server_tls_ca_file = {self.ca}
logfile = {self.work}/pgbouncer.log
pidfile = {self.work}/pgbouncer.pid
""")
        for name in ("pgbouncer.ini", "users.txt"):
            os.chmod(os.path.join(self.work, name), 0o644)
        command = ["pgbouncer", ini]
        if os.geteuid() == 0:
            shutil.chown(self.work, "postgres")
            command = ["pgbouncer", "-u", "postgres", ini]
        self.bouncer = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.processes.append(self.bouncer)
        self.wait_port(BOUNCER)

    def start_floor(self):
        binary = os.path.join(self.work, "relay")
        run(["gcc", "-O2", "-o", binary, os.path.join(ROOT, "Benchmarks", "c-relay", "relay.c"), "-lssl", "-lcrypto"])
        self.floor = subprocess.Popen([binary, str(FLOOR), "localhost", str(self.testenv["postgres"]["port"]), self.ca],
                                      stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.work, "relay.log"), "w"))
        self.processes.append(self.floor)
        self.wait_port(FLOOR)

    def middle_box(self, contender):
        """The process between the client and the server, whose CPU a transaction costs (none for direct)."""
        return {"proxy": self.proxy, "pgbouncer": self.bouncer, "floor": self.floor}.get(contender)

    def start_standin(self):
        standin = subprocess.Popen([sys.executable, os.path.join(HERE, "standin_upstream.py"), str(STANDIN),
                                    os.path.join(self.testenv["dir"], "ca", "server.pem"), os.path.join(self.testenv["dir"], "ca", "server.key")],
                                   stdout=subprocess.PIPE, text=True)
        self.processes.append(standin)
        standin.stdout.readline()

    def wait_port(self, port):
        import socket
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("e2e: nothing listens on %d; see %s" % (port, self.work))

    def stop(self):
        for process in reversed(self.processes):
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()

    # --- measurements -----------------------------------------------------------------------
    def pgbench(self, contender, clients, seconds, connect_each=False, log_latency=False):
        prefix = os.path.join(self.work, "lat-%s-%d" % (contender, time.monotonic_ns()))
        command = ["pgbench", "-S", "-n", "-c", str(clients), "-j", str(min(clients, 2)), "-T", str(seconds)]
        if connect_each:
            command.append("-C")
        if log_latency:
            command += ["-l", "--log-prefix", prefix]
        box = self.middle_box(contender)
        busy_before, box_cpu_before = self.machine_busy(), box and self.cpu_seconds(box.pid)
        result = run(command, env=self.pg_env(contender))
        busy_after, box_cpu_after = self.machine_busy(), box and self.cpu_seconds(box.pid)
        tps, transactions = pgbench_totals(result.stdout)
        failed = re.search(r"number of failed transactions: (\d+)", result.stdout)
        percentile = self.latency_percentiles(prefix) if log_latency else lambda p: None
        return {"tps": tps, "failed": int(failed.group(1)) if failed else 0, "p50_us": percentile(0.50), "p99_us": percentile(0.99),
                "cpu_busy": (busy_after[0] - busy_before[0]) / max(1, busy_after[1] - busy_before[1]),
                "cpu_us_per_tx": (box_cpu_after - box_cpu_before) * 1e6 / max(1, transactions) if box else None}

    def latency_percentiles(self, prefix):
        """Reads (and removes) the per-transaction logs `pgbench -l --log-prefix prefix` wrote;
        returns percentile(p) over their latencies in µs."""
        latencies = []
        for name in os.listdir(self.work):
            path = os.path.join(self.work, name)
            if path.startswith(prefix):
                with open(path) as handle:
                    latencies += [int(line.split()[2]) for line in handle]
                os.unlink(path)
        latencies.sort()
        return lambda p: latencies[min(len(latencies) - 1, int(p * len(latencies)))] if latencies else None

    def machine_busy(self):
        """(busy, total) jiffies over all CPUs, from /proc/stat."""
        fields = [int(value) for value in open("/proc/stat").readline().split()[1:]]
        idle = fields[3] + fields[4]
        return sum(fields) - idle, sum(fields)

    def cpu_seconds(self, pid):
        return sum(cpu_times(pid))

    def rss_kib(self, pid):
        for line in open("/proc/%d/status" % pid):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def copy_out(self, contender, rows):
        sql = "COPY (SELECT repeat('x', 1000) FROM generate_series(1, %d)) TO STDOUT" % rows
        cpu_before = self.cpu_seconds(self.proxy.pid)
        started = time.monotonic()
        with open(os.devnull, "w") as sink:
            subprocess.run(["psql", "-Atq", "-c", sql], env=self.pg_env(contender), stdout=sink, check=True)
        elapsed = time.monotonic() - started
        megabytes = rows * 1001 / 1e6
        result = {"mb_per_s": megabytes / elapsed}
        if contender == "proxy":
            result["proxy_cpu_s_per_gb"] = (self.cpu_seconds(self.proxy.pid) - cpu_before) / (megabytes / 1000)
        return result

    def sysbench(self, contender, seconds):
        if contender == "direct":
            target = ["--mysql-host=127.0.0.1", "--mysql-port=%d" % self.testenv["mysql"]["port"], "--mysql-user=pw_user",
                      "--mysql-password=pw_password", "--mysql-ssl=on"]
        else:
            target = ["--mysql-host=127.0.0.1", "--mysql-port=%d" % PROXY_MY, "--mysql-user=iam_user", "--mysql-ssl=off"]
        common = ["oltp_point_select", "--mysql-db=appdb", "--tables=4", "--table-size=10000"] + target
        result = run(["sysbench"] + common + ["--threads=16", "--time=%d" % seconds, "run"], cwd=self.sysbench_tls_dir())
        qps = float(re.search(r"queries:\s+\d+\s+\(([\d.]+) per sec", result.stdout).group(1))
        errors = int(re.search(r"ignored errors:\s+(\d+)", result.stdout).group(1))
        return {"qps": qps, "errors": errors}

    def sysbench_tls_dir(self):
        """sysbench 1.0's --mysql-ssl=on loads cacert.pem, client-cert.pem and client-key.pem from
        its working directory, so it gets a client certificate from the test CA."""
        folder = os.path.join(self.work, "sysbench-tls")
        if not os.path.isdir(folder):
            os.makedirs(folder)
            ca_dir = os.path.join(self.testenv["dir"], "ca")
            shutil.copy(self.ca, os.path.join(folder, "cacert.pem"))
            open(os.path.join(folder, "client.ext"), "w").write("extendedKeyUsage = clientAuth\n")
            run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=sysbench", "-keyout",
                 os.path.join(folder, "client-key.pem"), "-out", os.path.join(folder, "client.csr")])
            run(["openssl", "x509", "-req", "-in", os.path.join(folder, "client.csr"), "-CA", self.ca, "-CAkey",
                 os.path.join(ca_dir, "ca.key"), "-CAcreateserial", "-CAserial", os.path.join(folder, "ca.srl"), "-days", "2",
                 "-extfile", os.path.join(folder, "client.ext"), "-out", os.path.join(folder, "client-cert.pem")])
        return folder

    def idle_sessions(self, count):
        clients = subprocess.Popen([sys.executable, os.path.join(HERE, "idle_clients.py"), str(PROXY_STANDIN), str(count), "bench", "appdb"],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        rss_before = self.rss_kib(self.proxy.pid)
        line = clients.stdout.readline().split()
        time.sleep(1)
        rss_during = self.rss_kib(self.proxy.pid)
        clients.stdin.write("\n")
        clients.stdin.flush()
        clients.wait(60)
        return {"open": int(line[1]), "errors": int(line[3]), "rss_before_kib": rss_before, "rss_during_kib": rss_during,
                "kib_per_session": (rss_during - rss_before) / max(1, int(line[1]))}

    # --- the run ----------------------------------------------------------------------------
    def alternate(self, contenders, measure):
        rounds = {contender: [] for contender in contenders}
        for index in range(self.args.rounds):
            order = contenders[index % len(contenders):] + contenders[:index % len(contenders)]
            for contender in order:
                rounds[contender].append(measure(contender))
        return rounds

    def prepare_tables(self):
        log("initialising pgbench (scale 10) and sysbench tables")
        # bench_user's own schema, so pgbench never touches tables other tests left in public.
        run(["psql", "-Atqc", "CREATE SCHEMA IF NOT EXISTS bench_user; ALTER ROLE bench_user SET search_path = bench_user"],
            env=self.pg_env("direct"))
        run(["pgbench", "-i", "-q", "-s", "10"], env=self.pg_env("direct"))
        sysbench_direct = ["oltp_point_select", "--mysql-db=appdb", "--tables=4", "--table-size=10000", "--mysql-host=127.0.0.1",
                           "--mysql-port=%d" % self.testenv["mysql"]["port"], "--mysql-user=pw_user", "--mysql-password=pw_password"]
        run(["sysbench"] + sysbench_direct + ["cleanup"], check=False)
        run(["sysbench"] + sysbench_direct + ["prepare"])

    def main(self):
        seconds = self.args.seconds
        try:
            self.start_proxy()
            self.start_pgbouncer()
            self.start_floor()
            self.start_standin()
            self.prepare_tables()
            for contender in MIDDLE_BOXES:  # warm caches and the token cache
                self.pgbench(contender, 4, 2)
            results = {}
            log("pgbench -S, 16 clients")
            results["select_16"] = self.alternate(MIDDLE_BOXES, lambda c: self.pgbench(c, 16, seconds, log_latency=True))
            log("pgbench -S, 1 client (added latency)")
            results["select_1"] = self.alternate(MIDDLE_BOXES, lambda c: self.pgbench(c, 1, seconds, log_latency=True))
            log("pgbench -C -S (new connections)")
            results["connect"] = self.alternate(["direct", "proxy"], lambda c: self.pgbench(c, 4, seconds, connect_each=True))
            log("COPY out, %d MB" % (self.args.copy_rows * 1001 // 1000000))
            results["copy"] = self.alternate(MIDDLE_BOXES, lambda c: self.copy_out(c, self.args.copy_rows))
            log("sysbench oltp_point_select, 16 threads")
            results["sysbench"] = self.alternate(["direct", "proxy"], lambda c: self.sysbench(c, seconds))
            log("idle sessions: 2,000 then %d" % self.args.max_sessions)
            results["idle_2000"] = self.idle_sessions(2000)
            results["idle_max"] = self.idle_sessions(self.args.max_sessions)
            results["proxy_log_errors"] = [line for line in open(os.path.join(self.work, "proxy.log")) if "error" in line][:5]
            return results
        finally:
            self.stop()


def median(rounds, key):
    values = [entry[key] for entry in rounds if entry.get(key) is not None]
    return statistics.median(values) if values else None


def machine():
    def first(command):
        try:
            return subprocess.run(command, capture_output=True, text=True).stdout.strip().splitlines()[0]
        except (OSError, IndexError):
            return "?"
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    memory = next((int(line.split()[1]) // 1024 // 1024 for line in open("/proc/meminfo") if line.startswith("MemTotal")), 0)
    return {"cpus": os.cpu_count(), "cpu": cpu, "memory_gib": memory, "kernel": platform.release(),
            "swift": first(["swift", "--version"]), "postgres": first(["psql", "--version"]),
            "mariadb": first(["mariadb", "--version"]), "pgbouncer": first(["pgbouncer", "--version"]),
            "sysbench": first(["sysbench", "--version"])}


def report(results, args):
    s16, s1, conn, copy, sb = results["select_16"], results["select_1"], results["connect"], results["copy"], results["sysbench"]
    rows = []

    def row(metric, direct, proxy, bouncer, ratio, target, met, unit="", floor=None):
        fmt = lambda v: "–" if v is None else ("%.0f" % v if abs(v) >= 100 else "%.2f" % v)
        rows.append((metric, fmt(direct) + unit, fmt(proxy) + unit, fmt(bouncer) + unit, fmt(floor) + unit, ratio, target, "yes" if met else "**no**"))

    tps = {c: median(s16[c], "tps") for c in s16}
    row("select-only TPS, 16 clients", tps["direct"], tps["proxy"], tps["pgbouncer"],
        "%.3f× direct, %.3f× PgBouncer" % (tps["proxy"] / tps["direct"], tps["proxy"] / tps["pgbouncer"]),
        "≥ 1.1× PgBouncer", tps["proxy"] >= 1.1 * tps["pgbouncer"], floor=tps["floor"])
    for key, label in (("p50_us", "p50"), ("p99_us", "p99")):
        values = {c: median(s16[c], key) for c in s16}
        row("latency %s, 16 clients (µs)" % label, values["direct"], values["proxy"], values["pgbouncer"],
            "%+.0f µs vs direct" % (values["proxy"] - values["direct"]), "≤ PgBouncer", values["proxy"] <= values["pgbouncer"], floor=values["floor"])
    busy = {c: median(s16[c], "cpu_busy") for c in s16}
    row("machine CPU busy during the 16-client run (%)", busy["direct"] * 100, busy["proxy"] * 100, busy["pgbouncer"] * 100, "–", "–", True,
        floor=busy["floor"] * 100)
    cpu_tx = {c: median(s16[c], "cpu_us_per_tx") for c in s16}
    row("middle box CPU per transaction, 16 clients (µs)", None, cpu_tx["proxy"], cpu_tx["pgbouncer"],
        "%.2f× PgBouncer, %.2f× the C floor" % (cpu_tx["proxy"] / cpu_tx["pgbouncer"], cpu_tx["proxy"] / cpu_tx["floor"]),
        "≤ 0.9× PgBouncer, ≤ 1.3× floor", cpu_tx["proxy"] <= 0.9 * cpu_tx["pgbouncer"] and cpu_tx["proxy"] <= 1.3 * cpu_tx["floor"],
        floor=cpu_tx["floor"])
    single = {c: median(s1[c], "p50_us") for c in s1}
    added = single["proxy"] - single["direct"]
    row("latency p50, 1 client (µs)", single["direct"], single["proxy"], single["pgbouncer"],
        "%+.0f µs per round trip (PgBouncer %+.0f µs, floor %+.0f µs)" % (added, single["pgbouncer"] - single["direct"], single["floor"] - single["direct"]),
        "≤ PgBouncer", single["proxy"] <= single["pgbouncer"], floor=single["floor"])
    single_p99 = {c: median(s1[c], "p99_us") for c in s1}
    row("latency p99, 1 client (µs)", single_p99["direct"], single_p99["proxy"], single_p99["pgbouncer"],
        "%+.0f µs vs direct (PgBouncer %+.0f µs, floor %+.0f µs)" % (single_p99["proxy"] - single_p99["direct"],
                                                                  single_p99["pgbouncer"] - single_p99["direct"], single_p99["floor"] - single_p99["direct"]),
        "≤ PgBouncer", single_p99["proxy"] <= single_p99["pgbouncer"], floor=single_p99["floor"])
    cps = {c: median(conn[c], "tps") for c in conn}
    row("new connections/s (pgbench -C -S, 4 clients)", cps["direct"], cps["proxy"], None, "%.3f× direct" % (cps["proxy"] / cps["direct"]),
        "≥ 0.9× direct", cps["proxy"] >= 0.9 * cps["direct"])
    mbs = {c: median(copy[c], "mb_per_s") for c in copy}
    row("COPY out (MB/s)", mbs["direct"], mbs["proxy"], mbs["pgbouncer"],
        "%.3f× direct, %.3f× PgBouncer" % (mbs["proxy"] / mbs["direct"], mbs["proxy"] / mbs["pgbouncer"]), "≥ 0.9× direct",
        mbs["proxy"] >= 0.9 * mbs["direct"], floor=mbs["floor"])
    qps = {c: median(sb[c], "qps") for c in sb}
    row("MySQL sysbench oltp_point_select QPS, 16 threads", qps["direct"], qps["proxy"], None, "%.3f× direct" % (qps["proxy"] / qps["direct"]),
        "–", True)
    idle, most = results["idle_2000"], results["idle_max"]
    row("RSS per idle session (KiB, 2,000 sessions)", None, idle["kib_per_session"], None, "%d KiB → %d KiB" % (idle["rss_before_kib"], idle["rss_during_kib"]),
        "≤ 64 KiB", idle["kib_per_session"] <= 64 and idle["errors"] == 0)
    row("concurrent sessions held (%d asked)" % args.max_sessions, None, most["open"], None, "%d errors" % most["errors"],
        "8,000 without an error", most["open"] >= 8000 and most["errors"] == 0)
    cpu = median(copy["proxy"], "proxy_cpu_s_per_gb")
    row("proxy CPU seconds per GB relayed (COPY)", None, cpu, None, "–", "–", True)
    return rows, {"tps": tps, "single_p50": single, "cps": cps, "copy": mbs, "qps": qps, "cpu_us_per_tx": cpu_tx}


def write(results, args, info=None, run=None):
    """Writes e2e.md, e2e.json and e2e.png; `info` and `run` (date, rounds, seconds, event
    loops) come from a saved e2e.json when the report is drawn again (--from-json)."""
    os.makedirs(RESULTS, exist_ok=True)
    rows, summary = report(results, args)
    info = info or machine()
    run = run or {"date": time.strftime("%Y-%m-%d"), "rounds": args.rounds, "seconds": args.seconds,
                  "event_loops": max(1, (os.cpu_count() or 2) // 2)}
    lines = [
        "# End-to-end comparison",
        "",
        "Produced by `Benchmarks/run-e2e.sh` on %s (%d rounds per contender, alternating, %d s each; medians)."
        % (run["date"], run["rounds"], run["seconds"]),
        "",
        "Machine: %(cpus)d × %(cpu)s, %(memory_gib)d GiB, Linux %(kernel)s; %(swift)s; %(postgres)s; %(mariadb)s; %(pgbouncer)s; %(sysbench)s." % info,
        "",
        "Everything runs on this one machine (servers, proxy, PgBouncer and load generators share the cores), so ratios matter, not absolute numbers.",
        "PostgreSQL contenders: **direct** = libpq `sslmode=verify-full` to the server; **proxy** = plaintext to iam-db-proxy (release build, `event_loops: auto` = half the cores: %d here), which "
        "holds `verify-full` TLS upstream; **PgBouncer** = plaintext to PgBouncer in session mode with `server_tls_sslmode=verify-full`; "
        "**C floor** = plaintext to `Benchmarks/c-relay/relay.c` (one thread, epoll, OpenSSL verify-full, no parsing: the hop itself). "
        "All log in as the `trust` TLS user `bench_user`, so PAM's per-login cost (tens of ms in the Python verifier) does not hide the proxy's. "
        "MySQL: direct = sysbench with TLS as a password user; proxy = plaintext as the IAM user (one IAM login per thread, then the same data path). "
        "Idle sessions and the descriptor figure use a TLS stand-in upstream that speaks only the PostgreSQL startup phase "
        "(`Benchmarks/e2e/standin_upstream.py`), since a real backend per session would dominate." % run["event_loops"],
        "",
        "| metric | direct TLS | proxy | PgBouncer | C floor | proxy ratio | target | met |",
        "|---|---|---|---|---|---|---|---|",
    ] + ["| %s |" % " | ".join(row) for row in rows]
    open(os.path.join(RESULTS, "e2e.md"), "w").write("\n".join(lines) + "\n")
    json.dump({"machine": info, "run": run, "results": results, "summary": summary}, open(os.path.join(RESULTS, "e2e.json"), "w"), indent=1)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        boxes = [("proxy", "iam-db-proxy"), ("pgbouncer", "PgBouncer"), ("floor", "C floor")]
        figure, (throughput, cost) = plt.subplots(1, 2, figsize=(11, 4.5), gridspec_kw={"width_ratios": [3, 2]})
        # Left: each middle box's throughput relative to direct TLS (PgBouncer and the floor speak PostgreSQL only;
        # connections/s is measured for the proxy only).
        labels = ["select TPS\n16 clients", "COPY MB/s", "connections/s", "MySQL QPS"]
        measures = [summary["tps"], summary["copy"], summary["cps"], summary["qps"]]
        for offset, (key, name) in zip((-0.27, 0, 0.27), boxes):
            values = [m[key] / m["direct"] if key in m else 0 for m in measures]
            throughput.bar([i + offset for i in range(len(labels))], values, width=0.27, label=name)
        throughput.axhline(1.0, color="black", linewidth=0.8)
        throughput.set_xticks(list(range(len(labels))), labels)
        throughput.set_ylabel("relative to direct TLS (1.0)")
        throughput.set_title("throughput, same run")
        throughput.legend()
        # Right: what each relayed transaction costs the middle box.
        cpu = summary["cpu_us_per_tx"]
        cost.bar([name for _, name in boxes], [cpu[key] for key, _ in boxes], color=["C0", "C1", "C2"])
        cost.set_ylabel("CPU µs per transaction (16 clients)")
        cost.set_title("middle box CPU per transaction")
        figure.tight_layout()
        figure.savefig(os.path.join(RESULTS, "e2e.png"), dpi=110)
    except ImportError:
        log("matplotlib missing: no chart")
    print("\n".join(lines))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--proxy", help="the iam-db-proxy binary to measure (required unless --from-json)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--copy-rows", type=int, default=1_000_000)
    parser.add_argument("--max-sessions", type=int, default=8000)
    parser.add_argument("--from-json", help="draw e2e.md and e2e.png again from a saved e2e.json instead of measuring")
    arguments = parser.parse_args()
    if arguments.from_json:
        saved = json.load(open(arguments.from_json))
        write(saved["results"], arguments, info=saved["machine"], run=saved.get("run"))
    elif arguments.proxy:
        write(Bench(arguments).main(), arguments)
    else:
        parser.error("give --proxy (or --from-json)")
