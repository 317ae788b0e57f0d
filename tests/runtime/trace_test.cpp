// trace_test.cpp: the execution tracer (gort/trace.hpp), as Go's
// runtime/trace tests run a known program under a trace and parse the
// result: the file must be valid JSON, and its events must be the ones the
// program dictates.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <variant>
#include <vector>

#include "gort/gort.hpp"
#include "runtime/export_test.hpp"
#include "runtime/preempt.hpp"

namespace {

// ---- a small JSON parser: the file must parse whole ----

struct json;
using json_object = std::map<std::string, json>;
using json_array = std::vector<json>;
struct json {
  std::variant<std::nullptr_t, bool, double, std::string, json_array, json_object> v;
  const json& operator[](const std::string& k) const {
    static const json none;
    const auto& o = std::get<json_object>(v);
    auto it = o.find(k);
    return it == o.end() ? none : it->second;
  }
  bool has(const std::string& k) const { return std::get<json_object>(v).count(k) != 0; }
  const std::string& str() const { return std::get<std::string>(v); }
  double num() const { return std::get<double>(v); }
  const json_array& arr() const { return std::get<json_array>(v); }
};

class json_parser {
 public:
  explicit json_parser(std::string s) : s_(std::move(s)) {}
  json parse() {
    json j = value();
    ws();
    if (i_ != s_.size()) fail("trailing characters");
    return j;
  }

 private:
  [[noreturn]] void fail(const char* what) {
    throw std::runtime_error(std::string("json: ") + what + " at offset " + std::to_string(i_));
  }
  void ws() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  char peek() {
    ws();
    if (i_ >= s_.size()) fail("unexpected end");
    return s_[i_];
  }
  void expect(char c) {
    if (peek() != c) fail("unexpected character");
    ++i_;
  }
  json value() {
    const char c = peek();
    if (c == '{') return object();
    if (c == '[') return array();
    if (c == '"') return json{string()};
    if (s_.compare(i_, 4, "true") == 0) return i_ += 4, json{true};
    if (s_.compare(i_, 5, "false") == 0) return i_ += 5, json{false};
    if (s_.compare(i_, 4, "null") == 0) return i_ += 4, json{nullptr};
    std::size_t used = 0;
    const double d = std::stod(s_.substr(i_, 40), &used);
    if (used == 0) fail("bad number");
    i_ += used;
    return json{d};
  }
  std::string string() {
    expect('"');
    std::string out;
    while (i_ < s_.size() && s_[i_] != '"') {
      if (s_[i_] == '\\') ++i_;
      out += s_[i_++];
    }
    expect('"');
    return out;
  }
  json array() {
    expect('[');
    json_array a;
    if (peek() == ']') return ++i_, json{a};
    for (;;) {
      a.push_back(value());
      if (peek() == ']') return ++i_, json{std::move(a)};
      expect(',');
    }
  }
  json object() {
    expect('{');
    json_object o;
    if (peek() == '}') return ++i_, json{o};
    for (;;) {
      std::string k = (ws(), string());
      expect(':');
      o[k] = value();
      if (peek() == '}') return ++i_, json{std::move(o)};
      expect(',');
    }
  }
  std::string s_;
  std::size_t i_ = 0;
};

// ---- the trace, read back ----

std::int64_t ns(const json& ts) { return std::llround(ts.num() * 1000); }

struct slice {
  std::int64_t start, end;
  std::string name, end_reason;
  std::uint64_t goid;  // 0: not a goroutine's
  std::size_t order;   // the event's place in the file
};

struct flow_end {
  std::string name;
  std::int64_t ts;
  int pid, tid;
  std::size_t order;
};

// instant_event: a steal, preempt, handoff, timer or netpoll instant, on
// its track; why: a handoff's ("held" or "syscall").
struct instant_event {
  std::string name, why;
  int pid, tid;
};

struct trace_file {
  std::map<std::pair<int, int>, std::vector<slice>> tracks;  // (pid, tid): slices in file order
  std::map<std::string, flow_end> flow_starts, flow_ends;       // by id
  std::map<std::string, std::uint64_t> flow_goid;               // the G each flow start names
  std::map<std::string, int> instants;
  std::vector<instant_event> instant_list;  // in file order
  int creates = 0, unparks = 0;

  // flow_target: the slice on (pid, tid) that a flow ending at ts binds
  // to ("bp":"e"): the one ts lies in, past its start.
  const slice* flow_target(int pid, int tid, std::int64_t ts) const {
    auto it = tracks.find({pid, tid});
    if (it == tracks.end()) return nullptr;
    for (const slice& s : it->second)
      if (s.start < ts && ts <= s.end) return &s;
    return nullptr;
  }
  std::vector<slice> goroutine_slices(std::uint64_t goid) const {
    std::vector<slice> out;
    for (const auto& [k, v] : tracks)
      for (const slice& s : v)
        if (k.first == 1 && s.goid == goid) out.push_back(s);
    return out;
  }
};

trace_file read_trace(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  const json doc = json_parser(ss.str()).parse();
  trace_file t;
  std::size_t order = 0;
  for (const json& e : doc["traceEvents"].arr()) {
    ++order;
    const std::string& ph = e["ph"].str();
    // A P's or an M's id + 1, the threads without an M the largest int
    // (json_writer::file_tid): Perfetto moves a tid 0 onto another track.
    const double file_tid = e.has("tid") ? e["tid"].num() : -1;
    EXPECT_NE(file_tid, 0) << ph << " event with tid 0";
    if (ph == "M") continue;
    const int pid = static_cast<int>(e["pid"].num());
    const int tid = file_tid == std::numeric_limits<std::int32_t>::max() ? -1 : static_cast<int>(file_tid) - 1;
    if (ph == "X") {
      const json& args = e["args"];
      t.tracks[{pid, tid}].push_back(
          slice{ns(e["ts"]), ns(e["ts"]) + ns(e["dur"]), e["name"].str(), args.has("end") ? args["end"].str() : "",
                args.has("goid") ? static_cast<std::uint64_t>(args["goid"].num()) : 0, order});
    } else if (ph == "s") {
      t.flow_starts[e["id"].str()] = {e["name"].str(), ns(e["ts"]), pid, tid, order};
      t.flow_goid[e["id"].str()] = static_cast<std::uint64_t>(e["args"]["goid"].num());
      (e["name"].str() == "create" ? t.creates : t.unparks)++;
    } else if (ph == "f") {
      // Bound to the slice it ends in, the run it leads to (trace.cpp):
      // without "bp":"e", Perfetto binds it to the next slice to begin.
      EXPECT_TRUE(e.has("bp") && e["bp"].str() == "e") << "flow " << e["id"].str();
      t.flow_ends[e["id"].str()] = {e["name"].str(), ns(e["ts"]), pid, tid, order};
    } else if (ph == "i") {
      t.instants[e["name"].str()]++;
      const json& args = e["args"];
      t.instant_list.push_back({e["name"].str(), args.has("why") ? args["why"].str() : "", pid, tid});
    } else {
      ADD_FAILURE() << "unexpected phase " << ph;
    }
  }
  return t;
}

// The invariants of any trace: one slice at a time per track, and every
// flow's end at the start of a run of the G its start named, no earlier.
void check_consistent(const trace_file& t) {
  for (const auto& [k, v] : t.tracks) {
    std::vector<slice> sorted = v;
    std::stable_sort(sorted.begin(), sorted.end(), [](const slice& a, const slice& b) { return a.start < b.start; });
    for (std::size_t i = 0; i < sorted.size(); ++i) {
      EXPECT_LE(sorted[i].start, sorted[i].end) << "track " << k.first << "/" << k.second;
      if (i == 0) continue;
      EXPECT_GE(sorted[i].start, sorted[i - 1].end) << "overlap on track " << k.first << "/" << k.second << ": "
                                                    << sorted[i - 1].name << " and " << sorted[i].name;
    }
  }
  // A viewer drops an arrow whose start lies in no slice of its track.
  // Perfetto's importer takes a slice of some length before other events
  // of its time, and a zero-length one (an anchor) in file order: such a
  // slice must come first in the file.
  for (const auto& [id, s] : t.flow_starts) {
    auto track = t.tracks.find({s.pid, s.tid});
    EXPECT_TRUE(track != t.tracks.end() &&
                std::any_of(track->second.begin(), track->second.end(),
                            [&](const slice& sl) {
                              return (sl.start < s.ts ||
                                      (sl.start == s.ts && (sl.start < sl.end || sl.order < s.order))) &&
                                     s.ts <= sl.end;
                            }))
        << "flow " << id << " starts outside any slice on track " << s.pid << "/" << s.tid;
  }
  for (const auto& [id, f] : t.flow_ends) {
    auto s = t.flow_starts.find(id);
    ASSERT_NE(s, t.flow_starts.end()) << "flow " << id << " ends without a start";
    EXPECT_EQ(s->second.name, f.name);
    EXPECT_LE(s->second.ts, f.ts) << "flow " << id << " goes back in time";
    const slice* run = t.flow_target(f.pid, f.tid, f.ts);
    ASSERT_NE(run, nullptr) << "flow " << id << " ends in no slice";
    EXPECT_EQ(f.ts, run->start + 1) << "flow " << id << " ends elsewhere than 1 ns into its run";
    EXPECT_EQ(run->goid, t.flow_goid.at(id)) << "flow " << id << " ends at another goroutine";
  }
}

std::string temp_path(const char* name) {
  return (std::filesystem::temp_directory_path() /
          (std::string("gort_") + name + "_" + std::to_string(getpid()) + ".json"))
      .string();
}

// ---- the tests ----

// The known program: pairs of goroutines passing rounds messages back and
// forth over unbuffered channels, a sleeper and a blocking() call. Every
// message on an unbuffered channel readies exactly one goroutine (the
// waiting receiver, or the sender that waited), so the channel unparks are
// 2 * pairs * rounds; the sleeper's timer readies it once, and main is
// readied by the last done() unless everything finished before it waited.
// Main yields until the others have exited, which adds no unpark.
TEST(TraceTest, RoundTripCounts) {
  static constexpr int pairs = 3, rounds = 200;
  const std::string path = temp_path("roundtrip");
  std::uint64_t sleeper = 0, blocker = 0;
  std::vector<std::uint64_t> goids;
  gort::run(gort::Config{.maxprocs = 2}, [&] {
    gort::trace::start(path);
    gort::WaitGroup wg;
    wg.add(2 * pairs + 2);
    for (int i = 0; i < pairs; ++i) {
      auto ping = gort::make_chan<int>();
      auto pong = gort::make_chan<int>();
      goids.push_back(gort::go([&wg, ping, pong] {
        for (int r = 0; r < rounds; ++r) pong.send(*ping.recv() + 1);
        wg.done();
      }));
      goids.push_back(gort::go([&wg, ping, pong] {
        int v = 0;
        for (int r = 0; r < rounds; ++r) {
          ping.send(v);
          v = *pong.recv();
        }
        EXPECT_EQ(v, rounds);
        wg.done();
      }));
    }
    sleeper = gort::go([&wg] {
      gort::sleep(std::chrono::milliseconds(1));
      wg.done();
    });
    blocker = gort::go([&wg] {
      gort::blocking([] { ::usleep(1000); });
      wg.done();
    });
    goids.push_back(sleeper);
    goids.push_back(blocker);
    wg.wait();
    while (gort::num_goroutine() > 1) gort::yield();  // done() comes before the exit
    gort::trace::stop();
  });
  const trace_file t = read_trace(path);
  check_consistent(t);

  EXPECT_EQ(t.creates, 2 * pairs + 2);
  EXPECT_GE(t.unparks, 2 * pairs * rounds + 1);
  EXPECT_LE(t.unparks, 2 * pairs * rounds + 2);
  // Every goroutine made runnable ran afterwards, before the stop.
  EXPECT_EQ(t.flow_ends.size(), t.flow_starts.size());
  for (const auto& [id, s] : t.flow_starts) EXPECT_TRUE(t.flow_ends.count(id)) << "flow " << id << " never ends";

  for (std::uint64_t goid : goids) {
    const std::vector<slice> runs = t.goroutine_slices(goid);
    ASSERT_FALSE(runs.empty()) << "G" << goid;
    const auto last =
        std::max_element(runs.begin(), runs.end(), [](const slice& a, const slice& b) { return a.start < b.start; });
    EXPECT_EQ(last->end_reason, "exit") << "G" << goid;
  }
  // Main was running when the trace began: its run is shown from there.
  const std::vector<slice> mains = t.goroutine_slices(1);
  ASSERT_FALSE(mains.empty());
  EXPECT_EQ(
      std::min_element(mains.begin(), mains.end(), [](const slice& a, const slice& b) { return a.start < b.start; })
          ->start,
      0);
  const std::vector<slice> sleeps = t.goroutine_slices(sleeper);
  EXPECT_TRUE(std::any_of(sleeps.begin(), sleeps.end(), [](const slice& s) { return s.end_reason == "sleep"; }));
  EXPECT_GE(t.instants.count("timer") ? t.instants.at("timer") : 0, 1);
  int blocker_syscalls = 0;
  for (const auto& [k, v] : t.tracks)
    for (const slice& s : v)
      if (k.first == 2 && s.name == "syscall G" + std::to_string(blocker)) ++blocker_syscalls;
  EXPECT_EQ(blocker_syscalls, 1);
  if (!::testing::Test::HasFailure()) std::remove(path.c_str());
}

// The scheduler's own events, each made to happen by a known program at 2
// Ps and waited for by what can be seen of it (gort::stats(), a dump),
// never for a fixed time; the deadline only ends a run that never gets there:
//   steal    batches of goroutines started by main, until stats().steals
//            moves: the other P's M took some from main's queue;
//   handoff  held: a goroutine spinning without a runtime entry until
//            sysmon takes its P (handoffs_held; by the membarrier handshake
//            only: the signal's handler records nothing); syscall: a
//            blocking() call lasting until sysmon hands its P off;
//   preempt  sysmon's request, which comes before either hand-off in the
//            same round, and which spinners calling maybe_yield honour:
//            their slices end "preempted";
//   netpoll  a goroutine parked in wait_readable on a pipe ("IO wait" in a
//            dump), readied by a poll once main writes to the pipe;
//   Ps, Ms   a track per P, as many as GOMAXPROCS, and on the M tracks the
//            slices of the Ps they held, every P among them.
// Each event is recorded before what the program waits for: a thief's
// steal before the G it took runs, a poll's instant before the G it
// readied runs, a preempted G's switch before it runs again. sysmon counts
// its requests and hand-offs just before it records them, so the phases
// that wait on those counts come before the cooperative one, whose wait
// ends only when sysmon has made a later request: by then it has written
// them all.
TEST(TraceTest, SchedulerEvents) {
  static constexpr int procs = 2;
  using clock = std::chrono::steady_clock;
  const std::string path = temp_path("scheduler");
  const auto deadline = clock::now() + std::chrono::seconds(120);
  // until: loops step until done(); false if the deadline came first.
  const auto until = [&](const char* what, auto done, auto step) {
    while (!done()) {
      if (clock::now() > deadline) {
        ADD_FAILURE() << what << ": not seen before the deadline";
        return false;
      }
      step();
    }
    return true;
  };
  const auto nap = [] { gort::sleep(std::chrono::milliseconds(1)); };
  bool by_signal = false;
  std::uint64_t held_spinner = 0, blocker = 0, reader = 0;
  std::set<std::uint64_t> yielders;
  gort::run(gort::Config{.maxprocs = procs}, [&] {
    by_signal = gort::rt::preempt_uses_signal();
    gort::trace::start(path);
    gort::WaitGroup wg;

    // Steals.
    const std::uint64_t steals = gort::stats().steals;
    until(
        "a steal", [&] { return gort::stats().steals > steals; },
        [&] {
          wg.add(64);
          for (int i = 0; i < 64; ++i)
            gort::go([&wg] {
              volatile int x = 0;
              for (int j = 0; j < 10000; ++j) x = x + j;
              wg.done();
            });
          wg.wait();
          while (gort::num_goroutine() > 1) gort::yield();
        });

    // A P held without a runtime entry, taken by sysmon.
    std::atomic<bool> released{false};
    const std::uint64_t held = gort::stats().handoffs_held, syscalls = gort::stats().handoffs_syscall;
    wg.add(1);
    held_spinner = gort::go([&] {
      while (!released.load(std::memory_order_relaxed)) {
      }
      wg.done();
    });
    until(
        "a P taken from a spinning goroutine",
        [&] {
          const gort::Stats s = gort::stats();
          return by_signal ? s.handoffs_syscall > syscalls : s.handoffs_held > held;
        },
        nap);
    released = true;
    wg.wait();

    // A blocking() call that lasts until sysmon hands its P off.
    released = false;
    const std::uint64_t syscalls2 = gort::stats().handoffs_syscall;
    wg.add(1);
    blocker = gort::go([&] {
      gort::blocking([&] {
        while (!released.load()) ::usleep(1000);
      });
      wg.done();
    });
    until("a P handed off from a blocking() call", [&] { return gort::stats().handoffs_syscall > syscalls2; }, nap);
    released = true;
    wg.wait();

    // Netpoll: a goroutine parked on a pipe, readied by a poll.
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    wg.add(1);
    reader = gort::go([&] {
      EXPECT_TRUE(gort::net::wait_readable(fds[0]));
      char c = 0;
      EXPECT_EQ(::read(fds[0], &c, 1), 1);
      wg.done();
    });
    until(
        "the reader parked in IO wait",
        [&] {
          std::ostringstream os;
          gort::dump_goroutines(os);
          return os.str().find(" [IO wait]:\n") != std::string::npos;
        },
        nap);
    EXPECT_EQ(::write(fds[1], "x", 1), 1);
    wg.wait();
    ::close(fds[0]);
    ::close(fds[1]);

    // Spinners that yield at sysmon's request, two per P: a yield finds
    // the other in its P's queue and switches to it (a yield with nobody
    // to switch to ends no run, and has no label).
    std::atomic<bool> stop{false};
    const gort::Stats coop = gort::stats();
    wg.add(2 * procs);
    for (int i = 0; i < 2 * procs; ++i)
      yielders.insert(gort::go([&] {
        while (!stop.load(std::memory_order_relaxed)) gort::maybe_yield();
        wg.done();
      }));
    until(
        "a cooperative preemption",
        [&] {
          const gort::Stats s = gort::stats();
          return s.preempt_yields > coop.preempt_yields && s.preempt_requests > coop.preempt_requests;
        },
        nap);
    stop = true;
    wg.wait();
    while (gort::num_goroutine() > 1) gort::yield();
    gort::trace::stop();
  });
  if (::testing::Test::HasFatalFailure()) return;
  const trace_file t = read_trace(path);
  check_consistent(t);

  // Instants, on the track of the P they are about.
  std::map<std::string, int> on_p;
  int held_handoffs = 0, syscall_handoffs = 0;
  for (const instant_event& i : t.instant_list) {
    if (i.name == "steal" || i.name == "preempt" || i.name == "handoff") {
      EXPECT_EQ(i.pid, 1) << i.name << " not on a P's track";
      EXPECT_TRUE(i.tid >= 0 && i.tid < procs) << i.name << " on P" << i.tid;
    }
    on_p[i.name] += i.pid == 1;
    if (i.name == "handoff") (i.why == "held" ? held_handoffs : syscall_handoffs)++;
  }
  EXPECT_GE(on_p["steal"], 1);
  EXPECT_GE(on_p["preempt"], 1);
  if (!by_signal) {
    EXPECT_GE(held_handoffs, 1) << "no P taken from the spinning goroutine";
  }
  EXPECT_GE(syscall_handoffs, 1) << "no P handed off from a blocking() call";
  EXPECT_GE(t.instants.count("netpoll") ? t.instants.at("netpoll") : 0, 1);

  // A yielder's run ended by sysmon's request.
  int preempted = 0;
  for (std::uint64_t goid : yielders)
    for (const slice& s : t.goroutine_slices(goid)) preempted += s.end_reason == "preempted";
  EXPECT_GE(preempted, 1) << "no slice of a maybe_yield spinner ends \"preempted\"";
  // The reader's run after the poll readied it, and its exit.
  const std::vector<slice> reads = t.goroutine_slices(reader);
  EXPECT_TRUE(std::any_of(reads.begin(), reads.end(), [](const slice& s) { return s.end_reason == "IO wait"; }));

  // One track per P; the M tracks hold the Ps' slices and the system calls:
  // the blocker's, and the spinner's from when sysmon took its P.
  std::set<int> p_tracks;
  std::set<std::string> held_ps;
  std::set<std::string> syscalls;
  for (const auto& [k, v] : t.tracks) {
    if (k.first == 1) p_tracks.insert(k.second);
    if (k.first != 2) continue;
    for (const slice& s : v) {
      if (s.name.rfind("syscall ", 0) == 0)
        syscalls.insert(s.name);
      else if (s.name.size() > 1 && s.name[0] == 'P')
        held_ps.insert(s.name);
    }
  }
  for (const instant_event& i : t.instant_list)
    if (i.pid == 1) p_tracks.insert(i.tid);
  EXPECT_EQ(p_tracks, (std::set<int>{0, 1}));
  EXPECT_EQ(held_ps, (std::set<std::string>{"P0", "P1"}));
  EXPECT_TRUE(syscalls.count("syscall G" + std::to_string(blocker))) << "no syscall slice for the blocker";
  if (!by_signal) {
    EXPECT_TRUE(syscalls.count("syscall G" + std::to_string(held_spinner)))
        << "no syscall slice for the spinner whose P sysmon took";
  }
  if (!::testing::Test::HasFailure()) std::remove(path.c_str());
}

// GODEBUG=gorttrace=<path> traces the whole run, goroutine 1's creation
// included, and the end of run() writes the file.
TEST(TraceTest, Godebug) {
  const std::string path = temp_path("godebug");
  ::setenv("GODEBUG", ("gorttrace=" + path).c_str(), 1);
  std::uint64_t child = 0;
  gort::run([&] {
    gort::WaitGroup wg;
    wg.add(1);
    child = gort::go([&wg] { wg.done(); });
    wg.wait();
  });
  ::unsetenv("GODEBUG");
  const trace_file t = read_trace(path);
  check_consistent(t);
  EXPECT_EQ(t.creates, 2);
  EXPECT_FALSE(t.goroutine_slices(1).empty());
  EXPECT_FALSE(t.goroutine_slices(child).empty());
  std::remove(path.c_str());
}

// Every record reads back as it was written, in its fixed form where its
// fields fit (a ready: goid in 32 bits, p + 1 in 16; a start: goid and the
// ticks since the previous timed record in 32 bits, p + 1 in 8, and a
// switch from the buffer's previous start) and with varints where not; a
// ready kept pending reads back in its place, whether its start carried it
// or it was written on its own.
TEST(TraceTest, RecordFormsRoundTrip) {
  using gort::rt::TraceRecordView;
  constexpr std::uint64_t big = std::uint64_t{1} << 32;
  const std::vector<std::pair<TraceRecordView, bool>> cases = {
      {{.ev = "go_unpark", .goid = 5, .arg = 1, .p = 0}, true},
      {{.ev = "go_create", .goid = big - 1, .arg = 127, .p = 65534}, true},
      {{.ev = "go_unpark", .goid = big, .arg = 2, .p = 0}, false},
      {{.ev = "go_unpark", .goid = 7, .arg = 3, .p = 65535}, false},
      {{.ev = "go_unpark", .goid = 7, .arg = 4, .p = -1}, true},
      {{.ev = "go_start", .ticks = big + 10, .goid = 9, .arg = 1, .p = 1}, false},  // the first: ticks from 0
      {{.ev = "go_switch", .ticks = big + 20, .goid = 10, .p = 1, .end = 0, .reason = 14, .from = 9}, true},
      {{.ev = "go_switch", .ticks = big + 30, .goid = 11, .arg = 5, .p = 254, .end = 3, .from = 10}, true},
      {{.ev = "go_switch", .ticks = big + 40, .goid = 12, .p = 255, .end = 1, .from = 11}, false},
      {{.ev = "go_switch", .ticks = big + 50, .goid = 13, .p = 2, .end = 2, .from = 99}, false},  // not the last start
      {{.ev = "go_switch", .ticks = 2 * big + 50, .goid = 14, .p = 2, .end = 0, .reason = 5, .from = 13}, false},
      {{.ev = "go_start", .ticks = 2 * big + 40, .goid = 15, .p = 0}, false},  // time went back: another CPU's clock
      {{.ev = "go_start", .ticks = 2 * big + 41, .goid = big + 1, .p = 0}, false},
      {{.ev = "go_stop", .ticks = 2 * big + 42, .goid = big + 1, .p = 0, .end = 0, .reason = 7}, false},
      {{.ev = "proc_start", .ticks = 2 * big + 43, .arg = 3, .p = 1}, false},
      {{.ev = "go_start", .ticks = 2 * big + 44, .goid = 16, .arg = 9, .p = 1}, true},
      // Unparks kept pending: carried by their start (fused), or written
      // before the next record: another G's start, a start on another P,
      // the next ready, the end of the stream. A create is written at once.
      {{.ev = "go_unpark", .goid = 17, .arg = 10, .p = 1}, true},
      {{.ev = "go_switch", .ticks = 2 * big + 45, .goid = 17, .arg = 10, .p = 1, .reason = 3, .from = 16}, true},
      {{.ev = "go_unpark", .goid = 18, .arg = 11, .p = 1}, true},
      {{.ev = "go_switch", .ticks = 2 * big + 46, .goid = 19, .arg = 11, .p = 1, .end = 1, .from = 17},
       true},  // another G, with the same flow and P
      {{.ev = "go_create", .goid = 20, .arg = 1, .p = 0}, true},
      {{.ev = "go_start", .ticks = 2 * big + 47, .goid = 20, .arg = 1, .p = 0}, true},
      {{.ev = "go_unpark", .goid = 21, .arg = 3, .p = 2}, true},
      {{.ev = "go_start", .ticks = 2 * big + 48, .goid = 21, .arg = 3, .p = 1}, true},
      {{.ev = "go_unpark", .goid = 22, .arg = 12, .p = 0}, true},
      {{.ev = "go_switch", .ticks = 2 * big + 49, .goid = 22, .arg = 12, .p = 0, .reason = 2, .from = 21}, true},
      {{.ev = "go_unpark", .goid = 24, .arg = 1, .p = 0}, true},  // kept, then written before 25
      {{.ev = "go_unpark", .goid = 25, .arg = 1, .p = 0}, true},
      {{.ev = "go_switch", .ticks = 2 * big + 50, .goid = 25, .arg = 1, .p = 0, .reason = 2, .from = 22}, true},
      {{.ev = "go_unpark", .goid = 23, .arg = 1, .p = 0}, true},
  };
  std::vector<TraceRecordView> in;
  std::size_t want_fixed = 0;
  for (const auto& [r, fixed] : cases) {
    in.push_back(r);
    want_fixed += fixed;
  }
  std::size_t fixed = 0, fused = 0;
  const std::vector<TraceRecordView> out = gort::rt::trace_records_roundtrip(in, &fixed, &fused);
  ASSERT_EQ(out.size(), in.size());
  for (std::size_t i = 0; i < in.size(); ++i) EXPECT_TRUE(out[i] == in[i]) << "record " << i << " (" << in[i].ev << ")";
  EXPECT_EQ(fixed, want_fixed);
  EXPECT_EQ(fused, 2u);  // goids 17 and 22
}

// The Ms' records merge in time, except that a start never comes before
// the ready whose flow it ends: with a coarse clock (arm64's), the start on
// one M reads the same tick as the readier's record before its untimed
// ready, which is placed 1 ns after that record. Every record's time is
// after the one merged before it.
TEST(TraceTest, MergeKeepsReadyBeforeStart) {
  using gort::rt::TraceRecordView;
  const std::vector<std::vector<TraceRecordView>> streams = {
      {{.ev = "go_start", .ticks = 100, .goid = 1, .p = 0}, {.ev = "go_unpark", .goid = 2, .arg = 1, .p = 0}},
      {{.ev = "go_start", .ticks = 100, .goid = 2, .arg = 1, .p = 1},
       {.ev = "go_start", .ticks = 100, .goid = 5, .arg = 3, .p = 1},  // its ready is not in the trace
       {.ev = "go_stop", .ticks = 100, .goid = 5, .p = 1}},
  };
  const std::vector<gort::rt::TraceMerged> out = gort::rt::trace_merge(streams);
  std::vector<std::pair<std::size_t, std::uint64_t>> order;  // (M, goid)
  for (const auto& te : out) order.emplace_back(te.m, te.r.goid);
  const std::vector<std::pair<std::size_t, std::uint64_t>> want = {{0, 1}, {0, 2}, {1, 2}, {1, 5}, {1, 5}};
  EXPECT_EQ(order, want);
  for (std::size_t i = 1; i < out.size(); ++i) EXPECT_LT(out[i - 1].ns, out[i].ns) << "record " << i;

  // Each M's next record waits for a ready behind the other's (only a lost
  // record makes this): the earliest goes, and nothing is dropped.
  const std::vector<std::vector<TraceRecordView>> stuck = {
      {{.ev = "go_start", .ticks = 10, .goid = 2, .arg = 1, .p = 0}, {.ev = "go_unpark", .goid = 3, .arg = 1, .p = 0}},
      {{.ev = "go_start", .ticks = 5, .goid = 3, .arg = 1, .p = 1}, {.ev = "go_unpark", .goid = 2, .arg = 1, .p = 1}},
  };
  EXPECT_EQ(gort::rt::trace_merge(stuck).size(), 4u);
}

TEST(TraceTest, Misuse) {
  EXPECT_THROW(gort::trace::start(temp_path("outside")), std::logic_error);
  EXPECT_THROW(gort::trace::stop(), std::logic_error);
  const std::string path = temp_path("twice");
  gort::run([&] {
    gort::trace::start(path);
    EXPECT_THROW(gort::trace::start(path), std::logic_error);
    gort::trace::stop();
    gort::trace::stop();  // none running: nothing to do, as Go's StopTrace
    EXPECT_THROW(gort::trace::start("/nonexistent-dir/x.json"), std::system_error);
  });
  std::remove(path.c_str());
}

// A trace with nothing in it but its own start and stop is still a valid
// file, and so is one that run()'s end stops in the middle of things.
TEST(TraceTest, EmptyAndCutShort) {
  const std::string empty = temp_path("empty"), cut = temp_path("cut");
  gort::run([&] {
    gort::trace::start(empty);
    gort::trace::stop();
    gort::trace::start(cut);
    auto never = gort::make_chan<int>();
    for (int i = 0; i < 4; ++i) gort::go([never] { never.recv(); });  // abandoned at the end
    gort::yield();
  });
  check_consistent(read_trace(empty));
  const trace_file t = read_trace(cut);
  check_consistent(t);
  EXPECT_EQ(t.creates, 4);
  std::remove(empty.c_str());
  std::remove(cut.c_str());
}

}  // namespace
