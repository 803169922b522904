#!/bin/sh
# A deliberately broken config must make the sweep fail: exit 1, the failing seed printed with a
# one-line reproduce command that fails again, and a shrunk scenario that fails under `run` alone.
# usage: sweep-broken.sh BMSAGG_SIM BROKEN_CONFIG WORKDIR
set -u
sim=$1 config=$2 out=$3
fail() { echo "FAIL: $*"; exit 1; }
rm -rf "$out" "$out.log" "$out.run.log" "$out.re.log"

"$sim" sweep --seeds 4 --from 1 --days 0.5 -j 2 --config "$config" --out "$out" >"$out.log" 2>&1
rc=$?
cat "$out.log"
[ "$rc" -eq 1 ] || fail "sweep exited $rc, want 1"

# The reproduce line, run as printed (plus a scratch --out), must fail the same seed again.
line=$(sed -n 's/^ *reproduce: bmsagg-sim \(sweep --seeds 1 --from [0-9][0-9]* .*\)$/\1/p' "$out.log" | head -n 1)
[ -n "$line" ] || fail "no reproduce line"
# shellcheck disable=SC2086 # the printed command is split into words on purpose
"$sim" $line --out "$out/re" >"$out.re.log" 2>&1
rc=$?
cat "$out.re.log"
[ "$rc" -eq 1 ] || fail "reproduce command '$line' exited $rc, want 1"

# The shrunk scenario names the config itself, so `run` needs no --config to fail with ccl-tier.
min=$(sed -n 's/^ *minimal: *bmsagg-sim run \([^ ]*\) .*fails the same way.*/\1/p' "$out.log" | head -n 1)
[ -n "$min" ] && [ -f "$min" ] || fail "no verified minimal scenario in the output"
"$sim" run "$min" >"$out.run.log" 2>&1
rc=$?
cat "$out.run.log"
[ "$rc" -eq 1 ] || fail "bmsagg-sim run $min exited $rc, want 1"
grep -q 'invariant ccl-tier violated' "$out.run.log" || fail "the minimal scenario did not fail with ccl-tier"
orig=$(echo "$min" | sed 's/-min\.ini$/.ini/')
[ -f "$orig" ] || fail "the generated scenario $orig was not kept beside the minimal one"
packs_min=$(sed -n 's/^packs = //p' "$min")
packs_orig=$(sed -n 's/^packs = //p' "$orig")
[ "$packs_min" -le "$packs_orig" ] || fail "shrinking added packs ($packs_orig -> $packs_min)"
echo "PASS: sweep failed, '$line' reproduced it, $min ($packs_min of $packs_orig packs) fails under run"
