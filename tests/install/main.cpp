// install_check: a goroutine, a WaitGroup and a goroutine dump, through the
// installed headers and library, as a consumer builds them (tests/install/
// CMakeLists.txt, .ci/run). Exits 0 when
//   - the goroutine ran;
//   - the standard the consumer asked for is the one it got
//     (INSTALL_CHECK_STD=23: not downgraded to C++20 by gort's package);
//   - built with -g, the dump names this file with a line: the traceback's
//     libbacktrace came inside libgort, whatever the consumer's compiler.
#include <gort/gort.hpp>

#include <cstdio>
#include <sstream>
#include <string>

#if defined(INSTALL_CHECK_STD) && INSTALL_CHECK_STD >= 23
static_assert(__cplusplus > 202002L, "asked for C++23, compiled as C++20 or older");
#endif

int main() {
  std::string dump;
  const int rc = gort::run([&dump] {
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&wg] {
      std::printf("installed gort: goroutine %llu\n", static_cast<unsigned long long>(gort::goid()));
      wg.done();
    });
    wg.wait();
    std::ostringstream os;
    gort::dump_goroutines(os);
    dump = os.str();
  });
  if (rc != 0) return rc;
  std::printf("__cplusplus %ld\n", static_cast<long>(__cplusplus));
#if defined(INSTALL_CHECK_FILE_LINE)
  if (dump.find("main.cpp:") == std::string::npos) {
    std::fprintf(stderr, "install_check: the dump names no main.cpp:<line>:\n%s", dump.c_str());
    return 1;
  }
#endif
  return 0;
}
