#!/usr/bin/env bash
# The quick start's main job: installs what is missing, builds, and runs the original forum post's 3-pack bank
# (93 / 84 / 82 %) through a simulated sunny week, writing the summary, the trace and the convergence plots.
# Usage: ci/main-job.sh [OUT_DIR]   (default out/seed)
set -eu
cd "$(dirname "$0")/.."
out=${1:-out/seed}

bash ci/deps.sh host
cmake -S . -B build >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" >/dev/null

echo "== the core on the bank's snapshot (bmsagg-sim eval --soc 93,84,82)"
build/bin/bmsagg-sim eval --soc 93,84,82
echo
echo "== a simulated sunny week of that bank, the core in the loop"
sh plots/main-job.sh build "$out"
