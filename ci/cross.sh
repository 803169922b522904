#!/bin/bash
# Cross-builds the static armhf daemon for the Cerbo GX, proves it under qemu, and packages the Venus OS tarball.
#
# Usage: ci/cross.sh            (from anywhere; builds in build-armhf/ at the top of the repository)
# Steps: deps, configure + build, binary checks (file, readelf), --version and --check-config under qemu, the unit
# tests through ctest with the emulator, the qemu smoke test on a private bus, the daemon's integration tests against
# the armhf binary, the deploy script tests, the tarball (its listing, and its stripped binary under qemu).
# BMSAGG_CROSS_WERROR=OFF builds without -Werror (32-bit ARM has its own -Wconversion findings: long is 32 bits).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
build="build-armhf"
qemu=(qemu-arm -cpu cortex-a7)
step() { printf '\n== cross: %s\n' "$*"; }
die() { printf 'ci/cross.sh: FAILED: %s\n' "$*" >&2; exit 1; }

step "dependencies"
bash ci/deps.sh cross
bash ci/deps.sh host      # the tests' dbus-daemon, python3-dbus and the host toolchain for the tests' helpers

[ -f daemon/main.c ] || die "daemon/main.c does not exist yet: nothing to cross-build (the daemon issue comes first)"

step "configure $build"
cmake -S . -B "$build" -DCMAKE_TOOLCHAIN_FILE="$top/cmake/armhf-toolchain.cmake" -DCMAKE_BUILD_TYPE=Release \
  -DBMSAGG_STATIC=ON -DBMSAGG_BUILD_SIM=OFF -DBMSAGG_WERROR="${BMSAGG_CROSS_WERROR:-ON}" > "$build.configure.log" 2>&1 ||
  { cat "$build.configure.log"; die "cmake configure"; }
rm -f "$build.configure.log"

step "build"
# The static glibc warnings about getpwnam_r & co. are expected (DEPLOY.md §7: NSS is only reached for auth
# methods a root client on a unix socket does not use); any other failure stops here.
cmake --build "$build" -j "$(nproc)" || die "cross build"
bin=$build/bin/bms-aggregator
[ -x "$bin" ] || die "$bin was not built"

step "binary: static ARM EABI5 hard-float"
desc=$(file -b "$bin")
echo "$desc"
for want in "ARM" "EABI5" "statically linked"; do
  case "$desc" in *"$want"*) ;; *) die "file does not say '$want' for $bin" ;; esac
done
# file cannot tell hard-float from soft-float; the ELF attributes can: VFP registers = the armhf calling convention.
vfp=$(readelf -A "$bin" | grep 'Tag_ABI_VFP_args' || true)
echo "${vfp# }"
case "$vfp" in *"VFP registers"*) ;; *) die "$bin is not hard-float (Tag_ABI_VFP_args: '$vfp')" ;; esac
if readelf -d "$bin" 2> /dev/null | grep -q NEEDED; then die "$bin needs shared libraries"; fi
echo "size: $(stat -c %s "$bin") bytes (unstripped)"

step "qemu: --version, --check-config"
"${qemu[@]}" "$bin" --version || die "--version under qemu"
"${qemu[@]}" "$bin" --check-config daemon/bms-aggregator.ini > "$build/check-config.out" ||
  { cat "$build/check-config.out"; die "--check-config daemon/bms-aggregator.ini under qemu"; }
echo "--check-config daemon/bms-aggregator.ini: accepted ($(wc -l < "$build/check-config.out") lines of effective config)"

step "unit tests under qemu (ctest -L unit)"
ctest --test-dir "$build" -L unit --no-tests=error --output-on-failure || die "unit tests under qemu"

step "smoke test: armhf daemon under qemu on a private bus with two mock packs"
bash tests/deploy/qemu_smoke.sh "$bin" || die "qemu smoke test"

step "integration tests against the armhf daemon under qemu"
# The daemon's own end-to-end suite (tests/integration), pointed at the armhf binary through a qemu wrapper: the
# same wire behaviour on ARM as on the host. ctest's entries hard-wire the binary itself, so run the suite directly.
if [ -f tests/integration/test_daemon.py ]; then
  wrapper=$top/$build/qemu-bms-aggregator.sh
  printf '#!/bin/sh\n# Runs the armhf daemon under qemu for the integration tests.\nexec qemu-arm -cpu cortex-a7 %s "$@"\n' \
    "$top/$bin" > "$wrapper"
  chmod 755 "$wrapper"
  BMSAGG_DAEMON=$wrapper /usr/bin/python3 tests/integration/test_daemon.py || die "integration tests under qemu"
else
  echo "tests/integration/test_daemon.py not found: skipped"
fi

step "deploy script tests (fake Cerbo roots)"
ctest --test-dir "$build" -L deploy --no-tests=error --output-on-failure || die "deploy script tests"

step "package"
cmake --build "$build" --target deploy-tarball || die "deploy-tarball target (is add_subdirectory(deploy) in CMakeLists.txt?)"
version=$(sed -n 's/^project(bms-aggregator VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
tarball=$build/bms-aggregator-$version-armhf.tar.gz
[ -f "$tarball" ] || die "$tarball was not made"
n=bms-aggregator
expected=$(printf '%s\n' "$n/" "$n/bin/" "$n/bin/$n" "$n/config.default.ini" "$n/disable.sh" "$n/enable.sh" \
           "$n/service/" "$n/service/log/" "$n/service/log/run" "$n/service/run" "$n/uninstall.sh")
listing=$(tar -tzf "$tarball" | LC_ALL=C sort)
if [ "$listing" != "$expected" ]; then
  diff <(echo "$expected") <(echo "$listing") || true
  die "$tarball does not hold exactly the package layout"
fi
tar -tvzf "$tarball"
# What ships is a stripped copy: run that one too, on the config it ships as the default.
mkdir -p "$build/unpacked" && rm -rf "$build/unpacked/$n"
tar -xzf "$tarball" -C "$build/unpacked"
"${qemu[@]}" "$build/unpacked/$n/bin/$n" --check-config "$build/unpacked/$n/config.default.ini" > /dev/null ||
  die "the packaged (stripped) binary rejects the packaged config.default.ini"
echo "packaged binary under qemu: --check-config config.default.ini accepted"
echo "tarball: $(stat -c %s "$tarball") bytes"

printf '\nci/cross.sh: all cross checks passed: %s\n' "$tarball"
