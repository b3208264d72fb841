#include "parallel.hpp"

#include <atomic>

namespace attncore {

namespace {
std::atomic<int> g_num_threads{1};
}

int get_num_threads() { return g_num_threads.load(std::memory_order_relaxed); }

void set_num_threads(int n) { g_num_threads.store(n < 1 ? 1 : n, std::memory_order_relaxed); }

bool openmp_enabled() {
#ifdef _OPENMP
    return true;
#else
    return false;
#endif
}

}  // namespace attncore
