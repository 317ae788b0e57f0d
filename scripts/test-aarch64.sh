#!/usr/bin/env bash
# test-aarch64.sh: cross-build gort for aarch64 and run its test suite under
# qemu-user (cmake/aarch64-linux-gnu.cmake). Debian/Ubuntu on x86-64.
#
#   scripts/test-aarch64.sh [extra cmake arguments, e.g. -DCMAKE_BUILD_TYPE=Debug]
#
# BUILD_DIR overrides the build directory (default: build-aarch64 at the top
# of the source tree). CTEST_PARALLEL_LEVEL runs tests in parallel (ctest reads
# it); the default is one at a time, as the scheduler tests time themselves and
# qemu is slow. And as qemu-user 7.2 keeps the memory of a mapping after the
# program unmaps it: ChanModelTest.RandomPrograms, whose many run()s each map
# and unmap their stacks, grows to 12.7 GB under it (5 MB natively), and two
# such tests at once were killed for memory on a 24 GB machine.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$root/build-aarch64}

# Install what is missing. googletest: the sources in /usr/src/googletest,
# which the tests build for aarch64 (libgtest-dev only has x86-64 libraries).
missing=()
command -v aarch64-linux-gnu-g++ >/dev/null || missing+=(g++-aarch64-linux-gnu)
command -v qemu-aarch64 >/dev/null || missing+=(qemu-user)
command -v cmake >/dev/null || missing+=(cmake)
command -v ninja >/dev/null || missing+=(ninja-build)
[[ -f /usr/src/googletest/CMakeLists.txt ]] || missing+=(googletest)
if ((${#missing[@]})); then
  echo "test-aarch64.sh: installing ${missing[*]}" >&2
  sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  "${sudo[@]}" apt-get update
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

cmake -S "$root" -B "$build" -G Ninja \
  -DCMAKE_TOOLCHAIN_FILE="$root/cmake/aarch64-linux-gnu.cmake" -DGORT_BUILD_TESTS=ON "$@"  # ON: no GoogleTest sources is an error, not a build without tests
cmake --build "$build"
ctest --test-dir "$build" --output-on-failure
