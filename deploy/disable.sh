#!/bin/bash
# Stops bms-aggregator and keeps it from starting at boot; its files and config stay for a later enable.sh.
#
# Usage: disable.sh
# BMSAGG_ROOT=DIR works on a file tree under DIR instead of / (the tests' fake Cerbo).
set -eu

name=bms-aggregator
root=${BMSAGG_ROOT:-}
dev_app=/data/apps/$name
app=$root$dev_app
link=$root/service/$name
rc=$root/data/rc.local
marker="$dev_app/enable.sh"

case "${1:-}" in
  "") ;;
  -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
  *) echo "disable.sh: unknown argument '$1' (usage: disable.sh)" >&2; exit 2 ;;
esac

say() { echo "disable.sh: $*"; }

# Removes our boot line from one rc file, keeping every other line as it is. Also applied to
# rc.local.disabled: Venus renames it back when the user re-enables custom scripts, and that must not bring
# a disabled service back. A file left holding nothing but a shebang did nothing else, so it goes.
remove_boot_line() {
  local f=$1 tmp mode
  [ -f "$f" ] || return 0
  grep -qF -- "$marker" "$f" || return 0
  tmp="$f.$name.$$"
  mode=$(stat -c %a "$f")
  { grep -vF -- "$marker" "$f" || true; } > "$tmp"
  if ! grep -qv -e '^#!' -e '^[[:space:]]*$' "$tmp"; then
    rm -f "$tmp" "$f"
    say "removed ${f#"$root"} (it held only our boot line)"
    return 0
  fi
  chmod "$mode" "$tmp"
  mv -f "$tmp" "$f"
  say "removed the boot line from ${f#"$root"}"
}
remove_boot_line "$rc"
remove_boot_line "$rc.disabled"

# The daemontools way to take a service down for good: unlink it first so svscan does not start a new
# supervise, then tell supervise to stop the process and exit (-d -x), for the logger too.
if [ -L "$link" ]; then
  rm -f "$link"
  say "removed /service/$name"
fi
if [ -d "$app/service/supervise" ] && command -v svc > /dev/null 2>&1; then
  svc -dx "$app/service" 2> /dev/null || true
  if [ -d "$app/service/log/supervise" ]; then svc -dx "$app/service/log" 2> /dev/null || true; fi
  # Wait (at most 10 s) until supervise is gone, so an upgrade that follows does not write over a running binary.
  if command -v svok > /dev/null 2>&1; then
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      svok "$app/service" 2> /dev/null || break
      sleep 1
    done
  fi
  say "stopped $name"
else
  say "no supervise state for $name (never started here): nothing to stop"
fi
say "$name is disabled; files and config are kept in $dev_app (enable.sh starts it again)"
