// http_framing_test.cpp: hand-written cases for examples/http_framing.hpp,
// the request framing of the httphello server (examples/http_hello.cpp):
// pipelined requests, requests split across reads at every byte, and the
// 4 KiB limit on both sides of its boundary. tests/fuzz/http_framing_fuzz.cpp
// checks the same invariants on generated streams.
#include "http_framing.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace {

using http_framing::buffer_size;
using http_framing::framer;

constexpr std::string_view get = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

struct read_result {
  std::size_t requests = 0;
  bool close = false;
};

// feed reads s into f as one read; s must fit in f.space().
read_result feed(framer& f, std::string_view s) {
  auto space = f.space();
  EXPECT_LE(s.size(), space.size());
  std::copy(s.begin(), s.end(), space.begin());
  const auto [requests, close] = f.received(s.size());
  return {requests, close};
}

// feed_all reads s into f in reads of at most chunk bytes; the total answered.
std::size_t feed_all(framer& f, std::string_view s, std::size_t chunk) {
  std::size_t total = 0;
  for (std::size_t i = 0; i < s.size(); i += chunk) {
    const auto r = feed(f, s.substr(i, chunk));
    EXPECT_FALSE(r.close);
    total += r.requests;
  }
  return total;
}

TEST(HttpFramingTest, OneRequest) {
  framer f;
  const auto r = feed(f, get);
  EXPECT_EQ(r.requests, 1u);
  EXPECT_FALSE(r.close);
  EXPECT_EQ(f.held(), 0u);
  EXPECT_EQ(f.space().size(), buffer_size);
}

TEST(HttpFramingTest, ResponsesAreTheAnchorsBytes) {
  EXPECT_EQ(http_framing::responses(1),
            "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, World!");
  std::string three;
  for (int i = 0; i < 3; ++i) three += http_framing::response;
  EXPECT_EQ(http_framing::responses(3), three);
  EXPECT_EQ(http_framing::responses(0), "");
  const auto all = http_framing::responses(http_framing::max_requests_per_read);
  EXPECT_EQ(all.size(), buffer_size / 4 * 78);
  EXPECT_EQ(all.substr(all.size() - 78), http_framing::response);
}

TEST(HttpFramingTest, Pipelined) {
  framer f;
  std::string two = std::string(get) + std::string(get);
  const auto r = feed(f, two);
  EXPECT_EQ(r.requests, 2u);
  EXPECT_EQ(f.held(), 0u);
}

TEST(HttpFramingTest, PipelinedWithPartialThird) {
  framer f;
  const std::string s = std::string(get) + std::string(get) + "GET / HT";
  auto r = feed(f, s);
  EXPECT_EQ(r.requests, 2u);
  EXPECT_EQ(f.held(), 8u);
  r = feed(f, get.substr(8));
  EXPECT_EQ(r.requests, 1u);
  EXPECT_EQ(f.held(), 0u);
}

// Every split of two pipelined requests into two reads, including each split
// inside a terminator ("\r" | "\n\r\n", "\r\n" | "\r\n", "\r\n\r" | "\n").
TEST(HttpFramingTest, SplitAcrossReadsAtEveryByte) {
  const std::string s = std::string(get) + std::string(get);
  for (std::size_t cut = 0; cut <= s.size(); ++cut) {
    framer f;
    std::size_t total = 0;
    if (cut > 0) total += feed(f, std::string_view(s).substr(0, cut)).requests;
    if (cut < s.size()) total += feed(f, std::string_view(s).substr(cut)).requests;
    EXPECT_EQ(total, 2u) << "cut at " << cut;
    EXPECT_EQ(f.held(), 0u) << "cut at " << cut;
  }
}

TEST(HttpFramingTest, OneByteAtATime) {
  framer f;
  std::string s;
  for (int i = 0; i < 5; ++i) s += get;
  EXPECT_EQ(feed_all(f, s, 1), 5u);
  EXPECT_EQ(f.held(), 0u);
}

// Terminators do not overlap: "\r\n\r\n\r\n" is one request and "\r\n" left.
TEST(HttpFramingTest, TerminatorsDoNotOverlap) {
  framer f;
  auto r = feed(f, "\r\n\r\n\r\n");
  EXPECT_EQ(r.requests, 1u);
  EXPECT_EQ(f.held(), 2u);
  r = feed(f, "\r\n");
  EXPECT_EQ(r.requests, 1u);
  EXPECT_EQ(f.held(), 0u);
  r = feed(f, "\r\n\r\n\r\n\r\n");
  EXPECT_EQ(r.requests, 2u);
}

TEST(HttpFramingTest, NoTerminatorInLoneCRLFs) {
  framer f;
  EXPECT_EQ(feed_all(f, "\r\n\n\r\r\n\r\r\n\n\r\n", 3), 0u);
  EXPECT_EQ(f.held(), 12u);
}

// A full buffer of terminators: the most one read can frame.
TEST(HttpFramingTest, FullBufferOfTerminators) {
  framer f;
  std::string s;
  while (s.size() < buffer_size) s += "\r\n\r\n";
  const auto r = feed(f, s);
  EXPECT_EQ(r.requests, http_framing::max_requests_per_read);
  EXPECT_FALSE(r.close);
}

// A request of exactly 4 KiB, terminator included, fits.
TEST(HttpFramingTest, RequestOfExactlyBufferSize) {
  framer f;
  std::string s(buffer_size - 4, 'x');
  s += "\r\n\r\n";
  const auto r = feed(f, s);
  EXPECT_EQ(r.requests, 1u);
  EXPECT_FALSE(r.close);
  EXPECT_EQ(f.held(), 0u);
}

// 4 KiB without a terminator closes, even when the terminator's last byte
// would have come next: the buffer is full, as in the Go server.
TEST(HttpFramingTest, FullBufferWithoutTerminatorCloses) {
  framer f;
  std::string s(buffer_size - 3, 'x');
  s += "\r\n\r";
  const auto r = feed(f, s);
  EXPECT_EQ(r.requests, 0u);
  EXPECT_TRUE(r.close);
}

// One byte short of the limit stays open; the next byte decides.
TEST(HttpFramingTest, BufferBoundary) {
  {
    framer f;
    EXPECT_FALSE(feed(f, std::string(buffer_size - 1, 'x')).close);
    EXPECT_EQ(f.space().size(), 1u);
    EXPECT_TRUE(feed(f, "x").close);
  }
  {
    framer f;
    std::string s(buffer_size - 4, 'x');
    s += "\r\n\r";
    EXPECT_FALSE(feed(f, s).close);
    const auto r = feed(f, "\n");
    EXPECT_EQ(r.requests, 1u);
    EXPECT_FALSE(r.close);
    EXPECT_EQ(f.held(), 0u);
  }
}

// After requests, the leftover moves to the buffer's start and the limit
// counts from the unanswered request's first byte only.
TEST(HttpFramingTest, LimitCountsFromTheUnansweredRequest) {
  framer f;
  std::string s = std::string(get) + std::string(buffer_size - get.size(), 'x');
  auto r = feed(f, s);
  EXPECT_EQ(r.requests, 1u);
  EXPECT_FALSE(r.close);
  EXPECT_EQ(f.held(), buffer_size - get.size());
  r = feed(f, std::string(get.size() - 1, 'x'));
  EXPECT_FALSE(r.close);
  r = feed(f, "x");
  EXPECT_TRUE(r.close);
}

}  // namespace
