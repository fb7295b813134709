#!/usr/bin/env python3
"""A/B comparison of proxy builds (or settings) on the data path, contenders alternating in one
run: a refactoring or a new relay feature must show no regression against the build before it.

    Benchmarks/e2e/ab.py --contender before=/tmp/base/.build/release/iam-db-proxy \\
                         --contender after=.build/release/iam-db-proxy \\
                         --contender after-trace=.build/release/iam-db-proxy@trace --rounds 3

Each contender is LABEL=BINARY[@LOG_LEVEL][,NAME=VALUE...] (default log level: warning; the
NAME=VALUE pairs are set in its environment, e.g. IAM_DB_PROXY_EVENT_LOOPS=2) and gets its
own proxy process and ports. Measures pgbench -S with 16 and 1 clients, and sysbench point selects through
the MySQL listener; reports the median of the rounds per contender, its ratio to the first one,
and the proxy's CPU per transaction. Needs the local servers (testenv/start.sh), pgbench and
sysbench (Benchmarks/run-e2e.sh installs them) and the pgbench tables run.py creates."""
import argparse
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as e2e  # noqa: E402


class Contender:
    def __init__(self, index, spec):
        self.label, _, rest = spec.partition("=")
        rest, *settings = rest.split(",")
        self.environment = dict(setting.split("=", 1) for setting in settings)
        self.binary, _, level = rest.partition("@")
        self.level = level or "warning"
        self.pg_port = 17432 + 10 * index
        self.mysql_port = 17306 + 10 * index


class AB(e2e.Bench):
    def __init__(self, args):
        super().__init__(args)
        self.contenders = [Contender(index, spec) for index, spec in enumerate(args.contender)]
        self.proxies = {}

    def start_contender(self, contender):
        config = os.path.join(self.work, "%s.yaml" % contender.label)
        open(config, "w").write(f"""
listeners:
  - {{name: pg, engine: postgres, listen: 127.0.0.1:{contender.pg_port}, upstream: localhost:{self.testenv["postgres"]["port"]},
     iam_region: us-east-1, tls: {{mode: verify-full, ca_file: {self.ca}}}}}
  - {{name: mysql, engine: mysql, listen: 127.0.0.1:{contender.mysql_port}, upstream: localhost:{self.testenv["mysql"]["port"]},
     iam_region: us-east-1, tls: {{mode: verify-full, ca_file: {self.ca}}}}}
""")
        log = open(os.path.join(self.work, "%s.log" % contender.label), "w")
        process = subprocess.Popen([contender.binary, "--config", config, "--log-level", contender.level],
                                   env=dict(self.proxy_env, **contender.environment),
                                   stdout=log, stderr=log)
        self.processes.append(process)
        self.proxies[contender.label] = process
        self.wait_port(contender.pg_port)

    def pg_env_for(self, contender):
        env = dict(os.environ, PGUSER="bench_user", PGDATABASE="appdb", PGCONNECT_TIMEOUT="20", PGHOST="127.0.0.1",
                   PGPORT=str(contender.pg_port), PGSSLMODE="disable")
        env.pop("PGPASSWORD", None)
        return env

    def measure_pgbench(self, contender, clients, seconds):
        pid = self.proxies[contender.label].pid
        prefix = os.path.join(self.work, "lat-%s-%d" % (contender.label, e2e.time.monotonic_ns()))
        before = self.cpu_seconds(pid)
        result = e2e.run(["pgbench", "-S", "-n", "-c", str(clients), "-j", str(min(clients, 2)), "-T", str(seconds),
                          "-l", "--log-prefix", prefix], env=self.pg_env_for(contender))
        cpu = self.cpu_seconds(pid) - before
        tps, transactions = e2e.pgbench_totals(result.stdout)
        percentile = self.latency_percentiles(prefix)
        return {"tps": tps, "cpu_us_per_tx": cpu * 1e6 / max(1, transactions), "p50_us": percentile(0.5), "p99_us": percentile(0.99)}

    def measure_sysbench(self, contender, seconds):
        pid = self.proxies[contender.label].pid
        before = self.cpu_seconds(pid)
        result = e2e.run(["sysbench", "oltp_point_select", "--mysql-db=appdb", "--tables=4", "--table-size=10000",
                          "--mysql-host=127.0.0.1", "--mysql-port=%d" % contender.mysql_port, "--mysql-user=iam_user",
                          "--mysql-ssl=off", "--threads=16", "--time=%d" % seconds, "run"])
        qps = float(e2e.re.search(r"queries:\s+\d+\s+\(([\d.]+) per sec", result.stdout).group(1))
        queries = int(e2e.re.search(r"queries:\s+(\d+)", result.stdout).group(1))
        return {"tps": qps, "cpu_us_per_tx": (self.cpu_seconds(pid) - before) * 1e6 / max(1, queries)}

    def main(self):
        seconds = self.args.seconds
        try:
            self.prepare_tables()
            for contender in self.contenders:
                self.start_contender(contender)
            for contender in self.contenders:  # warm up: token cache, page cache
                self.measure_pgbench(contender, 4, 2)
            tests = [("pgbench -S, 16 clients", lambda c: self.measure_pgbench(c, 16, seconds)),
                     ("pgbench -S, 1 client", lambda c: self.measure_pgbench(c, 1, seconds)),
                     ("sysbench point select, 16 threads", lambda c: self.measure_sysbench(c, seconds))]
            results = {}
            for name, measure in tests:
                e2e.log(name)
                rounds = {c.label: [] for c in self.contenders}
                for index in range(self.args.rounds):
                    order = self.contenders[index % len(self.contenders):] + self.contenders[:index % len(self.contenders)]
                    for contender in order:
                        rounds[contender.label].append(measure(contender))
                results[name] = rounds
            return results
        finally:
            self.stop()


def report(results, contenders):
    first = contenders[0].label
    lines = ["| test | contender | median TPS | × %s | proxy CPU µs/tx | p50 µs | p99 µs | rounds (TPS) |" % first,
             "|---|---|---|---|---|---|---|---|"]
    latency = lambda values, key: "%.0f" % statistics.median(r[key] for r in values) if key in values[0] else "–"
    for name, rounds in results.items():
        base = statistics.median(r["tps"] for r in rounds[first])
        for contender in contenders:
            values = rounds[contender.label]
            tps = statistics.median(r["tps"] for r in values)
            cpu = statistics.median(r["cpu_us_per_tx"] for r in values)
            lines.append("| %s | %s | %.0f | %.3f | %.1f | %s | %s | %s |" % (
                name, contender.label, tps, tps / base, cpu, latency(values, "p50_us"), latency(values, "p99_us"),
                ", ".join("%.0f" % r["tps"] for r in values)))
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--contender", action="append", required=True, help="LABEL=BINARY[@LOG_LEVEL]")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--output", help="also write the table to this file")
    args = parser.parse_args()
    bench = AB(args)
    table = report(bench.main(), bench.contenders)
    print(table)
    if args.output:
        open(args.output, "w").write(table + "\n")
