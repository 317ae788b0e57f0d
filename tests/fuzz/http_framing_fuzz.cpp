// http_framing_fuzz.cpp: a libFuzzer target for examples/http_framing.hpp,
// the httphello server's request framing. The input is a stream of reads:
// each a length (FuzzedDataProvider) and then that many bytes, cut to the
// framer's free space, as a socket read would be. After every read the
// framer is checked against a naive model, a byte-by-byte sequential scan of
// everything read so far for non-overlapping "\r\n\r\n":
//   - the requests it framed are the terminators the model finds in the
//     bytes this read added (so, summed, responses == terminators: F2);
//   - it holds exactly the stream's bytes after the last terminator, at the
//     buffer's start, fewer than 4 KiB, or it says close when they fill
//     4 KiB (F1);
//   - responses(k) is k copies of the response.
// ASan and UBSan catch any access outside the buffer or the response table.
//
// Built apart from the CMake build (clang only): tests/fuzz/fuzz.sh builds
// and runs it, as .ci/run does for a bounded time.
#include "http_framing.hpp"

#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace {

#define FUZZ_CHECK(cond)                                                            \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                 \
    }                                                                               \
  } while (0)

// model: the naive scan. It never looks back before pos, the first byte
// after the last terminator found, so its terminators do not overlap.
struct model {
  std::string stream;  // every byte read so far
  std::size_t pos = 0;

  std::size_t scan() {  // terminators found since the last call
    std::size_t found = 0;
    for (std::size_t i = pos; i + 4 <= stream.size(); ++i) {
      if (stream[i] == '\r' && stream[i + 1] == '\n' && stream[i + 2] == '\r' && stream[i + 3] == '\n') {
        ++found;
        i += 3;
        pos = i + 1;
      }
    }
    return found;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using http_framing::buffer_size;
  FuzzedDataProvider in(data, size);
  http_framing::framer f;
  model m;
  while (in.remaining_bytes() > 0) {
    const auto space = f.space();
    FUZZ_CHECK(!space.empty());
    const std::size_t want = in.ConsumeIntegralInRange<std::size_t>(1, buffer_size);
    const std::string bytes = in.ConsumeBytesAsString(std::min(want, space.size()));
    if (bytes.empty()) break;  // a read returns at least one byte
    std::memcpy(space.data(), bytes.data(), bytes.size());
    m.stream += bytes;

    const auto [requests, close] = f.received(bytes.size());
    FUZZ_CHECK(requests == m.scan());
    FUZZ_CHECK(requests <= http_framing::max_requests_per_read);
    const std::string_view out = http_framing::responses(requests);
    FUZZ_CHECK(out.size() == requests * http_framing::response.size());
    if (requests > 0) FUZZ_CHECK(out.substr(out.size() - http_framing::response.size()) == http_framing::response);

    const std::size_t held = m.stream.size() - m.pos;
    FUZZ_CHECK(f.held() == held);
    FUZZ_CHECK(held <= buffer_size);
    FUZZ_CHECK(close == (held == buffer_size));
    // The held bytes are the stream's tail, at the buffer's start, which is
    // where the free space begins less what is held.
    const char* start = f.space().data() - f.held();
    FUZZ_CHECK(std::string_view(start, held) == std::string_view(m.stream).substr(m.pos));
    if (close) break;
    FUZZ_CHECK(f.space().size() == buffer_size - held);
  }
  return 0;
}
