#!/bin/sh
# Turns a run's trace (bmsagg-sim run SCENARIO --out DIR) into PNGs in DIR: soc.png, ccl.png, cells.png.
# usage: plots/plot.sh DIR [OVP_V] [NOMINAL_CCL_A]
set -eu
dir=${1:?usage: plot.sh DIR [OVP_V] [NOMINAL_CCL_A]}
ovp=${2:-3.65}
nominal=${3:-150}
here=$(cd "$(dirname "$0")" && pwd)
trace="$dir/trace.csv"
[ -s "$trace" ] || { echo "plot.sh: $trace missing or empty (run bmsagg-sim run SCENARIO --out $dir first)" >&2; exit 2; }
command -v gnuplot >/dev/null || { echo "plot.sh: gnuplot not found (apt-get install gnuplot-nox)" >&2; exit 2; }
npacks=$(head -n 1 "$trace" | tr ',' '\n' | grep -c '^soc_true_')
name=$(sed -n 's/^scenario=//p' "$dir/summary.txt" 2>/dev/null || true)
[ -n "$name" ] || name=$(basename "$dir")
gnuplot -e "trace='$trace'; out='$dir'; npacks=$npacks; ovp=$ovp; nominal=$nominal; title_='$name'" "$here/convergence.gp"
echo "wrote $dir/soc.png $dir/ccl.png $dir/cells.png"
