#!/usr/bin/env bash
# Installs, with apt-get, whatever Debian packages the build and the tests need and are missing.
# Usage: ci/deps.sh [host|cross|all]   (default: host)
set -euo pipefail

host_pkgs=(build-essential cmake pkg-config libinih-dev libcunit1-dev libcsv-dev libdbus-1-dev
           dbus-daemon dbus-bin python3 python3-dbus python3-dbusmock gnuplot-nox gcovr
           clang libclang-rt-14-dev)   # ci/fuzz.sh: clang and its libFuzzer runtime
cross_pkgs=(gcc-arm-linux-gnueabihf libc6-dev-armhf-cross qemu-user file
            libdbus-1-dev:armhf libinih-dev:armhf libcsv-dev:armhf libcunit1-dev:armhf)

want=${1:-host}
case "$want" in
  host) pkgs=("${host_pkgs[@]}") ;;
  cross) pkgs=("${cross_pkgs[@]}") ;;
  all) pkgs=("${host_pkgs[@]}" "${cross_pkgs[@]}") ;;
  *) echo "usage: $0 [host|cross|all]" >&2; exit 2 ;;
esac

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

if [ "$want" != host ] && ! dpkg --print-foreign-architectures | grep -qx armhf; then
  "${sudo_cmd[@]}" dpkg --add-architecture armhf
fi

missing=()
for p in "${pkgs[@]}"; do
  # dpkg-query knows "name:arch" for foreign packages as well.
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "ci/deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has no package lists yet; a stale one may point at removed versions.
# A partial failure (DEPLOY.md: the bookworm-security armhf index mid-sync) is not fatal: the
# install below says clearly if a package really cannot be had.
"${sudo_cmd[@]}" apt-get update -qq || echo "ci/deps.sh: apt-get update reported errors; trying anyway" >&2
if ! "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
  # DEPLOY.md: a mirror mid-sync can leave amd64 multi-arch libraries newer than the armhf ones;
  # pinning to the point release realigns them.
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends -t bookworm "${missing[@]}"
fi
