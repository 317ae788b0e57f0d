// page_reach: what this machine charges for touching N resident pages
// again, as a function of how far apart they lie. No gort in it: a probe of
// the machine behind the parked workload's release (docs/PERFORMANCE.md).
//
// A parked goroutine keeps one resident page, the top of its stack, and
// gort's stacks are stack_size + a guard page apart (256 KiB + 4 KiB by
// default), so a million parked goroutines are a million pages each in a
// page table of its own (a page table maps 2 MiB). Releasing them touches
// every one again. The probe maps n pages stride bytes apart (address space
// only), touches each once (first: the page fault), then reads each again
// three times (retouch: the page is resident; what is left is reaching it
// through the page tables, and, in a VM, the hypervisor's view of them).
//
// usage: probe_page_reach [N [STRIDE]]; with no arguments, a table of
// N = 125,000 .. 1,000,000 at gort's default stride and at 16 KiB and 4 KiB.
// One RESULT line per measurement (impl=machine).
#include <sys/mman.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace {

double us_since(std::chrono::steady_clock::time_point t0, std::size_t n) {
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / n;
}

int probe(std::size_t n, std::size_t stride) {
  auto* p = static_cast<volatile unsigned char*>(
      mmap(nullptr, n * stride, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
  if (p == MAP_FAILED) {
    std::perror("mmap");
    return 1;
  }
  auto t0 = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < n; ++i) p[i * stride] = 1;
  const double first = us_since(t0, n);
  constexpr int rounds = 3;
  unsigned sum = 0;
  t0 = std::chrono::steady_clock::now();
  for (int r = 0; r < rounds; ++r)
    for (std::size_t i = 0; i < n; ++i) sum += p[i * stride + 64];
  const double retouch = us_since(t0, n * rounds);
  std::printf("RESULT name=page_reach impl=machine n=%zu stride=%zu page_tables=%zu first_us=%.2f retouch_us=%.3f\n", n,
              stride, (n * stride + (2u << 20) - 1) / (2u << 20), first, retouch);
  munmap(const_cast<unsigned char*>(p), n * stride);
  return sum == 0 ? 0 : 1;  // every page read back as 0: the first touch wrote offset 0, the reads are at 64
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1)
    return probe(std::strtoul(argv[1], nullptr, 10), argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 266240);
  int rc = 0;
  for (std::size_t stride : {266240ul, 16384ul, 4096ul})
    for (std::size_t n : {125000ul, 250000ul, 500000ul, 1000000ul}) rc |= probe(n, stride);
  return rc;
}
