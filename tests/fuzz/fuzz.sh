#!/usr/bin/env bash
# fuzz.sh: builds the libFuzzer targets of tests/fuzz/ with clang and
# ASan + UBSan, outside the CMake build (which g++ must be able to do alone),
# and runs each for a bounded time.
#
#   tests/fuzz/fuzz.sh [SECONDS]     # default 60; build dir: build-fuzz/
#
# Needs clang-14 and libclang-rt-14-dev (Debian), or CLANGXX naming another
# clang++ with libFuzzer. A crash leaves its input in build-fuzz/ and exits
# non-zero; rerun it with build-fuzz/<target> <input>.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

seconds="${1:-60}"
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: SECONDS must be a positive integer" >&2; exit 2; }
cxx="${CLANGXX:-clang++-14}"
out=build-fuzz
mkdir -p "$out/corpus"

"$cxx" -std=c++20 -O1 -g -fno-omit-frame-pointer \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -Iexamples tests/fuzz/http_framing_fuzz.cpp -o "$out/http_framing_fuzz"

# -max_len: long enough for several 4 KiB buffers' worth of reads.
"$out/http_framing_fuzz" -max_total_time="$seconds" -max_len=16384 \
  -dict=tests/fuzz/http_framing.dict -artifact_prefix="$out/" -print_final_stats=1 \
  "$out/corpus"
