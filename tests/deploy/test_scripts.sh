#!/bin/bash
# Runs enable.sh, disable.sh and uninstall.sh from a freshly built tarball against fake Cerbo file trees (no root, no /).
#
# Usage: tests/deploy/test_scripts.sh [--busybox]     (exit 0: every check passed)
#   --busybox  the scripts under test get BusyBox's grep, awk, stat, sed... first on PATH, as on Venus OS (a Yocto
#              image whose base tools are BusyBox applets), so GNU-only options would show up here.
# Each case gets its own fake root under one mktemp directory; BMSAGG_ROOT points the scripts at it. The daemon is a
# shell stand-in, so the host runs it; svc/svok are fakes that record their calls.
# shellcheck disable=SC2317  # the test functions are called through the loop at the bottom
set -eu

src=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
name=bms-aggregator
dev_app=/data/apps/$name
boot_line="$dev_app/enable.sh --boot > $dev_app/boot.log 2>&1 &"

# PATH for the scripts under test; the harness itself keeps the host's tools (GNU tar, find, md5sum).
script_path=$PATH
if [ "${1:-}" = --busybox ]; then
  bb=$(command -v busybox) || { echo "test_scripts.sh: --busybox given but no busybox on PATH" >&2; exit 2; }
  mkdir -p "$work/busybox"
  for applet in awk cat chmod cp date grep ln mkdir mv readlink rm rmdir sed sleep stat tail; do
    ln -s "$bb" "$work/busybox/$applet"
  done
  script_path=$work/busybox:$PATH
  echo "scripts run with BusyBox applets first on PATH"
fi

checks=0 failures=0 current=
pass() { checks=$((checks + 1)); }
fail() { checks=$((checks + 1)); failures=$((failures + 1)); echo "  FAIL [$current]: $*"; }
check() {   # check DESCRIPTION COMMAND...: the command must succeed
  local what=$1; shift
  if "$@"; then pass; else fail "$what"; fi
}
check_not() {
  local what=$1; shift
  if "$@"; then fail "$what"; else pass; fi
}
check_eq() {   # check_eq DESCRIPTION EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then pass; else fail "$1: expected '$2', got '$3'"; fi
}
count_boot_lines() { grep -cF -- "$dev_app/enable.sh" "$1" || true; }

# --- the stand-in daemon and two packaged versions ------------------------------------------------------------
# --check-config rejects any file containing BROKEN (exit 2, like the real one); in run mode it prints its arguments.
make_fake_daemon() {  # VERSION FILE
  cat > "$2" <<FAKE
#!/bin/sh
case "\$1" in
  --version) echo "bms-aggregator $1" ;;
  --check-config) if grep -q BROKEN "\$2"; then echo "\$2:1: broken" >&2; exit 2; fi; cat "\$2" ;;
  *) echo "fake daemon args: \$*" ;;
esac
FAKE
  chmod 755 "$2"
}
mkdir -p "$work/in" "$work/dist1" "$work/dist2"
make_fake_daemon 0.1.0 "$work/in/daemon1"
make_fake_daemon 0.2.0 "$work/in/daemon2"
printf '; example config v1\n[bank]\n' > "$work/in/default1.ini"
printf '; example config v2\n[bank]\n' > "$work/in/default2.ini"
tar1=$("$src/deploy/package.sh" --binary "$work/in/daemon1" --config "$work/in/default1.ini" --version 0.1.0 \
       --out "$work/dist1" --any-binary)
tar2=$("$src/deploy/package.sh" --binary "$work/in/daemon2" --config "$work/in/default2.ini" --version 0.2.0 \
       --out "$work/dist2" --any-binary)

# --- fake roots -------------------------------------------------------------------------------------------------
# What a Cerbo has before we come: /data, /service (svscan's directory), /var/log.
new_root() {
  local r=$work/root-$1
  mkdir -p "$r/data" "$r/service" "$r/var/log"
  echo "$r"
}
unpack() { mkdir -p "$1/data/apps"; tar -xzf "$2" -C "$1/data/apps"; }
install_with_config() {   # ROOT TARBALL: unpack and put the example config in place, as the README says
  unpack "$1" "$2"
  cp "$1$dev_app/config.default.ini" "$1$dev_app/config.ini"
}
enable() { PATH=$script_path BMSAGG_ROOT=$1 bash "$1$dev_app/enable.sh" "${@:2}"; }
disable() { PATH=$script_path BMSAGG_ROOT=$1 bash "$1$dev_app/disable.sh"; }
uninstall() { PATH=$script_path BMSAGG_ROOT=$1 bash "$1$dev_app/uninstall.sh" "${@:2}"; }
listing() { (cd "$1" && find . | LC_ALL=C sort); }

# --- cases ------------------------------------------------------------------------------------------------------
t_tarball_layout() {
  local expected got
  local n=$name
  expected=$(printf '%s\n' "$n/" "$n/bin/" "$n/bin/$n" "$n/config.default.ini" "$n/disable.sh" "$n/enable.sh" \
             "$n/service/" "$n/service/log/" "$n/service/log/run" "$n/service/run" "$n/uninstall.sh")
  got=$(tar -tzf "$tar1" | LC_ALL=C sort)
  check_eq "tarball listing" "$expected" "$got"
  check_eq "tarball name" "$name-0.1.0-armhf.tar.gz" "$(basename "$tar1")"
  check "no config.ini in the tarball (an upgrade must not overwrite it)" \
    bash -c "! tar -tzf '$tar1' | grep -q 'config.ini\$'"
  check_eq "files owned by root in the tarball" "0" "$(tar -tvzf "$tar1" --numeric-owner | awk '$2 != "0/0"' | wc -l)"
  check_eq "modes" "-rwxr-xr-x -rw-r--r-- -rwxr-xr-x -rwxr-xr-x" \
    "$(tar -tvzf "$tar1" | awk '$6 ~ /bin\/bms-aggregator$|config.default.ini$|service\/run$|enable.sh$/ {print $1}' | xargs)"
}

t_fresh_install() {
  local r out
  r=$(new_root fresh)
  install_with_config "$r" "$tar1"
  out=$(enable "$r" 2>&1) || fail "enable.sh failed: $out"
  check "service link exists" test -L "$r/service/$name"
  check_eq "service link target" "$r$dev_app/service" "$(readlink "$r/service/$name")"
  check "rc.local created" test -f "$r/data/rc.local"
  check "rc.local executable" test -x "$r/data/rc.local"
  check_eq "rc.local content" "$(printf '#!/bin/bash\n%s' "$boot_line")" "$(cat "$r/data/rc.local")"
  check "log directory" test -d "$r/var/log/$name"
  check "binary executable" test -x "$r$dev_app/bin/$name"
}

t_second_enable() {
  local r before out
  r=$(new_root twice)
  install_with_config "$r" "$tar1"
  enable "$r" > /dev/null
  before=$(md5sum < "$r/data/rc.local")
  out=$(enable "$r" 2>&1) || fail "second enable.sh failed: $out"
  check_eq "one boot line after two enables" 1 "$(count_boot_lines "$r/data/rc.local")"
  check_eq "rc.local unchanged by the second enable" "$before" "$(md5sum < "$r/data/rc.local")"
  check "link still there" test -L "$r/service/$name"
}

t_boot() {   # a reboot: /service is rebuilt empty, rc.local runs enable.sh --boot
  local r before out
  r=$(new_root boot)
  install_with_config "$r" "$tar1"
  enable "$r" > /dev/null
  rm "$r/service/$name"
  before=$(md5sum < "$r/data/rc.local")
  out=$(enable "$r" --boot 2>&1) || fail "enable.sh --boot failed: $out"
  check "link made again at boot" test -L "$r/service/$name"
  check_eq "rc.local untouched at boot" "$before" "$(md5sum < "$r/data/rc.local")"
}

t_no_config() {
  local r out status=0
  r=$(new_root noconfig)
  unpack "$r" "$tar1"
  out=$(enable "$r" 2>&1) || status=$?
  check_eq "enable without config.ini fails" 1 "$status"
  check "message says what to do" grep -q "config.default.ini" <<< "$out"
  check_not "no link without a config" test -e "$r/service/$name"
  check_not "no rc.local without a config" test -e "$r/data/rc.local"
}

t_broken_config() {
  local r out status=0
  r=$(new_root broken)
  install_with_config "$r" "$tar1"
  echo BROKEN >> "$r$dev_app/config.ini"
  out=$(enable "$r" 2>&1) || status=$?
  check_eq "enable with a rejected config fails" 1 "$status"
  check "the daemon's message is shown" grep -q "config.ini:1: broken" <<< "$out"
  check_not "no link with a rejected config" test -e "$r/service/$name"
}

t_upgrade_keeps_config() {
  local r out
  r=$(new_root upgrade)
  install_with_config "$r" "$tar1"
  echo "; my edit" >> "$r$dev_app/config.ini"
  cp "$r$dev_app/config.ini" "$work/user-config.ini"
  enable "$r" > /dev/null
  # The README's upgrade: disable, unpack the new tarball over the old folder, enable.
  disable "$r" > /dev/null
  unpack "$r" "$tar2"
  out=$(enable "$r" 2>&1) || fail "enable.sh after upgrade failed: $out"
  check "user's config kept" cmp -s "$work/user-config.ini" "$r$dev_app/config.ini"
  check_eq "new binary in place" "bms-aggregator 0.2.0" "$("$r$dev_app/bin/$name" --version)"
  check "new example config in place" grep -q "example config v2" "$r$dev_app/config.default.ini"
  check_eq "one boot line after upgrade" 1 "$(count_boot_lines "$r/data/rc.local")"
  check "linked after upgrade" test -L "$r/service/$name"
}

t_disable() {
  local r out
  r=$(new_root disable)
  install_with_config "$r" "$tar1"
  enable "$r" > /dev/null
  out=$(disable "$r" 2>&1) || fail "disable.sh failed: $out"
  check_not "link removed" test -e "$r/service/$name"
  check_not "rc.local holding only our line removed" test -e "$r/data/rc.local"
  check "files kept" test -x "$r$dev_app/bin/$name"
  check "config kept" test -f "$r$dev_app/config.ini"
  out=$(disable "$r" 2>&1) || fail "second disable.sh failed: $out"
  out=$(enable "$r" 2>&1) || fail "enable.sh after disable failed: $out"
  check "enable again after disable" test -L "$r/service/$name"
}

t_uninstall() {
  local r before out saved
  r=$(new_root uninstall)
  before=$(listing "$r")
  install_with_config "$r" "$tar1"
  echo "; my edit" >> "$r$dev_app/config.ini"
  cp "$r$dev_app/config.ini" "$work/user-config2.ini"
  enable "$r" > /dev/null
  echo "log line" > "$r/var/log/$name/current"
  out=$(uninstall "$r" --yes 2>&1) || fail "uninstall.sh --yes failed: $out"
  saved=$(cd "$r/data" && find . -maxdepth 1 -name "$name-config.*.ini" | sed 's|^\./||')
  check_eq "one saved config" 1 "$(printf '%s' "$saved" | grep -c . || true)"
  if [ -n "$saved" ]; then
    check "saved config is the user's" cmp -s "$work/user-config2.ini" "$r/data/$saved"
  fi
  check_eq "nothing left but the saved config" "$(printf '%s\n./data/%s' "$before" "$saved" | LC_ALL=C sort)" \
    "$(listing "$r")"
}

t_uninstall_asks() {
  local r status=0
  r=$(new_root ask)
  install_with_config "$r" "$tar1"
  enable "$r" > /dev/null
  uninstall "$r" < /dev/null > /dev/null 2>&1 || status=$?
  check_eq "uninstall without a terminal or --yes refuses" 1 "$status"
  check "nothing removed" test -L "$r/service/$name"
  check "folder kept" test -f "$r$dev_app/config.ini"
}

t_uninstall_prompt() {   # at a terminal it asks; only a yes removes anything ('script' gives it a pty)
  local r out
  if ! command -v script > /dev/null 2>&1; then echo "  (skipped: no 'script' for a pseudo-terminal)"; return 0; fi
  r=$(new_root prompt)
  install_with_config "$r" "$tar1"
  enable "$r" > /dev/null
  out=$(printf 'n\n' | PATH=$script_path BMSAGG_ROOT=$r script -qec "bash '$r$dev_app/uninstall.sh'" /dev/null 2>&1) || true
  check "it asks" grep -q "Remove $dev_app" <<< "$out"
  check "no keeps everything" test -f "$r$dev_app/config.ini"
  check "no keeps the link" test -L "$r/service/$name"
  out=$(printf 'y\n' | PATH=$script_path BMSAGG_ROOT=$r script -qec "bash '$r$dev_app/uninstall.sh'" /dev/null 2>&1) || true
  check_not "yes removes the folder" test -e "$r$dev_app"
  check_not "yes removes the link" test -e "$r/service/$name"
}

t_existing_rc_local() {
  local r orig
  r=$(new_root others)
  install_with_config "$r" "$tar1"
  orig=$(printf '#!/bin/bash\n# another package\n/data/other/start.sh &\necho "hello" > /tmp/x\n')
  printf '%s\n' "$orig" > "$r/data/rc.local"
  chmod 750 "$r/data/rc.local"
  cp -p "$r/data/rc.local" "$work/orig-rc"
  enable "$r" > /dev/null
  check_eq "other lines kept, ours appended" "$(printf '%s\n%s' "$orig" "$boot_line")" "$(cat "$r/data/rc.local")"
  check_eq "mode kept" 750 "$(stat -c %a "$r/data/rc.local")"
  enable "$r" > /dev/null
  check_eq "still one boot line" 1 "$(count_boot_lines "$r/data/rc.local")"
  disable "$r" > /dev/null
  check "disable restores the other users' rc.local byte for byte" cmp -s "$work/orig-rc" "$r/data/rc.local"
  check_eq "mode kept after disable" 750 "$(stat -c %a "$r/data/rc.local")"
}

t_rc_local_exit() {   # a trailing 'exit 0' would end rc.local before a line appended after it
  local r
  r=$(new_root exit)
  install_with_config "$r" "$tar1"
  printf '#!/bin/sh\n/data/other/run.sh\n\nexit 0\n' > "$r/data/rc.local"
  cp "$r/data/rc.local" "$work/orig-exit"
  chmod 755 "$r/data/rc.local"
  enable "$r" > /dev/null
  check_eq "boot line goes before exit" \
    "$(printf '#!/bin/sh\n/data/other/run.sh\n\n%s\nexit 0' "$boot_line")" "$(cat "$r/data/rc.local")"
  disable "$r" > /dev/null
  check "disable restores it" cmp -s "$work/orig-exit" "$r/data/rc.local"
}

t_rc_local_not_executable() {
  local r
  r=$(new_root noexec)
  install_with_config "$r" "$tar1"
  printf '#!/bin/bash\n%s\n' "$boot_line" > "$r/data/rc.local"
  chmod 644 "$r/data/rc.local"
  enable "$r" > /dev/null
  check "rc.local made executable" test -x "$r/data/rc.local"
  check_eq "no second line" 1 "$(count_boot_lines "$r/data/rc.local")"
}

t_old_boot_line() {   # a line written by an older enable.sh is replaced, not doubled
  local r
  r=$(new_root oldline)
  install_with_config "$r" "$tar1"
  printf '#!/bin/bash\n/data/x.sh\n%s/enable.sh &\n' "$dev_app" > "$r/data/rc.local"
  chmod 755 "$r/data/rc.local"
  enable "$r" > /dev/null
  check_eq "old line replaced" "$(printf '#!/bin/bash\n/data/x.sh\n%s' "$boot_line")" "$(cat "$r/data/rc.local")"
}

t_rc_local_disabled() {
  local r out status=0
  r=$(new_root disabled)
  install_with_config "$r" "$tar1"
  printf '#!/bin/bash\n/data/other/start.sh\n' > "$r/data/rc.local.disabled"
  cp "$r/data/rc.local.disabled" "$work/orig-disabled"
  out=$(enable "$r" 2>&1) || status=$?
  check_eq "enable still succeeds" 0 "$status"
  check "warning names rc.local.disabled" grep -q "WARNING: /data/rc.local.disabled exists" <<< "$out"
  check "warning says what to do" grep -q "Modification checks" <<< "$out"
  check_not "no new rc.local behind the user's back" test -e "$r/data/rc.local"
  check "rc.local.disabled untouched" cmp -s "$work/orig-disabled" "$r/data/rc.local.disabled"
  check "service linked for now" test -L "$r/service/$name"
}

t_disable_after_venus_disabled() {   # Venus renamed our rc.local; disable must clean the renamed file too
  local r
  r=$(new_root renamed)
  install_with_config "$r" "$tar1"
  printf '#!/bin/bash\n/data/other/start.sh\n' > "$r/data/rc.local"
  chmod 755 "$r/data/rc.local"
  enable "$r" > /dev/null
  mv "$r/data/rc.local" "$r/data/rc.local.disabled"
  disable "$r" > /dev/null
  check_eq "our line gone from rc.local.disabled, others kept" "$(printf '#!/bin/bash\n/data/other/start.sh')" \
    "$(cat "$r/data/rc.local.disabled")"
}

t_svc_calls() {   # with supervise running, enable restarts and disable stops through svc
  local r bin
  r=$(new_root svc)
  bin=$work/fakebin
  mkdir -p "$bin"
  # svok succeeds while the fake supervise is "up"; svc -x takes it down; every call is recorded.
  cat > "$bin/svc" <<FAKE
#!/bin/sh
echo "svc \$*" >> "$work/svc.log"
case "\$1" in *x*) rm -f "$work/svok-up" ;; esac
FAKE
  printf '#!/bin/sh\n[ -e "%s/svok-up" ]\n' "$work" > "$bin/svok"
  chmod 755 "$bin/svc" "$bin/svok"
  install_with_config "$r" "$tar1"
  script_path=$bin:$script_path enable "$r" > /dev/null
  mkdir -p "$r$dev_app/service/supervise" "$r$dev_app/service/log/supervise"
  touch "$work/svok-up"
  : > "$work/svc.log"
  script_path=$bin:$script_path enable "$r" > /dev/null
  check_eq "second enable restarts" "$(printf 'svc -u %s\nsvc -t %s' "$r$dev_app/service" "$r$dev_app/service")" \
    "$(cat "$work/svc.log")"
  : > "$work/svc.log"
  script_path=$bin:$script_path enable "$r" --boot > /dev/null
  check_eq "enable --boot does not restart" "svc -u $r$dev_app/service" "$(cat "$work/svc.log")"
  : > "$work/svc.log"
  script_path=$bin:$script_path disable "$r" > /dev/null
  check_eq "disable stops daemon and logger" \
    "$(printf 'svc -dx %s\nsvc -dx %s' "$r$dev_app/service" "$r$dev_app/service/log")" "$(cat "$work/svc.log")"
}

t_run_script() {   # service/run as supervise starts it: from the service directory, through the link
  local r out
  r=$(new_root run)
  install_with_config "$r" "$tar1"
  enable "$r" > /dev/null
  out=$(cd "$r/service/$name" && PATH=/usr/bin:/bin ./run 2>&1) || fail "service/run failed: $out"
  check "run passes the user's config" grep -qF -- "--config $r$dev_app/config.ini" <<< "$out"
  check_eq "log/run logs to /var/log/$name" "exec multilog t s25000 n4 /var/log/$name" \
    "$(grep '^exec' "$r$dev_app/service/log/run")"
}

status=0
for t in t_tarball_layout t_fresh_install t_second_enable t_boot t_no_config t_broken_config t_upgrade_keeps_config \
         t_disable t_uninstall t_uninstall_asks t_uninstall_prompt t_existing_rc_local t_rc_local_exit t_rc_local_not_executable \
         t_old_boot_line t_rc_local_disabled t_disable_after_venus_disabled t_svc_calls t_run_script; do
  current=${t#t_}
  before=$failures
  "$t"
  if [ "$failures" = "$before" ]; then echo "ok   $current"; else echo "FAIL $current"; status=1; fi
done
echo "deploy script tests: $checks checks, $failures failed"
exit $status
