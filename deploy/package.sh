#!/bin/bash
# Builds bms-aggregator-<version>-armhf.tar.gz: the /data/apps/bms-aggregator folder for a Cerbo GX, unpacked with
# 'tar -xzf bms-aggregator-<version>-armhf.tar.gz -C /data/apps'.
#
# Usage: package.sh --binary FILE --config FILE --version X.Y.Z --out DIR [--strip PROG] [--any-binary]
#   --config      the example config, shipped as config.default.ini (never as config.ini: an upgrade unpacked
#                 over an installed folder must not overwrite the user's config)
#   --strip       strip a copy of the binary with PROG (e.g. arm-linux-gnueabihf-strip): about 25 % smaller
#   --any-binary  skip the check that the binary is a static ARM executable (the tests package a stand-in)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
name=bms-aggregator
binary='' config='' version='' out='' strip='' any=0
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    --version) version=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --strip) strip=$2; shift 2 ;;
    --any-binary) any=1; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "package.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
die() { echo "package.sh: ERROR: $*" >&2; exit 1; }
if [ -z "$binary" ] || [ -z "$config" ] || [ -z "$version" ] || [ -z "$out" ]; then
  die "--binary, --config, --version and --out are required"
fi
[ -f "$binary" ] || die "no binary at $binary: build it first"
[ -f "$config" ] || die "no config at $config"

# An x86 or dynamically linked binary in an armhf tarball would install fine and then fail on the Cerbo.
if [ "$any" = 0 ]; then
  desc=$(file -b "$binary")
  case "$desc" in
    *ARM*"statically linked"*) ;;
    *) die "$binary is not a static ARM executable ($desc): build with cmake/armhf-toolchain.cmake and -DBMSAGG_STATIC=ON" ;;
  esac
fi

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
d=$stage/$name
mkdir -p "$d/bin" "$d/service/log"
install -m 755 "$binary" "$d/bin/$name"
if [ -n "$strip" ]; then "$strip" "$d/bin/$name"; fi
install -m 644 "$config" "$d/config.default.ini"
install -m 755 "$here/service/run" "$d/service/run"
install -m 755 "$here/service/log/run" "$d/service/log/run"
for s in enable.sh disable.sh uninstall.sh; do
  install -m 755 "$here/$s" "$d/$s"
done
chmod 755 "$d" "$d/bin" "$d/service" "$d/service/log"

mkdir -p "$out"
tarball=$(cd "$out" && pwd)/$name-$version-armhf.tar.gz
# Owned by root in the archive: tar run as root on the Cerbo restores owners, and the files belong to root there.
# Sorted, with fixed owners, so two builds of the same binary give the same listing.
tar -C "$stage" --sort=name --owner=0 --group=0 --numeric-owner -czf "$tarball" "$name"
echo "$tarball"
