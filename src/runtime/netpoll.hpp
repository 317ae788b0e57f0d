// netpoll.hpp: the network poller's interface, to the scheduler and to the
// fd layer (src/net/fd_poll.cpp). Go counterpart: the poll_runtime_*
// functions of netpoll.go, which internal/poll calls, and netpoll's
// scheduler hooks (netpoll, netpollBreak, netpollinited).
//
// The fd layer's loop, as internal/poll's FD.Read:
//
//   if (int e = poll_reset(pd, 'r')) fail(e);        // closed, or deadline passed
//   for (;;) {
//     n = read(fd, ...);                             // fd is O_NONBLOCK
//     if (n >= 0 || errno != EAGAIN) return ...;
//     if (int e = poll_wait(pd, 'r')) fail(e);       // parks the goroutine
//   }
//
// The hooks are called inside an entry_guard (preempt.hpp), as every
// runtime entry is: poll_wait parks, and poll_set_deadline and
// poll_unblock may ready a goroutine, which sysmon's takeaway must not
// find half done.
//
// A poll_desc serves one reader and one writer at a time (the fd layer
// serializes readers and writers with its fd mutex): a second goroutine
// waiting in the same mode is a runtime bug ("netpollblock: double wait").
#pragma once

#include <cstdint>

#include "runtime/runtime2.hpp"

namespace gort::rt {

struct poll_desc;  // netpoll.cpp

// The results of poll_reset and poll_wait: Go's pollNoError, pollErrClosing,
// pollErrTimeout and pollErrNotPollable.
enum poll_error : int {
  poll_no_error = 0,
  poll_err_closing = 1,       // poll_unblock was called: "use of closed network connection"
  poll_err_timeout = 2,       // the mode's deadline has passed: "i/o timeout"
  poll_err_not_pollable = 3,  // reading: epoll reported EPOLLERR alone
};

// poll_open registers fd (already O_NONBLOCK) with the poller,
// edge-triggered for reading and writing, and returns its descriptor.
// Returns nullptr with errno set if epoll refuses the fd (EPERM: a regular
// file; EEXIST: already registered). Go: poll_runtime_pollOpen.
poll_desc* poll_open(int fd);

// poll_close deregisters the descriptor's fd (which must still be open)
// and returns the descriptor to the cache. No goroutine may wait on it: the
// fd layer calls poll_unblock first and poll_close once the last operation
// using the fd has returned. Go: poll_runtime_pollClose.
void poll_close(poll_desc* pd);

// poll_reset prepares mode ('r' or 'w') for an I/O attempt: an error if the
// descriptor is closing or the mode's deadline has passed, else it forgets
// a readiness notification (the attempt itself will tell). Go:
// poll_runtime_pollReset.
int poll_reset(poll_desc* pd, int mode);

// poll_wait parks the calling goroutine until the fd is ready for mode
// ('r' or 'w'), its deadline passes, or poll_unblock. A readiness that
// arrives between the failed attempt and the park is not lost. Go:
// poll_runtime_pollWait.
int poll_wait(poll_desc* pd, int mode);

// poll_wait_drained is poll_reset and poll_wait for a reader whose last
// read came back short from a TCP socket, so that it need not try a read
// it knows will fail with EAGAIN: the short read emptied the receive
// queue, and anything that arrives after it raises a new edge, which
// epoll reports. It keeps (and consumes) a readiness that arrived since,
// and returns at once once the fd has reported a hang-up, an error or
// urgent data (sticky until the descriptor is reused): the edge for a FIN
// or a reset may have come with the data the short read took, and a read
// stops short at an urgent mark, so no later edge would come. Not Go's:
// Go reads until EAGAIN.
int poll_wait_drained(poll_desc* pd);

// poll_set_deadline sets the deadline of mode ('r', 'w', or 'r'+'w' for
// both) to d, a nanotime() instant: 0 clears it, d <= now makes waits and
// the next poll_reset fail at once with poll_err_timeout. A goroutine
// parked in that mode is woken when it passes. Must run on a goroutine
// (the deadline's timer goes in its P's heap). Go: poll_runtime_pollSetDeadline.
void poll_set_deadline(poll_desc* pd, std::int64_t d, int mode);

// poll_unblock marks the descriptor closing and wakes every goroutine
// parked on it, whose poll_wait returns poll_err_closing. Go:
// poll_runtime_pollUnblock.
void poll_unblock(poll_desc* pd);

// ---- the scheduler's side (proc.cpp, sysmon.cpp, time.cpp) ----

// glist: the Gs an epoll_wait readied, still Gwaiting (Go's gList from
// netpoll). Bounded: one epoll_wait takes at most netpoll_events events,
// each readying a reader and a writer at most.
inline constexpr int netpoll_events = 128;
struct glist {
  g* gs[2 * netpoll_events];
  int n = 0;
  std::int32_t delta = 0;  // the change in netpoll_waiters, applied once the Gs are handed out
  bool empty() const { return n == 0; }
};

// netpollinit creates the epoll instance and its eventfd once per process
// (run() calls it; Conns may outlive a run, so the poller does too).
void netpollinit();

// netpoll checks for ready fds, waiting at most delay ns (< 0: until one
// is ready or netpoll_break; 0: not at all), and fills list with the Gs
// they ready. Go: netpoll.
void netpoll(std::int64_t delay, glist& list);

// netpoll_break wakes an M blocked in netpoll. Go: netpollBreak.
void netpoll_break();

// netpoll_anywaiters: a goroutine is parked on I/O. Go: netpollAnyWaiters.
bool netpoll_anywaiters();

// netpoll_teardown: run() is over; goroutines parked on descriptors are
// abandoned with it. Descriptors forget them, so a Conn that outlives the
// run can still be closed.
void netpoll_teardown();

// ---- the platform's half (netpoll_epoll.cpp), as netpoll.go lists it ----

// netpollopen registers fd, edge-triggered for reading and writing, with
// tag as the events' user data; netpollclose deregisters it. Each returns
// 0 or an errno.
int netpollopen(int fd, std::uint64_t tag);
int netpollclose(int fd);

// netpoll_event: epoll reported mode ('r', 'w' or 'r'+'w', or 0) for the
// descriptor tag names (netpoll.cpp drops it if the descriptor has been
// reused since); event_err: the event was EPOLLERR alone; hup: it reported
// the peer's hang-up, an error or urgent data (see poll_wait_drained).
// Adds the Gs it readies to list, counting them in list.delta. Go: the
// tail of netpoll's loop and netpollready.
void netpoll_event(std::uint64_t tag, int mode, bool event_err, bool hup, glist& list);

// netpoll_adjust_waiters applies a delta that netpoll_event counted: once
// per poll, not once per G, after the Gs are runnable (inject_polled,
// proc.hpp). Go: netpollAdjustWaiters.
void netpoll_adjust_waiters(std::int32_t delta);

}  // namespace gort::rt
