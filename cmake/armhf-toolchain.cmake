# Cross-compiles for the Cerbo GX (ARMv7-A hard-float, "armhf") with Debian's multiarch cross toolchain.
# Usage: cmake -S . -B build-armhf -DCMAKE_TOOLCHAIN_FILE=cmake/armhf-toolchain.cmake -DBMSAGG_STATIC=ON
# Needs gcc-arm-linux-gnueabihf, the :armhf -dev packages and qemu-user (ci/deps.sh cross); DEPLOY.md §7.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR arm)

set(CMAKE_C_COMPILER arm-linux-gnueabihf-gcc)

# pkgconf's target wrapper searches /usr/lib/arm-linux-gnueabihf/pkgconfig, so pkg_check_modules()
# finds the armhf dbus-1 and inih, not the host's.
set(PKG_CONFIG_EXECUTABLE arm-linux-gnueabihf-pkg-config CACHE FILEPATH "pkg-config for the armhf target")

# add_test() on an executable target and try_run() go through qemu. The Cerbo's A20 is a Cortex-A7;
# -L only matters for a dynamic build (a static one never opens the loader).
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-arm;-cpu;cortex-a7;-L;/usr/arm-linux-gnueabihf)

# Host tools (python3, bash, dbus-daemon for the tests) come from the build machine; libraries and
# headers come from the multiarch armhf directories, which the cross gcc searches by itself.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
