// errors.hpp: Go's error texts for the net layer, and the one place that
// turns an fd-layer failure into the exception the public API throws. Go
// counterparts: net/net.go (OpError, AddrError, UnknownNetworkError,
// DNSError), internal/poll/fd.go (ErrNetClosing, ErrDeadlineExceeded,
// ErrNotPollable), syscall's Errno.Error() and os.SyscallError.
//
// The fd layer (fd_poll.cpp) reports a failure as an int: an errno, or one
// of the err_* values below for Go's non-errno errors, plus the name of the
// system call that failed, if any. The net layer knows which operation and
// which addresses the failure belongs to, and calls throw_op_error. Go
// builds its message from the same four parts:
//   op net [source->]addr: [syscall: ]err
// with source and addr left out when Go's are nil (here: empty).
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace gort::net::detail {

// Go's errors that carry no errno. Negative, so they never collide with one.
inline constexpr int err_net_closing = -1;   // poll.ErrNetClosing: "use of closed network connection"
inline constexpr int err_deadline = -2;      // os.ErrDeadlineExceeded: "i/o timeout"
inline constexpr int err_not_pollable = -3;  // poll.ErrNotPollable: "not pollable"
inline constexpr int err_canceled = -4;      // net's errCanceled: "operation was canceled" (a dial's context)

// errno_string is Go's syscall.Errno(e).Error(): the C library's text with
// its first letter lowered ("connection refused"), "errno N" for a number
// the C library does not know. Also the texts of the err_* values above.
std::string errno_string(int e);

// fd_error: what the fd layer reports. syscall is the system call that
// failed (Go's os.SyscallError wraps it into the text), nullptr for
// err_* values and where Go adds no wrapper.
struct fd_error {
  int err = 0;
  const char* syscall = nullptr;
  explicit operator bool() const { return err != 0; }
};

// op_text is Go's OpError.Error(): "op net source->addr: syscall: err".
std::string op_text(std::string_view op, std::string_view net, std::string_view source, std::string_view addr,
                    std::string_view err);

// throw_op_error throws the exception for e: timeout_error for
// err_deadline, else op_error with the errno (err_net_closing: EBADF;
// err_not_pollable: EIO; err_canceled: ECANCELED).
[[noreturn]] void throw_op_error(std::string_view op, std::string_view net, std::string_view source,
                                 std::string_view addr, fd_error e);

// addr_error: Go's AddrError, "address X: why", as std::invalid_argument:
// the caller's input is wrong.
struct addr_error : std::invalid_argument {
  addr_error(std::string_view addr, std::string_view why);
};
// throw_invalid: e's text behind "op net: ", as Go's OpError wraps an
// AddrError ("dial tcp: address 127.0.0.1: missing port in address"),
// still an invalid_argument.
[[noreturn]] void throw_invalid(std::string_view op, std::string_view net, const std::invalid_argument& e);
// throw_unknown_network: Go's UnknownNetworkError in an OpError, "dial
// udp7: unknown network udp7", as std::invalid_argument.
[[noreturn]] void throw_unknown_network(std::string_view op, std::string_view net);

// lookup_category: getaddrinfo's EAI_* codes, the code of a failed lookup.
const std::error_category& lookup_category() noexcept;
// throw_lookup_error: getaddrinfo failed for host with eai (sys_errno for
// EAI_SYSTEM): op_error with Go's OpError around a DNSError, "dial tcp:
// lookup nosuch.invalid: no such host", coded in lookup_category (the errno
// for EAI_SYSTEM).
[[noreturn]] void throw_lookup_error(std::string_view op, std::string_view net, std::string_view host, int eai,
                                     int sys_errno);

}  // namespace gort::net::detail
