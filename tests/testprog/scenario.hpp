// scenario.hpp: the named scenarios of a test program (testprog,
// testprog_checked) and the main that runs the one its argument names, as
// Go's runtime/testdata/testprog registers each with register().
#pragma once

#include <cstdio>
#include <cstring>

struct scenario {
  const char* name;
  int (*fn)();
};

// run_scenario runs the scenario argv[1] names; an unknown name or a
// missing one prints the names on stderr and exits 1.
template <std::size_t N>
int run_scenario(const char* prog, const scenario (&scenarios)[N], int argc, char** argv) {
  if (argc == 2) {
    for (const scenario& s : scenarios)
      if (std::strcmp(argv[1], s.name) == 0) return s.fn();
    std::fprintf(stderr, "%s: unknown scenario %s\n", prog, argv[1]);
  }
  std::fprintf(stderr, "usage: %s <Name>; names:", prog);
  for (const scenario& s : scenarios) std::fprintf(stderr, " %s", s.name);
  std::fprintf(stderr, "\n");
  return 1;
}
