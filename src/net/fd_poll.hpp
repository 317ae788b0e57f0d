// fd_poll.hpp: a non-blocking file descriptor served by the netpoller.
// Go counterpart: internal/poll (fd_unix.go's FD, fd_poll_runtime.go's
// pollDesc), with Go's names: poll_fd is Go's poll.FD.
//
// The I/O loop (Go's FD.Read and friends): take the fd's read (or write)
// lock, poll_reset the mode (fails at once if closing or past the
// deadline), then try the system call; EINTR retries it, EAGAIN parks the
// goroutine in poll_wait until the fd is ready, its deadline passes or
// close() unblocks it, and retries. One departure: after a TCP read came
// back short, the next read waits first (poll_wait_drained) instead of
// trying a read that would fail with EAGAIN. A stream write writes all of its
// buffer, across as many parks as it takes. send() carries MSG_NOSIGNAL:
// a peer that went away is EPIPE, never SIGPIPE.
//
// Closing (Go's FD.Close): close() marks the fd_mutex closed, so no new
// operation starts, and poll_unblock wakes the goroutines parked on the
// poll_desc, whose poll_wait returns poll_err_closing. Whoever drops the
// last reference runs destroy(): poll_close, then close(2). close()
// itself waits on csema until destroy() has run, so that when it returns
// nothing uses the fd, the number may be reused and the poll_fd freed.
//
// Ownership. sysfd and pd are written by init() before the fd is shared
// and by destroy() after the last reference; every other use holds a
// reference, so none races with them. Errors are returned as fd_error
// (errors.hpp), never thrown: the net layer, which knows the operation
// and addresses, turns them into Go's messages.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>

#include "net/errors.hpp"
#include "net/fd_mutex.hpp"
#include "net/ipsock.hpp"

namespace gort::rt {
struct poll_desc;
}

namespace gort::net::detail {

struct io_result {
  std::size_t n = 0;
  fd_error err;
};

struct poll_fd {
  int sysfd = -1;
  rt::poll_desc* pd = nullptr;
  fd_mutex fdmu;
  std::atomic<std::uint32_t> csema{0};  // destroy() releases it; close() waits on it
  bool is_stream = true;                // Go's IsStream: SOCK_STREAM
  bool is_tcp = false;                  // a TCP socket: a short read means drained (poll_wait_drained)
  bool read_drained = false;            // the last read came back short; under the read lock

  // init registers sysfd (already O_NONBLOCK) with the netpoller. On
  // failure the caller still owns sysfd.
  fd_error init(int fd, bool stream, bool tcp);

  // close: see "Closing". err_net_closing if already closed. After run()
  // has returned (no goroutine), the references still held belong to
  // goroutines abandoned with the run: it destroys at once.
  fd_error close();

  // read: at least one byte, or n == 0 at EOF (stream) or for an empty
  // datagram. A zero-length buf returns 0 at once, as Go.
  io_result read(std::span<std::byte> buf);
  // write: all of buf (stream), or one datagram.
  io_result write(std::span<const std::byte> buf);
  // read_from / write_to: one datagram, with the sender's / to sa.
  io_result read_from(std::span<std::byte> buf, sockaddr_any& from);
  io_result write_to(std::span<const std::byte> buf, const sockaddr_any& to);
  // accept: a new connection's fd (non-blocking, close-on-exec) and its
  // peer address, or an error (EMFILE and ENFILE among them: the listener
  // stays usable). ECONNABORTED is retried, as Go.
  int accept(sockaddr_any& peer, fd_error& err);
  // wait_write parks until the fd is writable (a non-blocking connect's
  // completion). Go: FD.WaitWrite.
  fd_error wait_write();
  // set_deadline: poll_set_deadline for mode 'r', 'w' or 'r' + 'w'
  // (d: a nanotime() instant, 0 clears). Go: setDeadlineImpl.
  fd_error set_deadline(std::int64_t d, int mode);
  // shutdown: shutdown(2) with how (SHUT_WR, SHUT_RD).
  fd_error shutdown(int how);

 private:
  class op_ref;  // a read/write lock or a plain reference, held for an operation's scope
  template <class F>
  io_result retry(int mode, const char* syscall, F f);
  void destroy();
};

}  // namespace gort::net::detail
