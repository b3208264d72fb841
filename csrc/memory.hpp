// The kernels' scratch memory: uninitialized, 64-byte aligned buffers.
//
// A recurrent call at the Keras seed's shapes takes about 90 MB of scratch (the backward's gate
// derivatives and previous states); freshly mapped each call, the kernel spends a tenth of the call
// faulting in and zeroing 22,000 pages. So buffers of 1 MiB or more go back to a small cache when freed
// and the next call of the same shapes takes them again, already mapped (a process-wide cache of at most
// `scratch_cache_limit()` bytes, 256 MiB unless set; 0 turns it off, and `release_scratch()` empties it).
// Buffers of 4 MiB or more may also ask for transparent huge pages (madvise(MADV_HUGEPAGE)), as NumPy
// does for its own arrays: attncore follows NumPy's setting (see _backend.py).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace attncore {

void set_hugepages(bool on);
bool hugepages();
void set_scratch_cache_limit(size_t bytes);  // evicts what is over the new limit
size_t scratch_cache_limit();
size_t scratch_cached_bytes();
void release_scratch();

// At least `bytes` bytes, 64-byte aligned: a cached buffer or a new one; `*capacity` gets its size, which
// release_bytes needs back. std::bad_alloc when there is no memory. Called outside parallel regions only
// (no exception may leave one).
void* allocate_bytes(size_t bytes, size_t* capacity);
void release_bytes(void* p, size_t capacity) noexcept;

struct ScratchDeleter {
    size_t capacity = 0;
    void operator()(void* p) const noexcept { release_bytes(p, capacity); }
};

template <class T>
using Buffer = std::unique_ptr<T[], ScratchDeleter>;

// A buffer of n elements of T, left uninitialized.
template <class T>
Buffer<T> scratch(int64_t n) {
    size_t capacity = 0;
    T* p = static_cast<T*>(allocate_bytes(sizeof(T) * static_cast<size_t>(n > 0 ? n : 0), &capacity));
    return Buffer<T>(p, ScratchDeleter{capacity});
}

}  // namespace attncore
