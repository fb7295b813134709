#!/usr/bin/env python3
"""Where a middle box's CPU per transaction goes: user vs kernel time and context switches per
transaction, for the proxy, PgBouncer and the C floor under the same pgbench -S load, contenders
alternating. The sampling profile says what the proxy does; this says how much of the gap to the
floor is user space (ours to cut) and how much is the kernel and the scheduler (the same hop).

    Benchmarks/e2e/decompose.py --proxy .build/release/iam-db-proxy --rounds 3 --seconds 8 \\
        [--output Benchmarks/results/e2e-decomposition.md]

Needs what run.py needs (testenv/start.sh, pgbench, PgBouncer, gcc and libssl-dev); hardware
counters are not available on this VM, so /proc is the measure."""
import argparse
import glob
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as e2e  # noqa: E402

BOXES = ["proxy", "pgbouncer", "floor"]


def process_counters(pid):
    """(user seconds, kernel seconds, voluntary switches, involuntary switches) over all threads."""
    voluntary = involuntary = 0
    for status in glob.glob("/proc/%d/task/*/status" % pid):
        try:
            for line in open(status):
                if line.startswith("voluntary_ctxt_switches:"):
                    voluntary += int(line.split()[1])
                elif line.startswith("nonvoluntary_ctxt_switches:"):
                    involuntary += int(line.split()[1])
        except FileNotFoundError:  # a thread ended between the listing and the read
            pass
    return (*e2e.cpu_times(pid), voluntary, involuntary)


class Decompose(e2e.Bench):
    def measure(self, box, clients, seconds):
        pid = self.middle_box(box).pid
        before = process_counters(pid)
        result = e2e.run(["pgbench", "-S", "-n", "-c", str(clients), "-j", str(min(clients, 2)), "-T", str(seconds)],
                         env=self.pg_env(box))
        after = process_counters(pid)
        tps, transactions = e2e.pgbench_totals(result.stdout)
        delta = [a - b for a, b in zip(after, before)]
        per = lambda value, scale=1.0: value * scale / max(1, transactions)
        return {"tps": tps,
                "user_us": per(delta[0], 1e6), "kernel_us": per(delta[1], 1e6),
                "voluntary": per(delta[2]), "involuntary": per(delta[3])}

    def main(self):
        try:
            self.start_proxy()
            self.start_pgbouncer()
            self.start_floor()
            for box in BOXES:  # warm up: token cache, page cache
                self.measure(box, 4, 2)
            results = {}
            for clients in self.args.clients:
                e2e.log("pgbench -S, %d clients" % clients)
                results[clients] = self.alternate(BOXES, lambda box: self.measure(box, clients, self.args.seconds))
            return results
        finally:
            self.stop()


def report(results):
    lines = ["| clients | middle box | TPS | user µs/tx | kernel µs/tx | total µs/tx | voluntary switches/tx | involuntary switches/tx |",
             "|---|---|---|---|---|---|---|---|"]
    for clients, rounds in results.items():
        for box in BOXES:
            m = lambda key: statistics.median(entry[key] for entry in rounds[box])
            total = statistics.median(entry["user_us"] + entry["kernel_us"] for entry in rounds[box])
            lines.append("| %d | %s | %.0f | %.1f | %.1f | %.1f | %.2f | %.2f |" % (
                clients, box, m("tps"), m("user_us"), m("kernel_us"), total, m("voluntary"), m("involuntary")))
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--proxy", default=os.path.join(e2e.ROOT, ".build", "release", "iam-db-proxy"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--clients", type=int, action="append", help="default: 16 and 1")
    parser.add_argument("--output", help="also write the table to this file")
    args = parser.parse_args()
    args.clients = args.clients or [16, 1]
    table = report(Decompose(args).main())
    print(table)
    if args.output:
        open(args.output, "w").write(table + "\n")
