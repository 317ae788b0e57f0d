// http_framing.hpp: the request framing of the anchors' httphello workload
// (docs/PERFORMANCE.md), shared by http_hello.cpp and
// its fuzz target (tests/fuzz/http_framing_fuzz.cpp). No I/O here: the caller
// reads into space(), hands the count to received(), and writes responses(k).
//
// The framing, exactly as the Go anchor's serve loop: a request is the bytes
// up to and including the first "\r\n\r\n" after the previous request; the
// rest of the request is not parsed. Every complete request in the buffer
// after a read is answered with the fixed 78-byte response, all of them in
// one write (so pipelined requests work); the bytes after the last one move
// to the buffer's start; a buffer full (4 KiB) with no terminator in it means
// a request too large, and the connection closes.
//
// Invariants (the fuzz target checks them against a naive scan):
//   F1  0 <= held() < buffer_size whenever received() returns {.close = false}.
//   F2  The requests answered, summed over reads, equal the terminators a
//       sequential, non-overlapping scan of the whole stream finds up to the
//       last byte read.
//   F3  buf_[0, scanned_) holds no byte where a terminator starts: a
//       terminator can start only at scanned_ or later.
//
// F3 is what keeps a slow client cheap: each received() scans only the new
// bytes and the 3 before them that might begin a terminator split across
// reads, so a 4 KiB request sent a byte at a time costs linear work, not
// quadratic.
//
// The response bytes never depend on the request, so responses(k) is a view
// of one read-only table of the most responses a full buffer can frame
// (every terminator is 4 bytes: at most buffer_size / 4), and a connection
// owns no output buffer at all: an idle connection holds only its input
// buffer.
#pragma once

#include <array>
#include <cstddef>
#include <cstring>
#include <span>
#include <string_view>

namespace http_framing {

inline constexpr std::size_t buffer_size = 4096;
inline constexpr std::string_view terminator = "\r\n\r\n";
// The response, and the table of responses(k) below, as string literals
// that the compiler concatenates: read-only data, paged in only as far as
// writes reach into it (a constexpr loop of 80,000 steps exceeds clang's
// constexpr step limit).
#define HTTP_FRAMING_R1 "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, World!"
#define HTTP_FRAMING_R4 HTTP_FRAMING_R1 HTTP_FRAMING_R1 HTTP_FRAMING_R1 HTTP_FRAMING_R1
#define HTTP_FRAMING_R16 HTTP_FRAMING_R4 HTTP_FRAMING_R4 HTTP_FRAMING_R4 HTTP_FRAMING_R4
#define HTTP_FRAMING_R64 HTTP_FRAMING_R16 HTTP_FRAMING_R16 HTTP_FRAMING_R16 HTTP_FRAMING_R16
#define HTTP_FRAMING_R256 HTTP_FRAMING_R64 HTTP_FRAMING_R64 HTTP_FRAMING_R64 HTTP_FRAMING_R64
#define HTTP_FRAMING_R1024 HTTP_FRAMING_R256 HTTP_FRAMING_R256 HTTP_FRAMING_R256 HTTP_FRAMING_R256
inline constexpr std::string_view response = HTTP_FRAMING_R1;
static_assert(response.size() == 78, "the anchors' response is 78 bytes");

// The most requests one received() can frame: a full buffer of terminators.
inline constexpr std::size_t max_requests_per_read = buffer_size / terminator.size();

namespace detail {
inline constexpr char response_table[] = HTTP_FRAMING_R1024;
static_assert(sizeof response_table - 1 == max_requests_per_read * response.size());
}  // namespace detail
#undef HTTP_FRAMING_R1024
#undef HTTP_FRAMING_R256
#undef HTTP_FRAMING_R64
#undef HTTP_FRAMING_R16
#undef HTTP_FRAMING_R4
#undef HTTP_FRAMING_R1

// responses(k): k copies of the response, back to back. k <= max_requests_per_read.
inline std::string_view responses(std::size_t k) { return {detail::response_table, k * response.size()}; }

// framer: one connection's input buffer and how far it has been scanned.
// Default-constructed, the buffer is left uninitialized, so its pages are
// only touched as bytes arrive.
class framer {
 public:
  struct result {
    std::size_t requests;  // complete requests framed by this read: write responses(requests)
    bool close;            // buffer full with no terminator: close the connection
  };

  // space: the free tail of the buffer, where the next read goes. Never
  // empty after a received() that did not say close.
  std::span<char> space() { return {buf_.data() + n_, buf_.size() - n_}; }

  // received: r bytes (1 <= r <= space().size()) were read into space().
  result received(std::size_t r) {
    n_ += r;
    std::size_t start = 0;  // first byte of the first unanswered request
    std::size_t requests = 0;
    for (;;) {
      const std::size_t i = std::string_view(buf_.data() + scanned_, n_ - scanned_).find(terminator);
      if (i == std::string_view::npos) break;
      start = scanned_ + i + terminator.size();
      scanned_ = start;
      ++requests;
    }
    // No terminator starts before n_ - 3 in [start, n_) (F3); keep the
    // last 3 bytes for the search after the next read.
    const std::size_t held = n_ - start;
    if (start > 0) std::memmove(buf_.data(), buf_.data() + start, held);
    n_ = held;
    scanned_ = held >= terminator.size() ? held - (terminator.size() - 1) : 0;
    return {requests, n_ == buf_.size()};
  }

  // held: bytes of an incomplete request kept for the next read.
  std::size_t held() const { return n_; }

 private:
  std::array<char, buffer_size> buf_;
  std::size_t n_ = 0;        // bytes held in buf_
  std::size_t scanned_ = 0;  // F3
};

}  // namespace http_framing
