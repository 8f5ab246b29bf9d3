#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60), one after another, and prints a
# table: target, execs, execs/s, coverage (libFuzzer's cov/ft), result, and the
# executions the campaign ledger holds for the target in all. A crash is minimized and
# kept under fuzz/artifacts/<target>/; the new inputs a run finds stay in a scratch
# corpus (FUZZ_WORK, default $CARGO_TARGET_DIR/fuzz-work) so the repository's corpora
# only grow by hand, with `-merge=1` (docs/fuzzing.md).
#
# `tools/fuzz.sh --coverage [TARGET...]` runs nothing new: it replays the repository's
# and the scratch corpus of each target once and sums, from libFuzzer's
# -print_coverage, the edges of pecd's own functions the corpus reaches (FUZZ_SRC: the
# src folder the binaries were built from, when not this checkout's).
#
# Toolchain: `cargo +nightly fuzz` when rustup has a nightly, else the stable one with
# RUSTC_BOOTSTRAP=1 (cargo-fuzz needs -Zsanitizer). Install cargo-fuzz with
# `cargo install cargo-fuzz --locked`. FUZZ_BUILD=0 runs the binaries already built.
# FUZZ_SANITIZER (default address) is cargo-fuzz's -s: `none` runs four to five times
# as many inputs a second (docs/fuzzing.md); keep each build in its own
# CARGO_TARGET_DIR. The ledger says which one each run used, read from the binary.
# A target with build options of its own (fuzz/build-flags/<target>, one line: for
# `imap_session`, `--no-trace-compares`, docs/fuzzing.md) is built apart, under
# $CARGO_TARGET_DIR/apart/<target>, since other instrumentation rebuilds every crate;
# the ledger's sanitizer column carries the options.
# An input that runs longer than FUZZ_TIMEOUT seconds (default 10) is reported as a hang.
# CPU is shared: run it as `nice -n 15 tools/fuzz.sh`.
#
# Usage: tools/fuzz.sh [--coverage] [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
root="$(cd .. && pwd)"

mode=run
if [ "${1:-}" = "--coverage" ]; then
  mode=coverage
  shift
fi
seconds=60
if [ "$mode" = run ] && [[ "${1:-}" =~ ^[0-9]+$ ]]; then
  seconds=$1
  shift
fi
timeout="${FUZZ_TIMEOUT:-10}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$(pwd)/target}"
work="${FUZZ_WORK:-$CARGO_TARGET_DIR/fuzz-work}"
ledger="$work/ledger.tsv"

if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  fuzz=(cargo +nightly fuzz)
  host=$(rustc +nightly -vV | sed -n 's/^host: //p')
else
  export RUSTC_BOOTSTRAP=1
  fuzz=(cargo fuzz)
  host=$(rustc -vV | sed -n 's/^host: //p')
fi
bin="$CARGO_TARGET_DIR/$host/release"

# A target's own build options, if it has any.
build_flags() {
  cat "build-flags/$1" 2>/dev/null || true
}

# The folder of a target's binary: apart when it has build options of its own.
bin_of() {
  if [ -n "$(build_flags "$1")" ]; then
    echo "$CARGO_TARGET_DIR/apart/$1/$host/release"
  else
    echo "$bin"
  fi
}

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <("${fuzz[@]}" list)
fi

if [ "${FUZZ_BUILD:-1}" != 0 ]; then
  echo "building ${#targets[@]} targets with ${fuzz[*]}" >&2
  # -O: the [profile.release] of fuzz/Cargo.toml decides the assertions (docs/fuzzing.md).
  "${fuzz[@]}" build -O -s "${FUZZ_SANITIZER:-address}"
  for target in "${targets[@]}"; do
    read -r -a options <<<"$(build_flags "$target")"
    [ ${#options[@]} -gt 0 ] || continue
    CARGO_TARGET_DIR="$CARGO_TARGET_DIR/apart/$target" \
      "${fuzz[@]}" build -O -s "${FUZZ_SANITIZER:-address}" "${options[@]}" "$target"
  done
fi

# The last value of `name: value` in a libFuzzer log, or "-".
field() {
  grep -o "$1: *[0-9]*" "$2" | tail -n 1 | grep -o '[0-9]*$' || echo "-"
}

# The sanitizer a target's binary was built with (ASan's runtime is in it, or none
# is), and the target's own build options.
sanitizer() {
  local san=none
  if grep -q __asan_init "$(bin_of "$1")/$1"; then san=address; fi
  echo "$san${2:+ $2}"
}

# CPU seconds used by this shell's children that have ended: read before and after a
# run, the fuzzer's own, which other work on a shared machine does not change the way
# it changes wall-clock execs/s.
children_cpu() {
  awk -v hz="$(getconf CLK_TCK)" '{ printf "%.1f", ($16 + $17) / hz }' "/proc/$$/stat"
}

# The executions the ledger records for a target, over every run.
total_execs() {
  awk -F'\t' -v t="$1" '$2 == t && $4 ~ /^[0-9]+$/ { n += $4 } END { print n + 0 }' "$ledger" 2>/dev/null || echo 0
}

# Edges of pecd's own functions (files under src/) covered by a coverage log, in all
# and per file.
pecd_edges() {
  awk -v src="${FUZZ_SRC:-$root/src}/" '
    /^(UN)?COVERED_FUNC:/ {
      split($5, e, "/"); file = $NF; sub(/:[0-9]+$/, "", file)
      if (index(file, src) != 1) next
      file = substr(file, length(src) + 1)
      covered[file] += e[1]; edges[file] += e[2]; c += e[1]; t += e[2]
    }
    END {
      if (t == 0) { print "no pecd function in the binary"; exit }
      printf "pecd edges %d/%d (%.1f%%)\n", c, t, 100 * c / t
      for (f in edges) printf "  %-44s %6d/%-6d %5.1f%%\n", f, covered[f], edges[f], 100 * covered[f] / edges[f]
    }' "$1"
}

if [ "$mode" = coverage ]; then
  for target in "${targets[@]}"; do
    log="$work/$target/coverage.log"
    mkdir -p "$work/$target/corpus"
    # libFuzzer copies into the first folder whatever the others add: the scratch one.
    if ! "$(bin_of "$target")/$target" -runs=0 -print_coverage=1 "$work/$target/corpus" "corpus/$target" >"$log" 2>&1; then
      echo "== $target: the replay stopped (a binary older than a fixed crash?): $log"
      continue
    fi
    echo "== $target ($(find "corpus/$target" "$work/$target/corpus" -type f | wc -l) inputs)"
    pecd_edges "$log" | { read -r first; echo "$first"; sort -k1,1; }
  done
  exit 0
fi

mkdir -p "$work"
rows=()
status=0
for target in "${targets[@]}"; do
  corpus="$work/$target/corpus"
  artifacts="$(pwd)/artifacts/$target"
  log="$work/$target/run.log"
  mkdir -p "$corpus" "$artifacts"
  echo "fuzzing $target for ${seconds}s (log: $log)" >&2
  started=$(date +%s)
  cpu_before=$(children_cpu)
  # The repository corpus is read as seeds; new finds go to the scratch corpus.
  # A target's own libFuzzer flags, if it has any (fuzz/flags/<target>, one line).
  read -r -a flags <<<"$(cat "flags/$target" 2>/dev/null || true)"
  # An input still running after TIMEOUT seconds is a finding (a hang), not a slow run:
  # libFuzzer's own default waits twenty minutes. Each run is the only process on its
  # scratch corpus, so it need not read the folder again every second for others' finds
  # (-reload=0): with tens of thousands of files, those stat calls are a share of a
  # grown target's time worth saving (docs/fuzzing.md).
  if "$(bin_of "$target")/$target" "$corpus" "corpus/$target" -max_total_time="$seconds" -timeout="$timeout" \
    -reload=0 -print_final_stats=1 -print_funcs=0 -artifact_prefix="$artifacts/" ${flags[@]+"${flags[@]}"} \
    >"$log" 2>&1; then
    result="ok"
  elif grep -q "libFuzzer: run interrupted" "$log"; then
    # Stopped by a signal (a campaign cut short): its executions count, clean.
    result="stopped"
  else
    crash=$(grep -o "Test unit written to [^ ]*" "$log" | tail -n 1 | sed "s/Test unit written to //" || true)
    if [ -n "$crash" ] && [ -f "$crash" ]; then
      minimized="$artifacts/minimized-$(basename "$crash")"
      "$(bin_of "$target")/$target" -minimize_crash=1 -runs=10000 -timeout="$timeout" \
        -exact_artifact_path="$minimized" "$crash" \
        >"$log.tmin" 2>&1 || true
      [ -f "$minimized" ] || minimized=$crash
      result="crash: $minimized"
    else
      result="failed: see $log"
    fi
    status=1
  fi
  elapsed=$(($(date +%s) - started))
  cpu=$(awk -v a="$cpu_before" -v b="$(children_cpu)" 'BEGIN { printf "%.1f", b - a }')
  execs=$(field "stat::number_of_executed_units" "$log")
  per_cpu=$(awk -v n="$execs" -v c="$cpu" 'BEGIN { if (n ~ /^[0-9]+$/ && c > 0) printf "%.0f", n / c; else print "-" }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$target" "$elapsed" "$execs" \
    "$(field "stat::average_exec_per_sec" "$log")" "$(field cov "$log")/$(field ft "$log")" \
    "$result" "$(sanitizer "$target" "$(build_flags "$target")")" "$cpu" >>"$ledger"
  rows+=("$(printf '%-14s %12s %9s %9s %14s %14s  %s' "$target" "$execs" \
    "$(field "stat::average_exec_per_sec" "$log")" "$per_cpu" "$(field cov "$log")/$(field ft "$log")" \
    "$(total_execs "$target")" "$result (${elapsed}s)")")
done

printf '%-14s %12s %9s %9s %14s %14s  %s\n' target execs execs/s "/cpu-s" cov/ft "ledger execs" result
for row in "${rows[@]}"; do echo "$row"; done
exit "$status"
