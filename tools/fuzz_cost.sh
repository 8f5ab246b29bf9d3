#!/usr/bin/env bash
# CPU per run of one fuzz target in several builds of it, the same runs in each: the
# repository's corpus of the target replayed first, then libFuzzer's mutations up to
# RUNS in all, from a fixed seed into an empty scratch folder. CPU time (perf stat's
# task-clock), not wall time, so a busy machine changes the figures little; the first
# build is the baseline the others' ratios are to.
#
# FUZZ_CORPUS=DIR replays DIR (a grown scratch corpus, say) instead of the repository's.
#
# Usage: tools/fuzz_cost.sh RUNS TARGET BIN_DIR [BIN_DIR…]
#   e.g. tools/fuzz_cost.sh 20000 smime_verify \
#          /work/target-fuzz/x86_64-unknown-linux-gnu/release \
#          /work/target-fuzz-none/x86_64-unknown-linux-gnu/release
set -euo pipefail
[ $# -ge 3 ] || { sed -n '2,13p' "$0"; exit 2; }
runs=$1
target=$2
shift 2
corpus="${FUZZ_CORPUS:-$(cd "$(dirname "$0")/../fuzz/corpus/$target" && pwd)}"
baseline=""
printf '%-60s %8s %12s %10s %6s\n' build runs "cpu ms" "µs/run" ratio
for dir in "$@"; do
  scratch=$(mktemp -d)
  mkdir "$scratch/corpus"
  perf stat -x, -e task-clock -o "$scratch/stat" "$dir/$target" -runs="$runs" -seed=3 \
    -timeout=10 -print_funcs=0 "$scratch/corpus" "$corpus" >"$scratch/log" 2>&1 || true
  ms=$(grep -E '^[0-9.]+,' "$scratch/stat" | cut -d, -f1 | tail -n 1)
  done_runs=$(grep -ao 'Done [0-9]* runs' "$scratch/log" | grep -o '[0-9]*' || echo 0)
  per_run=$(awk -v ms="$ms" -v n="$done_runs" 'BEGIN { if (n > 0) printf "%.0f", ms * 1000 / n; else print "-" }')
  baseline=${baseline:-$per_run}
  ratio=$(awk -v b="$baseline" -v p="$per_run" 'BEGIN { if (p > 0) printf "%.1f", b / p; else print "-" }')
  printf '%-60s %8s %12s %10s %6s\n' "$dir" "$done_runs" "$ms" "$per_run" "$ratio"
  rm -rf "$scratch"
done
