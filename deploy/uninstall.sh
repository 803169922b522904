#!/bin/bash
# Removes bms-aggregator from the Cerbo: disables it, then deletes its folder and logs, keeping a copy of the config.
#
# Usage: uninstall.sh [--yes]     --yes: do not ask (for scripts)
# BMSAGG_ROOT=DIR works on a file tree under DIR instead of / (the tests' fake Cerbo).
set -eu

name=bms-aggregator
root=${BMSAGG_ROOT:-}
dev_app=/data/apps/$name
app=$root$dev_app
logs=$root/var/log/$name

yes=0
case "${1:-}" in
  --yes|-y) yes=1 ;;
  "") ;;
  -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
  *) echo "uninstall.sh: unknown argument '$1' (usage: uninstall.sh [--yes])" >&2; exit 2 ;;
esac

say() { echo "uninstall.sh: $*"; }

if [ ! -d "$app" ]; then
  say "$dev_app not found: nothing to uninstall"
  exit 0
fi

if [ "$yes" = 0 ]; then
  # Without a terminal nobody can answer; deleting without consent is not an option either.
  if [ ! -t 0 ]; then
    echo "uninstall.sh: not run from a terminal: pass --yes to confirm" >&2
    exit 1
  fi
  printf 'Remove %s and /var/log/%s? A copy of config.ini is kept in /data. [y/N] ' "$dev_app" "$name"
  read -r answer || answer=
  case "$answer" in
    y|Y|yes|YES|Yes) ;;
    *) say "nothing removed"; exit 1 ;;
  esac
fi

# Stop it and drop the boot line first; the disable.sh in the folder knows the layout it was shipped with.
if [ -f "$app/disable.sh" ]; then
  BMSAGG_ROOT=$root bash "$app/disable.sh"
else
  echo "uninstall.sh: WARNING: $dev_app/disable.sh is missing; the service may still be linked" >&2
fi

# The config is the user's work (and what a reinstall needs): saved under a name no later uninstall overwrites.
if [ -f "$app/config.ini" ]; then
  saved=$root/data/$name-config.$(date +%Y%m%d-%H%M%S).ini
  cp -p "$app/config.ini" "$saved"
  say "saved your config as ${saved#"$root"}"
fi

# Deleting the folder this script is running from is safe: bash holds the script open.
rm -rf "$app" "$logs"
rmdir "$root/data/apps" 2> /dev/null || true    # only if we were its last user
say "removed $dev_app and /var/log/$name"
