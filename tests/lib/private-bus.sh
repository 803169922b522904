# A private D-Bus "system" bus for the scripts that run the daemon against mock packs (sourced, bash).
#
#   . tests/lib/private-bus.sh
#   bus_start DIR [SOCKET]   # writes DIR/bus.conf, starts dbus-daemon (forked); sets BUS_PID and
#                            # exports DBUS_SYSTEM_BUS_ADDRESS (SOCKET default DIR/system_bus_socket)
#   bus_has_owner NAME       # true when NAME is owned on that bus
#   bus_wait_owner NAME [S]  # waits up to S seconds (default 30) for NAME; false if it never came
#
# The policy is Venus's (DEPLOY.md section 6): anyone may own any name, send, receive and eavesdrop,
# EXTERNAL authentication on a unix socket. The caller owns BUS_PID: it kills it on exit.

bus_start() {
  local dir=$1 sock=${2:-$1/system_bus_socket}
  cat > "$dir/bus.conf" <<CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$sock</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/><allow own="*"/><allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/><allow eavesdrop="true"/>
  </policy>
</busconfig>
CONF
  dbus-daemon --config-file="$dir/bus.conf" --fork --nopidfile --print-pid=3 --print-address=4 \
    3> "$dir/bus.pid" 4> "$dir/bus.addr"
  BUS_PID=$(cat "$dir/bus.pid")
  DBUS_SYSTEM_BUS_ADDRESS=$(head -n 1 "$dir/bus.addr")
  export DBUS_SYSTEM_BUS_ADDRESS
}

bus_has_owner() {
  dbus-send --system --print-reply --reply-timeout=2000 --dest=org.freedesktop.DBus /org/freedesktop/DBus \
    org.freedesktop.DBus.NameHasOwner "string:$1" 2> /dev/null | grep -q 'boolean true'
}

bus_wait_owner() {
  local i
  for ((i = 0; i < ${2:-30} * 10; i++)); do bus_has_owner "$1" && return 0; sleep 0.1; done
  return 1
}
