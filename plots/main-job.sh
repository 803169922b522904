#!/bin/sh
# The README's main job: the seed post's 3-pack bank (93 / 84 / 82 %) over a sunny week, with the
# summary table and the convergence plots (soc.png, ccl.png, cells.png) written to OUT.
# usage: plots/main-job.sh [BUILD_DIR] [OUT]     (defaults: build, out/seed)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
out=${2:-$root/out/seed}
"$build/bin/bmsagg-sim" run "$root/scenarios/seed-3pack-sunny-week.ini" --out "$out"
"$root/plots/plot.sh" "$out"
