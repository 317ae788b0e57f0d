# aarch64-linux-gnu.cmake: cross-build gort for aarch64 Linux with the GNU
# cross toolchain of Debian/Ubuntu (package g++-aarch64-linux-gnu), and run
# the tests under qemu-user (package qemu-user):
#
#   cmake -B build-aarch64 -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
#   cmake --build build-aarch64 && ctest --test-dir build-aarch64
#
# scripts/test-aarch64.sh does all of that.

set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_ASM_COMPILER aarch64-linux-gnu-gcc)

# The Debian cross toolchain has no sysroot: its target headers and libraries
# live under /usr/aarch64-linux-gnu and the compiler finds them by itself.
# Search only there for target libraries, headers and packages, so that the
# host's (x86-64) libraries, e.g. libgtest-dev, are never picked up; programs
# are host tools and come from the host.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# ctest (and gtest_discover_tests) run target binaries through this. -L: where
# qemu finds the aarch64 dynamic loader and shared libraries. An absolute path
# when qemu is installed: the crash tests posix_spawn the emulator themselves,
# and posix_spawn does not search PATH.
find_program(GORT_QEMU_AARCH64 NAMES qemu-aarch64 qemu-aarch64-static)
if(GORT_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR "${GORT_QEMU_AARCH64};-L;/usr/aarch64-linux-gnu")
else()
  set(CMAKE_CROSSCOMPILING_EMULATOR "qemu-aarch64;-L;/usr/aarch64-linux-gnu")
endif()
