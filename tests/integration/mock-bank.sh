#!/bin/bash
# Starts a private system bus, a mock com.victronenergy.settings, a bank of mock dbus-serialbattery
# packs (python-dbusmock) and bms-aggregator, so the virtual battery can be read with dbus-send.
#
#   tests/integration/mock-bank.sh [--daemon PATH] [--config FILE] [--socs 93,84,82] [--dir DIR] [--check]
#
# Then, from another terminal:
#   export DBUS_SYSTEM_BUS_ADDRESS=unix:path=/tmp/bmsagg-mock-bank/system_bus_socket
#   dbus-send --system --print-reply --dest=com.victronenergy.battery.bms_aggregator /Soc \
#     com.victronenergy.BusItem.GetValue
# Ctrl-C stops everything this script started. --check reads /Soc and /Info/MaxChargeCurrent once,
# prints them and stops (exit 0 when /Soc came back).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
daemon=$top/build/bin/bms-aggregator
config=$top/daemon/bms-aggregator.ini
socs=93,84,82
dir=/tmp/bmsagg-mock-bank
check=0
python=/usr/bin/python3
service=com.victronenergy.battery.bms_aggregator

while [ $# -gt 0 ]; do
  case "$1" in
    --daemon) daemon=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    --socs) socs=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --check) check=1; shift ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "mock-bank.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -x "$daemon" ] || { echo "mock-bank.sh: no daemon at $daemon (build first, or --daemon PATH)" >&2; exit 2; }

mkdir -p "$dir"
sock=$dir/system_bus_socket
if [ -S "$sock" ] && DBUS_SYSTEM_BUS_ADDRESS=unix:path=$sock dbus-send --system --print-reply \
     --dest=org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus.GetId > /dev/null 2>&1; then
  echo "mock-bank.sh: a bus is already listening on $sock (another mock bank?); use --dir" >&2
  exit 2
fi
rm -f "$sock"
pids=()
cleanup() {
  # Only what this script started, by pid, daemon first so it leaves the bus cleanly.
  local p
  for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2> /dev/null || true; done
  rm -f "$sock"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

. "$top/tests/lib/private-bus.sh"
bus_start "$dir" "$sock"
bus_pid=$BUS_PID

wait_owner() {
  bus_wait_owner "$1" 30 && return 0
  echo "mock-bank.sh: $1 did not appear (logs in $dir)" >&2
  return 1
}

"$python" "$here/mock_settings.py" > "$dir/settings.log" 2>&1 &
pids=($! "${pids[@]}")
IFS=, read -r -a soc_list <<< "$socs"
k=0
for soc in "${soc_list[@]}"; do
  "$python" "$here/mock_bms.py" --name "com.victronenergy.battery.ttyUSB$k" \
    --params "{\"di\": $((k + 1)), \"soc\": $soc}" > "$dir/pack$k.log" 2>&1 &
  pids=($! "${pids[@]}")
  k=$((k + 1))
done
wait_owner com.victronenergy.settings
for ((j = 0; j < k; j++)); do wait_owner "com.victronenergy.battery.ttyUSB$j"; done

"$daemon" --config "$config" 2> "$dir/daemon.log" &
pids=($! "${pids[@]}" "$bus_pid")
wait_owner "$service"

get() {
  dbus-send --system --print-reply=literal --reply-timeout=2000 --dest=$service "$1" \
    com.victronenergy.BusItem.GetValue 2> /dev/null | awk '{print $NF}'
}
# The first aggregation comes with the first tick (poll_interval_s after start).
for ((i = 0; i < 100; i++)); do
  soc=$(get /Soc)
  case "$soc" in ''|']') sleep 0.1 ;; *) break ;; esac
done

echo "mock bank: $k packs (SOC ${socs//,/ / } %), daemon log in $dir/daemon.log"
echo "  /Soc = $soc   /Info/MaxChargeCurrent = $(get /Info/MaxChargeCurrent)"
if [ "$check" = 1 ]; then
  case "$soc" in ''|']') exit 1 ;; *) exit 0 ;; esac
fi
cat <<EOF2

Read it from another terminal:
  export DBUS_SYSTEM_BUS_ADDRESS=$DBUS_SYSTEM_BUS_ADDRESS
  dbus-send --system --print-reply --dest=$service /Soc com.victronenergy.BusItem.GetValue
  dbus-send --system --print-reply --dest=$service / com.victronenergy.BusItem.GetItems

Ctrl-C stops the bank.
EOF2
wait "${pids[0]}"
