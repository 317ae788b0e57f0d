// dial.hpp: what dial.cpp resolves for the rest of the net layer. Go
// counterpart: ResolveUDPAddr / ResolveUnixAddr, as a WriteTo caller uses
// them.
#pragma once

#include <string>
#include <string_view>

#include "net/fd_unix.hpp"

namespace gort::net::detail {

// packet_target: address (host:port, or a path for "unixgram") resolved
// for a datagram sent on fd, in fd's family; shown is the address as Go
// prints it in an error. Throws as dial does for a bad address.
sockaddr_any packet_target(const netfd& fd, std::string_view address, std::string& shown);

}  // namespace gort::net::detail
