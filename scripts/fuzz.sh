#!/usr/bin/env bash
# Runs every libFuzzer target of Fuzz/ for SECONDS each (default 600), two at a time, from the
# committed seed corpus (new inputs go to a scratch copy), with each protocol's dictionary.
# Prints each target's executions per second, coverage and corpus size; a crash leaves its
# input in Fuzz/findings/ and makes the script exit 1. Not part of scripts/test.sh.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../Fuzz"
command -v swift >/dev/null || export PATH="/opt/swift/usr/bin:$PATH"
SECONDS_EACH="${1:-600}"; shift || true
declare -A DICTIONARY=(
    [FuzzPostgresHandshake]=postgres [FuzzMySQLHandshake]=mysql [FuzzMySQLCommandFramer]=framer
    [FuzzConfiguration]=configuration [FuzzCredentialDocuments]=credentials [FuzzSessionReuse]=reuse
)
TARGETS=("$@"); [ ${#TARGETS[@]} -gt 0 ] || TARGETS=("${!DICTIONARY[@]}")

echo "fuzz: building with --sanitize=fuzzer (a first build takes about 10 minutes)" >&2
swift build --sanitize=fuzzer >&2
BIN="$(swift build --sanitize=fuzzer --show-bin-path)"
mkdir -p findings work
run() {
    local target="$1" corpus="work/$1"
    rm -rf "$corpus"; mkdir -p "$corpus"; cp "Corpus/$target"/* "$corpus"/
    "$BIN/$target" "$corpus" -dict="Dictionaries/${DICTIONARY[$target]}.dict" -max_total_time="$SECONDS_EACH" \
        -max_len=4096 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="findings/$target-" \
        > "work/$target.log" 2>&1
}
status=0
for ((i = 0; i < ${#TARGETS[@]}; i += 2)); do
    pids=()
    for target in "${TARGETS[@]:i:2}"; do run "$target" & pids+=($!); done
    for pid in "${pids[@]}"; do wait "$pid" || status=1; done
done
for target in "${TARGETS[@]}"; do
    log="work/$target.log"
    last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
    execs=$(grep -oE 'stat::number_of_executed_units: +[0-9]+' "$log" | grep -oE '[0-9]+$' || echo 0)
    rate=$(grep -oE 'stat::average_exec_per_sec: +[0-9]+' "$log" | grep -oE '[0-9]+$' || echo 0)
    echo "$target: $execs runs, $rate exec/s, $(echo "$last" | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9a-zA-Z]+' || echo '?')"
    if grep -qE 'ERROR: libFuzzer|SUMMARY: ' "$log"; then echo "  FINDING: see $log and findings/" ; status=1; fi
done
exit $status
