#include "parallel.hpp"

#include <atomic>
#include <stdexcept>
#include <string>

namespace attncore {

namespace {
std::atomic<int> g_num_threads{1};
std::atomic<bool> g_pool_started{false};
std::atomic<bool> g_forked_from_pool{false};
}  // namespace

int get_num_threads() {
    const int n = g_num_threads.load(std::memory_order_relaxed);
    if (n > 1 && !g_pool_started.load(std::memory_order_relaxed)) g_pool_started.store(true);
    return n;
}

void set_num_threads(int n) {
    if (n < 1) throw std::invalid_argument("number of threads must be >= 1, got " + std::to_string(n));
    if (n > 1 && g_forked_from_pool.load())
        throw std::runtime_error(
            "this process was forked from one whose OpenMP thread pool had started, and GNU libgomp's pool "
            "does not survive fork(): attncore runs on one thread here. Start worker processes with the "
            "'spawn' or 'forkserver' method of multiprocessing to use more threads in them");
    g_num_threads.store(n, std::memory_order_relaxed);
}

void after_fork_in_child() {
    g_forked_from_pool.store(g_pool_started.load());
    g_num_threads.store(1);
}

bool pool_started() { return g_pool_started.load(); }

bool openmp_enabled() {
#ifdef _OPENMP
    return true;
#else
    return false;
#endif
}

}  // namespace attncore
