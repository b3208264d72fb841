#include "memory.hpp"

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <new>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

// Under AddressSanitizer a cached buffer is poisoned, as freed memory would be, and filled with NaNs when it is
// taken again, so that a kernel reading scratch it has not written shows up in the sanitizer stage's results.
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <cstring>
#define ATTNCORE_CACHED(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define ATTNCORE_TAKEN(p, n) (ASAN_UNPOISON_MEMORY_REGION((p), (n)), std::memset((p), 0xff, (n)))
#else
#define ATTNCORE_CACHED(p, n) ((void)0)
#define ATTNCORE_TAKEN(p, n) ((void)0)
#endif

namespace attncore {

namespace {

constexpr size_t kCacheMin = size_t(1) << 20;       // smaller buffers are malloc's business
constexpr size_t kHugeThreshold = size_t(4) << 20;  // NumPy's threshold for its arrays
constexpr size_t kHugePage = size_t(2) << 20;

std::atomic<bool> g_hugepages{false};

struct Cached {
    void* p;
    size_t capacity;
};

// Freed buffers, oldest first.
struct Cache {
    std::mutex mutex;
    std::vector<Cached> entries;
    size_t bytes = 0;
    size_t limit = size_t(256) << 20;

    // Frees the oldest entries until `bytes + room <= limit`; returns whether that is possible.
    bool make_room(size_t room) {
        if (room > limit) return false;
        size_t drop = 0;
        while (bytes + room > limit && drop < entries.size()) {
            ATTNCORE_TAKEN(entries[drop].p, entries[drop].capacity);
            std::free(entries[drop].p);
            bytes -= entries[drop].capacity;
            ++drop;
        }
        entries.erase(entries.begin(), entries.begin() + static_cast<std::ptrdiff_t>(drop));
        return true;
    }
};

Cache& cache() {
    static Cache* c = new Cache();  // never destroyed: buffers may be freed while the process exits
    return *c;
}

void* fresh(size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (bytes >= kHugeThreshold && g_hugepages.load(std::memory_order_relaxed)) {
        void* p = nullptr;
        if (posix_memalign(&p, kHugePage, bytes) != 0) throw std::bad_alloc();
        madvise(p, bytes, MADV_HUGEPAGE);  // a hint: where the kernel says no, the pages stay 4 KiB
        return p;
    }
#endif
    void* p = std::aligned_alloc(64, bytes);
    if (!p) throw std::bad_alloc();
    return p;
}

}  // namespace

void set_hugepages(bool on) { g_hugepages.store(on, std::memory_order_relaxed); }

bool hugepages() { return g_hugepages.load(std::memory_order_relaxed); }

void set_scratch_cache_limit(size_t bytes) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    c.limit = bytes;
    c.make_room(0);
}

size_t scratch_cache_limit() {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    return c.limit;
}

size_t scratch_cached_bytes() {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    return c.bytes;
}

void release_scratch() {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    for (const Cached& e : c.entries) {
        ATTNCORE_TAKEN(e.p, e.capacity);
        std::free(e.p);
    }
    c.entries.clear();
    c.bytes = 0;
}

void* allocate_bytes(size_t bytes, size_t* capacity) {
    bytes = bytes ? (bytes + 63) / 64 * 64 : 64;
    if (bytes >= kCacheMin) {
        // the smallest cached buffer that holds `bytes` and wastes less than a quarter of itself
        Cache& c = cache();
        std::lock_guard<std::mutex> lock(c.mutex);
        size_t best = c.entries.size();
        for (size_t i = 0; i < c.entries.size(); ++i) {
            const size_t cap = c.entries[i].capacity;
            if (cap >= bytes && cap - bytes <= cap / 4 && (best == c.entries.size() || cap < c.entries[best].capacity))
                best = i;
        }
        if (best != c.entries.size()) {
            const Cached e = c.entries[best];
            c.entries.erase(c.entries.begin() + static_cast<std::ptrdiff_t>(best));
            c.bytes -= e.capacity;
            ATTNCORE_TAKEN(e.p, e.capacity);
            *capacity = e.capacity;
            return e.p;
        }
    }
    *capacity = bytes;
    return fresh(bytes);
}

void release_bytes(void* p, size_t capacity) noexcept {
    if (!p) return;
    if (capacity >= kCacheMin) {
        Cache& c = cache();
        std::lock_guard<std::mutex> lock(c.mutex);
        if (c.make_room(capacity)) {
            try {
                c.entries.push_back({p, capacity});
                c.bytes += capacity;
                ATTNCORE_CACHED(p, capacity);
                return;
            } catch (...) {  // no memory for the entry: free the buffer instead
            }
        }
    }
    std::free(p);
}

}  // namespace attncore
