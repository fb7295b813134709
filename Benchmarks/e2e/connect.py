#!/usr/bin/env python3
"""New connection per transaction (`pgbench -C`, a `SELECT 1` each): what `session_reuse: mode:
reuse` buys an app that connects per request. Contenders, alternating in one run:
  direct-iam   libpq verify-full TLS straight to the server, the IAM user with a signed token as
               its password (checked by the local PAM verifier, the stand-in for RDS's check)
  direct-scram libpq verify-full TLS straight to the server, a SCRAM password user (so the ratio
               is not only the local verifier's slowness)
  proxy        plaintext to iam-db-proxy, a login of its own per client (session_reuse off)
  proxy-reuse  plaintext to iam-db-proxy with session_reuse: mode: reuse
Started by Benchmarks/run-connect.sh. Writes Benchmarks/results/session-reuse.{md,json}."""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
RESULTS = os.path.join(ROOT, "Benchmarks", "results")
LOGIN, REUSE = 16440, 16441
CONTENDERS = ["direct-iam", "direct-scram", "proxy", "proxy-reuse"]


def log(*parts):
    print("connect:", *parts, file=sys.stderr, flush=True)


class Bench:
    def __init__(self, args):
        self.args = args
        self.testenv = json.load(open("/tmp/iam-db-proxy-testenv/testenv.json"))
        self.work = tempfile.mkdtemp(prefix="iam-db-proxy-connect-")
        identity = json.load(open(os.path.join(ROOT, "testenv", "credentials.json")))["identities"][1]
        self.aws = dict(os.environ, AWS_ACCESS_KEY_ID=identity["access_key_id"], AWS_SECRET_ACCESS_KEY=identity["secret_access_key"],
                        AWS_SESSION_TOKEN=identity["session_token"], AWS_EC2_METADATA_DISABLED="true")
        self.script = os.path.join(self.work, "select1.sql")
        open(self.script, "w").write("SELECT 1;\n")
        self.proxy = None

    def env(self, contender):
        pg = self.testenv["postgres"]
        env = dict(os.environ, PGDATABASE="appdb", PGCONNECT_TIMEOUT="20")
        if contender.startswith("direct"):
            env.update(PGHOST="localhost", PGPORT=str(pg["port"]), PGSSLMODE="verify-full", PGSSLROOTCERT=self.testenv["ca_file"])
            if contender == "direct-iam":
                env.update(PGUSER=pg["iam_user"], PGPASSWORD=self.token())
            else:
                env.update(PGUSER=pg["password_user"], PGPASSWORD=pg["password"])
        else:
            env.update(PGHOST="127.0.0.1", PGPORT=str(REUSE if contender == "proxy-reuse" else LOGIN), PGSSLMODE="disable", PGUSER=pg["iam_user"])
            env.pop("PGPASSWORD", None)
        return env

    def token(self):
        """Signed afresh for each run (a token lives 15 minutes), as an app that signs before connecting would."""
        pg = self.testenv["postgres"]
        return subprocess.run([self.args.proxy, "token", "--host", "localhost", "--port", str(pg["port"]), "--user", pg["iam_user"],
                               "--region", "us-east-1"], env=self.aws, capture_output=True, text=True, check=True).stdout.strip()

    def start_proxy(self):
        config = os.path.join(self.work, "proxy.yaml")
        pg = self.testenv["postgres"]
        tls = "tls: {mode: verify-full, ca_file: %s}" % self.testenv["ca_file"]
        open(config, "w").write(f"""
listeners:
  - {{name: login, engine: postgres, listen: 127.0.0.1:{LOGIN}, upstream: localhost:{pg["port"]}, iam_region: us-east-1, {tls}}}
  - {{name: reuse, engine: postgres, listen: 127.0.0.1:{REUSE}, upstream: localhost:{pg["port"]}, iam_region: us-east-1, {tls},
     session_reuse: {{mode: reuse}}}}
""")
        self.proxy = subprocess.Popen([self.args.proxy, "--config", config, "--log-level", "warning"], env=self.aws,
                                      stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.work, "proxy.log"), "w"))
        for _ in range(200):
            if subprocess.run(["psql", "-Atqc", "SELECT 1"], env=self.env("proxy"), capture_output=True).returncode == 0:
                return
            time.sleep(0.1)
        raise SystemExit("connect: the proxy did not start; see %s" % self.work)

    def cpu_seconds(self):
        fields = open("/proc/%d/stat" % self.proxy.pid).read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def pgbench(self, contender):
        before = self.cpu_seconds()
        command = ["pgbench", "-n", "-C", "-f", self.script, "-c", str(self.args.clients), "-j", str(min(2, self.args.clients)),
                   "-T", str(self.args.seconds)]
        result = subprocess.run(command, env=self.env(contender), capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit("connect: pgbench failed for %s:\n%s" % (contender, result.stderr[-2000:]))
        cpu = self.cpu_seconds() - before
        transactions = int(re.search(r"number of transactions actually processed: (\d+)", result.stdout).group(1))
        connection_ms = re.search(r"average connection time = ([\d.]+) ms", result.stdout)
        latency_ms = re.search(r"latency average = ([\d.]+) ms", result.stdout)
        return {"tps": float(re.search(r"tps = ([\d.]+)", result.stdout).group(1)), "transactions": transactions,
                "connection_ms": float(connection_ms.group(1)) if connection_ms else None,
                "latency_ms": float(latency_ms.group(1)) if latency_ms else None,
                "proxy_cpu_us_per_connect": cpu * 1e6 / max(1, transactions) if contender.startswith("proxy") else None}

    def main(self):
        self.start_proxy()
        try:
            for contender in CONTENDERS:  # warm: the token cache, the parked sessions, the verifier's imports
                self.pgbench(contender)
            rounds = {contender: [] for contender in CONTENDERS}
            for index in range(self.args.rounds):
                order = CONTENDERS[index % len(CONTENDERS):] + CONTENDERS[:index % len(CONTENDERS)]
                for contender in order:
                    rounds[contender].append(self.pgbench(contender))
                    log("round %d %s: %.0f connects/s" % (index + 1, contender, rounds[contender][-1]["tps"]))
            return rounds
        finally:
            self.proxy.terminate()
            self.proxy.wait(10)


def median(entries, key):
    values = [entry[key] for entry in entries if entry.get(key) is not None]
    return statistics.median(values) if values else None


def write(rounds, args):
    os.makedirs(RESULTS, exist_ok=True)
    json.dump({"args": vars(args), "rounds": rounds}, open(os.path.join(RESULTS, "session-reuse.json"), "w"), indent=1)
    reuse = median(rounds["proxy-reuse"], "tps")
    lines = [
        "# New connection per transaction: session reuse",
        "",
        "Produced by `Benchmarks/run-connect.sh` on %s: `pgbench -n -C -f select1.sql -c %d -j %d -T %d` "
        "(a connect, `SELECT 1` and a disconnect per transaction), %d alternating rounds per contender; medians."
        % (time.strftime("%Y-%m-%d"), args.clients, min(2, args.clients), args.seconds, args.rounds),
        "",
        "| contender | connects/s (rounds) | reuse's ratio | connect time, ms (pgbench's average) | latency, ms | proxy CPU µs per connect |",
        "|---|---|---|---|---|---|",
    ]
    for contender in CONTENDERS:
        tps = median(rounds[contender], "tps")
        cpu = median(rounds[contender], "proxy_cpu_us_per_connect")
        lines.append("| %s | %.0f (%s) | %s | %s | %s | %s |" % (
            contender, tps, " / ".join("%.0f" % entry["tps"] for entry in rounds[contender]),
            "–" if contender == "proxy-reuse" else "%.1f×" % (reuse / tps),
            "%.2f" % median(rounds[contender], "connection_ms") if median(rounds[contender], "connection_ms") is not None else "–",
            "%.2f" % median(rounds[contender], "latency_ms") if median(rounds[contender], "latency_ms") is not None else "–",
            "%.0f" % cpu if cpu is not None else "–"))
    lines += [
        "",
        "Targets (issue #16): proxy-reuse ≥ 10× direct-iam and ≥ 2× direct-scram connects per second, with a lower connect time than both.",
        "direct-iam pays the server's token check (here `testenv/token_verifier.py` through PAM, in Python: slower than RDS's); "
        "direct-scram pays TLS and SCRAM's 4096 PBKDF2 iterations, as any password user does.",
    ]
    open(os.path.join(RESULTS, "session-reuse.md"), "w").write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--proxy", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--clients", type=int, default=4)
    arguments = parser.parse_args()
    write(Bench(arguments).main(), arguments)
