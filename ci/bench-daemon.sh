#!/bin/bash
# Benchmark of the daemon: CPU seconds per hour of operation and peak RSS against 3 and 16 mock
# packs that change every value once a second (python-dbusmock, on a private system bus).
# Not a timed test: it prints figures; compare them with the targets (< 1 CPU-s/h with 3 packs,
# peak RSS < 4 MiB).
#
#   ci/bench-daemon.sh [DAEMON]       default build/bin/bms-aggregator
#   BENCH_SECONDS=120 BENCH_PACKS="3 16" BENCH_MODES="props items" ci/bench-daemon.sh
#
# Modes: "props" = one PropertiesChanged per changed path (dbus-serialbattery's direct writes),
# "items" = one ItemsChanged per pack per second (velib's batched ServiceContext).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
daemon=${1:-$top/build/bin/bms-aggregator}
seconds=${BENCH_SECONDS:-60}
packs_list=${BENCH_PACKS:-3 16}
modes=${BENCH_MODES:-props items}
python=/usr/bin/python3
work=$(mktemp -d)
pids=()

cleanup() {
  # Only what this script started, by pid.
  local p
  for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2> /dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

[ -x "$daemon" ] || { echo "bench-daemon.sh: no daemon at $daemon (build it first)" >&2; exit 2; }

. "$top/tests/lib/private-bus.sh"
start_bus() {   # NAME: a private bus in its own directory under $work
  mkdir -p "$work/bus-$1"
  bus_start "$work/bus-$1"
  bus_pid=$BUS_PID
  pids+=("$bus_pid")
}

wait_owner() {
  bus_wait_owner "$1" 30 && return 0
  echo "bench-daemon.sh: $1 did not appear" >&2
  return 1
}

# CPU time in ns from the scheduler (single-threaded daemon), far finer than /proc/PID/stat ticks.
cpu_ns() { awk '{print $1}' "/proc/$1/schedstat"; }

run_one() {   # N MODE
  local n=$1 mode=$2 k own=()
  start_bus "$n-$mode"
  "$python" "$top/tests/integration/mock_settings.py" > /dev/null 2>&1 &
  pids+=($!); own+=($!)
  for ((k = 0; k < n; k++)); do
    "$python" "$top/tests/integration/mock_bms.py" --name "com.victronenergy.battery.ttyUSB$k" \
      --params "{\"di\": $((k + 1)), \"soc\": $((70 + k % 10)), \"auto_update_s\": ${BENCH_UPDATE_S:-1}, \"signal_mode\": \"$mode\"}" \
      > /dev/null 2>&1 &
    pids+=($!); own+=($!)
  done
  for ((k = 0; k < n; k++)); do wait_owner "com.victronenergy.battery.ttyUSB$k"; done
  # The shipped defaults (2 s tick), as on a Cerbo.
  sed -e "s/^expected_packs *=.*/expected_packs = $n/" "$top/daemon/bms-aggregator.ini" > "$work/bench.ini"
  "$daemon" --config "$work/bench.ini" 2> "$work/daemon-$n-$mode.log" &
  local d=$!
  pids+=("$d"); own+=("$d")
  wait_owner com.victronenergy.battery.bms_aggregator
  sleep 5   # settle: discovery and the first GetItems are start-up cost, not operation
  local t0 c0 t1 c1
  t0=$(date +%s.%N); c0=$(cpu_ns "$d")
  sleep "$seconds"
  t1=$(date +%s.%N); c1=$(cpu_ns "$d")
  local hwm online
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$d/status")
  online=$(dbus-send --system --print-reply=literal --dest=com.victronenergy.battery.bms_aggregator \
    /System/NrOfModulesOnline com.victronenergy.BusItem.GetValue | awk '{print $NF}')
  awk -v n="$n" -v mode="$mode" -v c="$((c1 - c0))" -v t0="$t0" -v t1="$t1" -v hwm="$hwm" \
      -v on="$online" 'BEGIN {
        cpu = c / 1e9; el = t1 - t0;
        printf "packs=%-2d mode=%-5s online=%s measured=%.0fs cpu=%.3fs cpu_s_per_hour=%.2f peak_rss_kib=%d (%.2f MiB)\n",
               n, mode, on, el, cpu, cpu * 3600 / el, hwm, hwm / 1024 }'
  for k in "${own[@]}"; do kill "$k" 2> /dev/null || true; done
  for k in "${own[@]}"; do wait "$k" 2> /dev/null || true; done
  kill "$bus_pid" 2> /dev/null || true
}

echo "daemon: $daemon ($(file -b "$daemon" | cut -d, -f1-2))"
echo "every mock value changes once a second; measured for ${seconds}s after a 5 s settle"
# The machine may be shared: the figures mean little without its load.
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for n in $packs_list; do
  for m in $modes; do run_one "$n" "$m"; done
done
