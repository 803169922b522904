#!/bin/bash
# Smoke test of the armhf daemon under qemu: a private system bus, two mock packs, and /Soc read back from our service.
#
# Usage: tests/deploy/qemu_smoke.sh BINARY
#   BINARY  build-armhf/bin/bms-aggregator (run with qemu-arm -cpu cortex-a7), or a host build (run directly).
# Needs dbus-daemon, dbus-send and Debian's /usr/bin/python3 with python3-dbusmock (ci/deps.sh host), and the mock
# pack of tests/integration/mock_bms.py.
# Exit 0: the daemon found both packs, published /Soc = the lower pack SOC (70) and the 99 A tier CCL, and exited 0
# on SIGTERM.
set -eu

bin=${1:?usage: qemu_smoke.sh BINARY}
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
python=/usr/bin/python3
service=com.victronenergy.battery.bms_aggregator
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
die() {
  echo "qemu_smoke.sh: FAILED: $*" >&2
  if [ -f "$work/daemon.log" ]; then echo "--- daemon log (last 40 lines):" >&2; tail -n 40 "$work/daemon.log" >&2; fi
  exit 1
}

run=("$bin")
case "$(file -b "$bin")" in
  *ARM*) run=(qemu-arm -cpu cortex-a7 -L /usr/arm-linux-gnueabihf "$bin") ;;
esac

# A system bus like Venus's: permissive policy, EXTERNAL auth on a unix socket (DEPLOY.md §6).
. "$top/tests/lib/private-bus.sh"
bus_start "$work"
pids+=("$BUS_PID")
echo "private system bus: $DBUS_SYSTEM_BUS_ADDRESS"

wait_owner() { bus_wait_owner "$@"; }   # NAME SECONDS
get_value() {    # PATH -> the value printed by dbus-send, or nothing
  dbus-send --system --print-reply=literal --reply-timeout=2000 --dest=$service "$1" \
    com.victronenergy.BusItem.GetValue 2> /dev/null | awk '{print $NF}'
}

# The integration tests' dbus-serialbattery mock (same paths and wire shapes), driven only through its command line.
mock=$top/tests/integration/mock_bms.py
[ -f "$mock" ] || die "$mock not found (the daemon's integration tests provide it)"
"$python" "$mock" --name com.victronenergy.battery.ttyUSB0 --params '{"di": 1, "soc": 80}' > "$work/pack1.log" 2>&1 &
pids+=($!)
"$python" "$mock" --name com.victronenergy.battery.ttyUSB1 --params '{"di": 2, "soc": 70}' > "$work/pack2.log" 2>&1 &
pids+=($!)
wait_owner com.victronenergy.battery.ttyUSB0 10 || die "mock pack 1 did not come up"
wait_owner com.victronenergy.battery.ttyUSB1 10 || die "mock pack 2 did not come up"
echo "two mock packs up: SOC 80 and 70 %"

# The example config with the bank set to two packs and short waits (no settings service on this bus).
sed -e 's/^expected_packs *=.*/expected_packs = 2/' -e 's/^startup_wait_s *=.*/startup_wait_s = 5/' \
    -e 's/^settings_wait_s *=.*/settings_wait_s = 1/' "$top/daemon/bms-aggregator.ini" > "$work/smoke.ini"

start=$(date +%s)
"${run[@]}" --config "$work/smoke.ini" > "$work/daemon.log" 2>&1 &
daemon=$!
pids+=("$daemon")
wait_owner "$service" 30 || die "$service did not appear on the bus within 30 s"
echo "$service is on the bus after $(($(date +%s) - start)) s"

# Poll until the daemon has read both packs: /Soc = the lower SOC, and /Info/MaxChargeCurrent = 99 A (spread 10 pp
# is the 66 % tier of 150 A, rounded half up), which also shows the core computing on ARM as on the host.
soc='' ccl=''
for ((i = 0; i < 300; i++)); do
  soc=$(get_value /Soc)
  ccl=$(get_value /Info/MaxChargeCurrent)
  if [ "$soc" = 70 ] && [ "$ccl" = 99 ]; then break; fi
  kill -0 "$daemon" 2> /dev/null || die "the daemon exited"
  sleep 0.1
done
[ "$soc" = 70 ] || die "/Soc is '$soc' after 30 s, expected 70 (the lower pack SOC)"
echo "/Soc = $soc (lowest of 80 and 70): OK"
[ "$ccl" = 99 ] || die "/Info/MaxChargeCurrent is '$ccl', expected 99 (spread 10 pp: 66 % of 150 A)"
echo "/Info/MaxChargeCurrent = $ccl A (spread 10 pp, 66 % tier): OK"
for p in /Info/MaxChargeVoltage /System/NrOfModulesOnline /Info/ChargeLimitation; do
  echo "  $p = $(dbus-send --system --print-reply=literal --reply-timeout=2000 --dest=$service "$p" \
                  com.victronenergy.BusItem.GetValue 2> /dev/null | sed -E -e 's/^ *variant *//' -e 's/^(double|int16|int32|int64|uint16|uint32|uint64|byte|boolean) +//')"
done

# SIGTERM reaches the guest through qemu; the daemon must release its name and exit 0.
kill -TERM "$daemon"
status=0
for ((i = 0; i < 100; i++)); do
  kill -0 "$daemon" 2> /dev/null || break
  sleep 0.1
done
if kill -0 "$daemon" 2> /dev/null; then die "the daemon did not exit within 10 s of SIGTERM"; fi
wait "$daemon" || status=$?
[ "$status" = 0 ] || die "the daemon exited with status $status on SIGTERM"
echo "SIGTERM: exited 0"
echo "qemu smoke test passed"
