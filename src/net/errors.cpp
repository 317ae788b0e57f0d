// errors.cpp: Go's error texts for the net layer. See errors.hpp.
//
// Errno texts. Go's syscall package carries its own table for each
// platform; on Linux it is glibc's strerror with the first letter lowered,
// except where the second letter is a capital too ("RFS specific error"),
// so it is computed here rather than copied.
#include "net/errors.hpp"

#include <netdb.h>

#include <cctype>
#include <cstring>

#include "gort/net.hpp"

namespace gort::net::detail {

std::string errno_string(int e) {
  switch (e) {
    case err_net_closing:
      return "use of closed network connection";
    case err_deadline:
      return "i/o timeout";
    case err_not_pollable:
      return "not pollable";
    case err_canceled:
      return "operation was canceled";
    default:
      break;
  }
  char buf[256];
  // GNU strerror_r: returns its own text or fills buf.
  std::string s = strerror_r(e, buf, sizeof buf);
  if (s.empty() || s.starts_with("Unknown error")) return "errno " + std::to_string(e);
  if (s.size() < 2 || !std::isupper(static_cast<unsigned char>(s[1])))
    s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
  return s;
}

std::string op_text(std::string_view op, std::string_view net, std::string_view source, std::string_view addr,
                    std::string_view err) {
  std::string s(op);
  if (!net.empty()) s.append(" ").append(net);
  if (!source.empty()) s.append(" ").append(source);
  if (!addr.empty()) s.append(source.empty() ? " " : "->").append(addr);
  s.append(": ").append(err);
  return s;
}

void throw_op_error(std::string_view op, std::string_view net, std::string_view source, std::string_view addr,
                    fd_error e) {
  std::string err = errno_string(e.err);
  if (e.syscall != nullptr) err = std::string(e.syscall) + ": " + err;
  std::string what = op_text(op, net, source, addr, err);
  switch (e.err) {
    case err_deadline:
      throw timeout_error(what);
    case err_net_closing:
      throw op_error(std::make_error_code(std::errc::bad_file_descriptor), what);
    case err_not_pollable:
      throw op_error(std::make_error_code(std::errc::io_error), what);
    case err_canceled:
      throw op_error(std::make_error_code(std::errc::operation_canceled), what);
    default:
      throw op_error(std::error_code(e.err, std::system_category()), what);
  }
}

addr_error::addr_error(std::string_view addr, std::string_view why)
    : std::invalid_argument(addr.empty() ? std::string(why)
                                         : "address " + std::string(addr) + ": " + std::string(why)) {}

void throw_invalid(std::string_view op, std::string_view net, const std::invalid_argument& e) {
  throw std::invalid_argument(op_text(op, net, {}, {}, e.what()));
}

void throw_unknown_network(std::string_view op, std::string_view net) {
  throw std::invalid_argument(op_text(op, net, {}, {}, "unknown network " + std::string(net)));
}

namespace {
class lookup_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "gort.net.lookup"; }
  std::string message(int eai) const override { return gai_strerror(eai); }
};
}  // namespace

const std::error_category& lookup_category() noexcept {
  static const lookup_category_impl c;
  return c;
}

void throw_lookup_error(std::string_view op, std::string_view net, std::string_view host, int eai, int sys_errno) {
  // Go's cgo resolver: EAI_NONAME (and glibc's "no address for this name")
  // is "no such host"; EAI_SYSTEM the errno; anything else gai_strerror.
  std::string why;
  std::error_code code(eai, lookup_category());
  switch (eai) {
    case EAI_NONAME:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
      why = "no such host";
      break;
    case EAI_SYSTEM:
      why = errno_string(sys_errno);
      code = std::error_code(sys_errno, std::system_category());
      break;
    default:
      why = gai_strerror(eai);
      break;
  }
  throw op_error(code, op_text(op, net, {}, {}, "lookup " + std::string(host) + ": " + why));
}

}  // namespace gort::net::detail
