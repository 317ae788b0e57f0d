// netpoll_epoll.cpp: the netpoller's Linux half, on epoll. Go counterpart:
// netpoll_epoll.go (Go 1.23): netpollinit, netpollopen, netpollclose,
// netpollBreak and netpoll keep Go's names and shape.
//
// One epoll instance for the process, made on the first run() and kept
// for good: a Conn may outlive its run(), and its close must still find the
// instance it was registered with. Every fd is registered once, when its
// descriptor is opened, for reading and writing together and edge-triggered
// (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, and EPOLLPRI, which Go does
// not ask for, so that urgent data marks the descriptor for
// poll_wait_drained as a hang-up does): the kernel reports each
// change of readiness once, and the descriptor's rg/wg remember it
// (pd_ready) until a goroutine consumes it, so no epoll_ctl is needed per
// wait, and no event is lost between a failed read and the park
// (netpoll.cpp, netpollblock).
//
// An event's user data is its descriptor tagged with the descriptor's fdseq
// at registration (pd_tag): a descriptor freed and reused for another fd
// has a new fdseq, so an event still in flight for the old fd is dropped
// (netpollready is never called for it).
//
// A timed wait uses epoll_pwait2, whose timeout is in nanoseconds, so an
// idle runtime wakes for a timer as precisely as the futex sleep it
// replaces; Go's epoll_wait rounds the delay to milliseconds (up, below
// one), which makes a short sleep in an idle program last a millisecond.
// Kernels before 5.11 lack it (ENOSYS): then epoll_wait, with Go's rounding.
//
// netpoll_break wakes an M blocked in epoll_wait through an eventfd in the
// same epoll set (level-triggered). netpoll_wake_sig makes a burst of breaks
// cost one write: it is set by the first, and reset by the blocked M when it
// drains the eventfd. A non-blocking netpoll leaves the eventfd alone, so a
// break meant for the blocked M is not stolen.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <mutex>

#include "runtime/netpoll.hpp"
#include "runtime/panic.hpp"
#include "runtime/trace.hpp"

namespace gort::rt {
namespace {

int epfd = -1;
int netpoll_event_fd = -1;
std::atomic<std::uint32_t> netpoll_wake_sig{0};  // a break is in flight
std::once_flag netpoll_once;
// have_pwait2: relaxed, the flag is the whole message; a thread that reads
// a stale true pays one ENOSYS and falls back.
std::atomic<bool> have_pwait2{true};  // until the kernel says ENOSYS

[[noreturn]] void netpoll_fail(const char* what) {
  printerr("runtime: %s failed with %d\n", what, errno);
  gothrow(what);
}

// drain_break empties the eventfd after a break woke us. Go: the read in
// netpoll's eventfd case.
void drain_break() {
  std::uint64_t v;
  while (read(netpoll_event_fd, &v, sizeof v) < 0 && errno == EINTR) {
  }
  netpoll_wake_sig.store(0, std::memory_order_seq_cst);
}

}  // namespace

void netpollinit() {
  std::call_once(netpoll_once, [] {
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) netpoll_fail("runtime: netpollinit");
    netpoll_event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (netpoll_event_fd < 0) netpoll_fail("runtime: netpollinit eventfd");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = &netpoll_event_fd;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, netpoll_event_fd, &ev) != 0) netpoll_fail("runtime: netpollinit epoll_ctl");
  });
}

int netpollopen(int fd, std::uint64_t tag) {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI | EPOLLET;
  ev.data.u64 = tag;
  return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : errno;
}

int netpollclose(int fd) {
  epoll_event ev{};  // ignored, but kernels before 2.6.9 wanted one
  return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, &ev) == 0 ? 0 : errno;
}

void netpoll_break() {
  if (epfd < 0) return;
  std::uint32_t zero = 0;
  if (!netpoll_wake_sig.compare_exchange_strong(zero, 1, std::memory_order_seq_cst)) return;
  const std::uint64_t one = 1;
  for (;;) {
    if (write(netpoll_event_fd, &one, sizeof one) == sizeof one) return;
    if (errno == EINTR) continue;
    if (errno == EAGAIN) return;  // the counter is full: a wakeup is pending anyway
    netpoll_fail("runtime: netpollBreak write");
  }
}

namespace {

// epoll_wait_for waits at most delay ns (< 0: no limit) for events.
int epoll_wait_for(epoll_event* events, std::int64_t delay) {
  if (delay > 0 && have_pwait2.load(std::memory_order_relaxed)) {
    const timespec ts{static_cast<time_t>(delay / 1'000'000'000), static_cast<long>(delay % 1'000'000'000)};
    const int n = epoll_pwait2(epfd, events, netpoll_events, &ts, nullptr);
    if (n >= 0 || errno != ENOSYS) return n;
    have_pwait2.store(false, std::memory_order_relaxed);
  }
  // Go's rounding: up to a millisecond below one, so that a timer about
  // to fall due does not make the M spin.
  int waitms;
  if (delay < 0)
    waitms = -1;
  else if (delay == 0)
    waitms = 0;
  else if (delay < 1'000'000)
    waitms = 1;
  else if (delay < 1'000'000'000'000'000)
    waitms = static_cast<int>(delay / 1'000'000);
  else
    waitms = 1'000'000'000;  // about 11.5 days
  return epoll_wait(epfd, events, netpoll_events, waitms);
}

}  // namespace

// netpoll: see netpoll.hpp.
void netpoll(std::int64_t delay, glist& list) {
  list.n = 0;
  list.delta = 0;
  if (epfd < 0) return;
  epoll_event events[netpoll_events];
  int n;
  for (;;) {
    n = epoll_wait_for(events, delay);
    if (n >= 0) break;
    if (errno != EINTR) netpoll_fail("runtime: netpoll");
    // A timed wait returns to the scheduler, which recomputes it.
    if (delay > 0) return;
  }
  for (int i = 0; i < n; ++i) {
    const epoll_event& ev = events[i];
    if (ev.data.ptr == &netpoll_event_fd) {
      if (ev.events != EPOLLIN) {
        printerr("runtime: netpoll: eventfd ready for %u\n", ev.events);
        gothrow("runtime: netpoll: eventfd ready for something unexpected");
      }
      if (delay != 0) drain_break();
      continue;
    }
    int mode = 0;
    if (ev.events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) mode += 'r';
    if (ev.events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) mode += 'w';
    const bool hup = ev.events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR | EPOLLPRI);
    if (mode != 0 || hup) netpoll_event(ev.data.u64, mode, ev.events == EPOLLERR, hup, list);
  }
  if (trace_on() && list.n != 0) [[unlikely]]
    trace_netpoll(list.n);
}

}  // namespace gort::rt
