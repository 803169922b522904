#!/usr/bin/env bash
# Runs every test: dependencies, core purity, -Werror build + all tests, ASan+UBSan build + tests,
# core line coverage, bounded fuzzing, and the armhf cross build under qemu. Exits non-zero if anything fails.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=$(nproc 2>/dev/null || echo 2)

bash ci/deps.sh host || { echo "ci/test.sh: dependency install failed" >&2; exit 1; }

passed=0
failed=0
failures=()
stage() {   # stage NAME COMMAND...: runs a stage, counts it, never stops the others
  local name=$1; shift
  echo
  echo "=== $name ==="
  if "$@"; then
    passed=$((passed + 1))
    echo "=== $name: ok ==="
  else
    failed=$((failed + 1))
    failures+=("$name")
    echo "=== $name: FAILED ==="
  fi
}

build() {   # build DIR [--target T] CMAKE_ARGS...
  local dir=$1; shift
  local target=()
  if [ "${1:-}" = --target ]; then target=(--target "$2"); shift 2; fi
  cmake -S "$root" -B "$dir" -DBMSAGG_WERROR=ON "$@" >"$dir.configure.log" 2>&1 ||
    { cat "$dir.configure.log"; return 1; }
  cmake --build "$dir" -j "$jobs" "${target[@]}"
}

normal() {
  build build &&
  # The unit runner once in the open, so its CUnit run summary is in the log.
  build/bin/bmsagg-unit-tests --seed 20261124 &&
  ctest --test-dir build --output-on-failure -j "$jobs"
}

sanitized() {
  build build-asan -DBMSAGG_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug &&
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j "$jobs" -LE 'sim-long|sweep|deploy'
}

coverage() {
  # Only what the measurement needs: the core under its unit tests.
  build build-cov --target bmsagg-unit-tests -DBMSAGG_COVERAGE=ON -DBMSAGG_BUILD_SIM=OFF &&
  find build-cov -name '*.gcda' -delete &&
  build-cov/bin/bmsagg-unit-tests --seed 20261124 >/dev/null &&
  gcovr -r "$root" --filter "$root/core/" --print-summary --fail-under-line 90 build-cov
}

stage "core purity" bash ci/check-core-pure.sh
stage "build (-Werror) and all tests" normal
stage "ASan+UBSan build and tests" sanitized
stage "core line coverage >= 90%" coverage
stage "fuzzing (60 s per harness, ASan+UBSan)" bash ci/fuzz.sh
if [ -f ci/cross.sh ]; then
  stage "armhf static build under qemu" bash ci/cross.sh
fi

echo
if [ "$failed" -ne 0 ]; then
  echo "failed stages: ${failures[*]}"
fi
echo "stages: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
