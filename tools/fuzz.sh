#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60), one after another, and prints a
# table: target, execs, execs/s, coverage (libFuzzer's cov/ft), result. A crash is
# minimized and kept under fuzz/artifacts/<target>/; the new inputs a run finds stay in
# a scratch corpus (FUZZ_WORK, default $CARGO_TARGET_DIR/fuzz-work) so the repository's
# corpora only grow by hand, with `cargo fuzz cmin` (docs/fuzzing.md).
#
# Toolchain: `cargo +nightly fuzz` when rustup has a nightly, else the stable one with
# RUSTC_BOOTSTRAP=1 (cargo-fuzz needs -Zsanitizer). Install cargo-fuzz with
# `cargo install cargo-fuzz --locked`. CPU is shared: run it as `nice -n 15 tools/fuzz.sh`.
#
# Usage: tools/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${1:-60}"
shift || true
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$(pwd)/target}"
work="${FUZZ_WORK:-$CARGO_TARGET_DIR/fuzz-work}"

if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  fuzz=(cargo +nightly fuzz)
else
  export RUSTC_BOOTSTRAP=1
  fuzz=(cargo fuzz)
fi

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <("${fuzz[@]}" list)
fi

echo "building ${#targets[@]} targets with ${fuzz[*]}" >&2
"${fuzz[@]}" build -O

# The last value of `name: value` in a libFuzzer log, or "-".
field() {
  grep -o "$1: *[0-9]*" "$2" | tail -n 1 | grep -o '[0-9]*$' || echo "-"
}

rows=()
status=0
for target in "${targets[@]}"; do
  corpus="$work/$target/corpus"
  artifacts="$(pwd)/artifacts/$target"
  log="$work/$target/run.log"
  mkdir -p "$corpus" "$artifacts"
  echo "fuzzing $target for ${seconds}s (log: $log)" >&2
  started=$(date +%s)
  # The repository corpus is read as seeds; new finds go to the scratch corpus.
  if "${fuzz[@]}" run -O "$target" "$corpus" "corpus/$target" -- \
    -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
    result="ok"
  else
    crash=$(grep -o "Test unit written to [^ ]*" "$log" | tail -n 1 | sed 's/Test unit written to //')
    if [ -n "$crash" ] && [ -f "$crash" ]; then
      "${fuzz[@]}" tmin -O --runs 1000 "$target" "$crash" >"$log.tmin" 2>&1 || true
      minimized=$(grep -A2 "Minimized artifact:" "$log.tmin" | tail -n 1 | tr -d '[:space:]' || true)
      result="crash: ${minimized:-$crash}"
    else
      result="failed: see $log"
    fi
    status=1
  fi
  elapsed=$(($(date +%s) - started))
  execs=$(field "stat::number_of_executed_units" "$log")
  per_second=$(field "stat::average_exec_per_sec" "$log")
  rows+=("$(printf '%-14s %12s %9s %14s %s' "$target" "$execs" "$per_second" \
    "$(field cov "$log")/$(field ft "$log")" "$result (${elapsed}s)")")
done

printf '%-14s %12s %9s %14s %s\n' target execs execs/s cov/ft result
for row in "${rows[@]}"; do echo "$row"; done
exit "$status"
