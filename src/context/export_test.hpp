// export_test.hpp: context internals exposed to tests only (Go's
// export_test.go pattern: context_test.go reads c.children and c.timer).
#pragma once

#include <cstddef>

#include "gort/context.hpp"

namespace gort::context::detail {

// The number of children on ctx's nearest cancel_ctx's list (0 for
// background). Takes its lock.
std::size_t test_num_children(const Context& ctx);
// Whether ctx (a with_deadline context) still holds an armed timer.
bool test_has_timer(const Context& ctx);

}  // namespace gort::context::detail
