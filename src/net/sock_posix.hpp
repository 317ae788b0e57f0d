// sock_posix.hpp: making a socket that listens, or is bound, or is
// connected. Go counterpart: net/sock_posix.go (socket, listenStream,
// listenDatagram, netFD.dial) and net/sockopt_linux.go
// (setDefaultSockopts, setDefaultListenerSockopts).
#pragma once

#include <cstdint>
#include <string_view>

#include "net/fd_unix.hpp"

namespace gort::net::detail {

// socket: a new socket of family and sotype for net. With laddr and no
// raddr it is bound to laddr, and a stream one listens; with raddr it is
// connected to raddr (deadline: a nanotime() instant, 0 none; ctx, if not
// nullptr, cancels the connect: netfd::connect). ipv6only:
// IPV6_V6ONLY for AF_INET6. On failure returns nullptr with err set, the
// socket closed.
netfd_ptr socket(std::string_view net, int family, int sotype, bool ipv6only, const sockaddr_any* laddr,
                 const sockaddr_any* raddr, std::int64_t deadline, fd_error& err,
                 const context::Context* ctx = nullptr);

}  // namespace gort::net::detail
