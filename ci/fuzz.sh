#!/usr/bin/env bash
# Builds the libFuzzer harnesses with clang under ASan+UBSan, replays every past crash, then
# fuzzes each harness for a bounded time and prints executions and crashes per harness.
# Usage: ci/fuzz.sh [--seconds N] [--long] [HARNESS...]
#   default 60 s per harness (CI); --long 4 h per harness; --seconds N overrides both.
#   Exit status: 0 no crash, 1 a crash or a failing regression, 2 usage or build error.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)

seconds=
long=0
harnesses=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) [ $# -ge 2 ] || { echo "ci/fuzz.sh: --seconds needs a number" >&2; exit 2; }
               seconds=$2; shift 2 ;;
    --long) long=1; shift ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    -*) echo "ci/fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) harnesses+=("$1"); shift ;;
  esac
done
if [ -z "$seconds" ]; then
  if [ "$long" -eq 1 ]; then seconds=14400; else seconds=60; fi
fi
case "$seconds" in ''|*[!0-9]*) echo "ci/fuzz.sh: --seconds needs a whole number" >&2; exit 2 ;; esac
all=(conf recrow replay variant wire)
for h in scenario csv; do
  # The simulator's parsers have harnesses once their loaders exist (tests/fuzz/CMakeLists.txt).
  [ -f "tests/fuzz/fuzz_$h.c" ] && all+=("$h")
done
[ ${#harnesses[@]} -gt 0 ] || harnesses=("${all[@]}")

bash ci/deps.sh host || { echo "ci/fuzz.sh: dependency install failed" >&2; exit 2; }

build=$root/build-fuzz
jobs=$(nproc 2>/dev/null || echo 2)
# tests/fuzz is configured on its own (it pulls in the project), so this works whether or not
# tests/CMakeLists.txt lists it. RelWithDebInfo: libFuzzer wants speed, the reports want lines.
# No -Werror: clang warns where gcc does not (-Wbitwise-instead-of-logical), and the warning
# gate is ci/test.sh's gcc build; here a warning must not stop the search for crashes.
mkdir -p "$build"
cmake -S tests/fuzz -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DBMSAGG_FUZZ=ON -DBMSAGG_SANITIZE=ON -DBMSAGG_WERROR=OFF >"$build/configure.log" 2>&1 ||
  { cat "$build/configure.log"; echo "ci/fuzz.sh: configure failed" >&2; exit 2; }
targets=()
for h in "${harnesses[@]}"; do targets+=("fuzz_$h"); done
cmake --build "$build" -j "$jobs" --target "${targets[@]}" ||
  { echo "ci/fuzz.sh: build failed" >&2; exit 2; }

# A crash must stop the run and leave a reproducer; leaks count as crashes.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

max_len() {   # the longest input each harness needs: a recording's S row is 12 kB
  case "$1" in
    recrow|replay|wire) echo 65536 ;;
    conf|scenario|csv) echo 16384 ;;
    *) echo 8192 ;;
  esac
}

failed=0
report=()
for h in "${harnesses[@]}"; do
  exe=$build/bin/fuzz_$h
  seeds=$root/tests/fuzz/corpus/$h
  regress=$root/tests/fuzz/regressions/$h
  work=$build/corpus/$h
  artifacts=$build/artifacts/$h
  log=$build/fuzz-$h.log
  mkdir -p "$work" "$artifacts"
  echo "=== fuzz_$h ==="

  # 1. Every crash found before, and every seed: each must run clean before fuzzing starts.
  nreg=0
  inputs=()
  for f in "$regress"/* "$seeds"/*; do
    [ -f "$f" ] || continue
    inputs+=("$f")
    case "$f" in "$regress"/*) nreg=$((nreg + 1)) ;; esac
  done
  if [ ${#inputs[@]} -gt 0 ] && ! "$exe" -runs=1 "${inputs[@]}" >"$build/replay-$h.log" 2>&1; then
    tail -40 "$build/replay-$h.log"
    echo "fuzz_$h: a regression or seed input fails (log: $build/replay-$h.log)"
    report+=("$(printf '%-9s %8s %12s %10s %8s  %s' "$h" 0 0 - "regress" "replay failed")")
    failed=1
    continue
  fi

  # 2. Fuzz. New inputs go to the work corpus (the first folder); the committed seeds are read.
  rc=0
  : >"$log.start"   # artifacts newer than this are this run's
  "$exe" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2560 -max_len="$(max_len "$h")" \
         -print_final_stats=1 -artifact_prefix="$artifacts/" "$work" "$seeds" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  [ -n "$execs" ] || execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' "$log" | tail -1)
  [ -n "$execs" ] || execs=0
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  corpus=$(find "$work" -type f | wc -l)
  crashes=$(find "$artifacts" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
            -o -name 'oom-*' -o -name 'slow-unit-*' \) -newer "$log.start" 2>/dev/null | wc -l || true)
  if [ "$rc" -ne 0 ]; then
    failed=1
    grep -E 'ERROR|SUMMARY|property failed|runtime error' "$log" | head -5 || true
    echo "fuzz_$h: crashed (exit $rc); reproducer in $artifacts/, log $log"
    echo "  rerun:   $exe $artifacts/<file>"
    echo "  keep it: once fixed, copy it to tests/fuzz/regressions/$h/"
    [ "$crashes" -gt 0 ] || crashes=1
  fi
  report+=("$(printf '%-9s %8s %12s %10s %8s  %s' "$h" "$seconds" "$execs" "${rate:--}" "$corpus" \
             "$crashes crash(es), $nreg regression(s) replayed")")
done

echo
echo "=== fuzzing summary (ASan+UBSan, clang $(clang -dumpversion)) ==="
printf '%-9s %8s %12s %10s %8s  %s\n' harness seconds executions exec/s corpus result
for line in "${report[@]}"; do echo "$line"; done
# Reproducers of bugs reported but not fixed yet: not replayed (they would fail every run);
# each moves to regressions/ with its fix.
n_open=$(find tests/fuzz/open -type f ! -name '.*' 2>/dev/null | wc -l)
[ "$n_open" -eq 0 ] || echo "known open bugs: $n_open reproducer(s) in tests/fuzz/open/ (see tests/fuzz/README.md)"
if [ "$failed" -ne 0 ]; then
  echo "fuzzing: FAILED"
  exit 1
fi
echo "fuzzing: no crash"
