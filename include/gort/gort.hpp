// gort/gort.hpp: the whole public API; each header documents its part
// (README.md, "What is there"). gort needs C++20 or later: the standard
// is the consumer's to choose (gort.pc pins none), so say it plainly here
// rather than fail somewhere deep in a header.
#pragma once

#if __cplusplus < 202002L
#error "gort needs C++20 or later: compile with -std=c++20 (or a later standard)"
#endif

#include "gort/chan.hpp"
#include "gort/context.hpp"
#include "gort/errgroup.hpp"
#include "gort/net.hpp"
#include "gort/runtime.hpp"
#include "gort/select.hpp"
#include "gort/sync.hpp"
#include "gort/time.hpp"
#include "gort/trace.hpp"
