// install_check: a goroutine, a WaitGroup, through the installed headers and
// library. Prints the goroutine's id; exits 0.
#include <gort/gort.hpp>

#include <cstdio>

int main() {
  return gort::run([] {
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&wg] {
      std::printf("installed gort: goroutine %llu\n", static_cast<unsigned long long>(gort::goid()));
      wg.done();
    });
    wg.wait();
  });
}
