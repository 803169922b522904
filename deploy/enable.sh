#!/bin/bash
# Starts bms-aggregator under daemontools now and at every boot; safe to run any number of times.
#
# Usage: enable.sh [--boot]
#   --boot  as called from /data/rc.local: only (re)creates the /service link, leaves rc.local alone and
#           does not restart a running daemon.
# BMSAGG_ROOT=DIR works on a file tree under DIR instead of / (the tests' fake Cerbo).
#
# Why every boot: /service is a RAM copy rebuilt at boot (Venus v2.90+), so the link must be made again each
# time; /data/rc.local is the persistent hook that survives firmware updates (DEPLOY.md §3, §4).
set -eu

name=bms-aggregator
root=${BMSAGG_ROOT:-}
dev_app=/data/apps/$name           # the path on the Cerbo itself, as written into rc.local
app=$root$dev_app
link=$root/service/$name
rc=$root/data/rc.local
# Backgrounded so a slow or failing enable never holds up the rest of the boot; the output of the last boot
# is kept for diagnosis.
boot_line="$dev_app/enable.sh --boot > $dev_app/boot.log 2>&1 &"
marker="$dev_app/enable.sh"         # any line calling us, including older forms of boot_line

boot=0
case "${1:-}" in
  --boot) boot=1 ;;
  "") ;;
  -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
  *) echo "enable.sh: unknown argument '$1' (usage: enable.sh [--boot])" >&2; exit 2 ;;
esac

say() { echo "enable.sh: $*"; }
die() { echo "enable.sh: ERROR: $*" >&2; exit 1; }

# Everything is checked before anything is changed, so a failed enable leaves the Cerbo as it was.
[ -d "$app" ] || die "$dev_app not found: unpack the tarball into /data/apps first"
for f in bin/$name service/run service/log/run; do
  [ -f "$app/$f" ] || die "$dev_app/$f is missing: unpack the tarball again"
done
[ -d "$root/service" ] || die "/service not found: this does not look like Venus OS"
if [ ! -f "$app/config.ini" ]; then
  die "no $dev_app/config.ini yet. Copy config.default.ini to config.ini, set your packs, check it on a PC
  with 'bmsagg-sim validate --config config.ini', then run enable.sh again."
fi
if [ -e "$link" ] && [ ! -L "$link" ]; then
  die "/service/$name exists and is not a link: remove it by hand (it is not ours)"
fi

# scp, unzip and some editors drop the execute bits; supervise needs them.
chmod 755 "$app/bin/$name" "$app/service/run" "$app/service/log/run"
for s in enable.sh disable.sh uninstall.sh; do
  if [ -f "$app/$s" ]; then chmod 755 "$app/$s"; fi
done

# A config that does not parse would make supervise restart the daemon every second; refuse it here instead,
# with the daemon's own file:line message.
set +e
"$app/bin/$name" --check-config "$app/config.ini" > /dev/null
rc_check=$?
set -e
case $rc_check in
  0) ;;
  126|127) die "cannot run $dev_app/bin/$name (exit $rc_check): wrong architecture or a damaged copy?" ;;
  *) die "$dev_app/config.ini was rejected (exit $rc_check, message above); the service was not enabled" ;;
esac

# Venus v3.60+ "Modification checks" disables custom boot scripts by renaming rc.local to rc.local.disabled.
# Creating a fresh rc.local then would quietly undo the user's choice, so only explain.
if [ -e "$rc.disabled" ]; then
  if [ -e "$rc" ]; then
    echo "enable.sh: WARNING: both /data/rc.local and /data/rc.local.disabled exist. /data/rc.local (which now starts
  $name) is the one run at boot; /data/rc.local.disabled holds lines Venus's Modification checks turned off.
  Check which you want before re-enabling custom scripts in the GX menus." >&2
  else
    echo "enable.sh: WARNING: /data/rc.local.disabled exists: Venus OS (v3.60+ Modification checks) has turned off
  custom boot scripts, so $name is running now but will NOT start again after a reboot.
  To fix: re-enable them on the GX's Modification checks page (under Settings), or rename
  /data/rc.local.disabled back to /data/rc.local; then run $dev_app/enable.sh again." >&2
  fi
fi

# Adds boot_line to rc.local once, keeping every other line as it is. A trailing 'exit' would end rc.local
# before our line ran, so the line goes just before it.
add_boot_line() {
  if [ ! -e "$rc" ]; then
    printf '#!/bin/bash\n%s\n' "$boot_line" > "$rc"
    chmod 755 "$rc"
    say "created /data/rc.local to start $name at boot"
    return
  fi
  if ! grep -qxF -- "$boot_line" "$rc"; then
    local tmp="$rc.$name.$$" mode
    mode=$(stat -c %a "$rc")
    # Older forms of our own line are replaced, not kept beside the new one.
    { grep -vF -- "$marker" "$rc" || true; } |
      BMSAGG_LINE="$boot_line" awk '
        { line[NR] = $0; if ($0 !~ /^[[:space:]]*$/) last = NR }
        END {
          at = (last && line[last] ~ /^[[:space:]]*exit([[:space:]]|$)/) ? last : NR + 1
          for (i = 1; i <= NR; i++) { if (i == at) print ENVIRON["BMSAGG_LINE"]; print line[i] }
          if (at == NR + 1) print ENVIRON["BMSAGG_LINE"]
        }' > "$tmp"
    chmod "$mode" "$tmp"
    mv -f "$tmp" "$rc"      # atomic: a power cut leaves the old or the new rc.local, never half of one
    say "added the boot line to /data/rc.local"
  fi
  if [ ! -x "$rc" ]; then
    chmod +x "$rc"
    say "made /data/rc.local executable (Venus runs it only then)"
  fi
}

# At boot rc.local is the script being run: leave it alone.
if [ "$boot" = 0 ]; then
  if [ -e "$rc" ] || [ ! -e "$rc.disabled" ]; then add_boot_line; fi
fi

# multilog creates its directory too, but an early failure is easier to see with it already there.
mkdir -p "$root/var/log/$name"

if [ -L "$link" ] && [ "$(readlink "$link")" != "$app/service" ]; then
  rm -f "$link"       # a link left by an older layout
fi
if [ ! -L "$link" ]; then
  ln -s "$app/service" "$link"
  say "linked /service/$name; svscan starts it within about 5 s"
else
  # Already supervised: make sure it is wanted up, and restart it so a new binary or config takes effect.
  if command -v svok > /dev/null 2>&1 && svok "$app/service" 2> /dev/null; then
    svc -u "$app/service"
    if [ "$boot" = 0 ]; then
      svc -t "$app/service"
      say "restarted $name"
    fi
  fi
  say "/service/$name already linked"
fi
say "$name is enabled"
