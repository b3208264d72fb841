// Thread control shared by every kernel family: the thread count, the rule for going parallel, dynamic chunks.
//
// Kernels read the thread count from one process-wide setting instead of the
// OpenMP ICV, because omp_set_num_threads only affects the calling thread and
// Python may call kernels from any thread.
#pragma once

#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace attncore {

// Number of threads the next parallel region may use (>= 1). A count above 1
// marks the OpenMP pool as started (see after_fork_in_child).
int get_num_threads();
// Sets the count; throws std::runtime_error for n > 1 in a child forked from a
// process whose OpenMP pool had started (libgomp's pool does not survive fork:
// a team of more than one thread would wait forever for workers that do not exist).
void set_num_threads(int n);
// In a forked child: run on one thread from now on.
void after_fork_in_child();
// True once a kernel has asked for more than one thread (OpenMP's pool exists).
bool pool_started();
// True when this translation unit was compiled with OpenMP.
bool openmp_enabled();

// The one rule for going parallel. `work` counts element operations: one
// element through one vectorized pass (a load, a multiply-add or an exp, a
// store). A parallel region of 2 threads cost 1.4 us warm (4.8 us cold) on the
// project's 2-core Xeon (Sapphire Rapids, GNU libgomp; an empty
// `omp parallel` timed 20,000 times); the kernels' vector loops run about 4-8
// element operations per nanosecond, so 16,384 of them take 2-4 us on one
// core: below that the region costs as much as it saves, and on a busy
// machine the waiting thread makes it a loss (measured 2026-11-30).
constexpr int64_t kMinParallelWork = int64_t(1) << 14;

// A BLAS multiply-add costs about a sixteenth of an element operation (one
// core's sgemm runs 60-130 GFLOP/s here against 4-8 G element operations/s),
// so a product of M*N*K multiply-adds is M*N*K / 16 of work.
constexpr int64_t kMultiplyAddsPerElementOp = 16;

inline bool should_parallelize(int64_t work) { return work >= kMinParallelWork; }

// Loops whose iterations own their outputs hand them out dynamically, in about kChunksPerThread chunks
// per thread: a thread that shares its core with another process then takes fewer of them, where an
// equal static split made the others wait for it at the loop's end. Which thread computes an
// iteration never changes its result; loops that reduce keep a static split.
constexpr int kChunksPerThread = 4;

// The chunk of `schedule(dynamic, chunk)` for n iterations on nt threads, a multiple of `align`.
inline int64_t dynamic_chunk(int64_t n, int nt, int64_t align = 1) {
    const int64_t chunk = n / (int64_t(nt) * kChunksPerThread);
    return chunk < align ? align : chunk / align * align;
}

// The work of an (M,K) @ (K,N) product, in element operations.
inline int64_t product_work(int64_t M, int64_t N, int64_t K) { return M * N * K / kMultiplyAddsPerElementOp; }

// A half-open range [begin, end) of rows or columns.
struct Range {
    int64_t begin, end;
    int64_t size() const { return end - begin; }
};

// The calling thread's share of [0, n) inside a parallel region: contiguous,
// near-equal blocks in thread order, each a multiple of align except the last.
inline Range block_of(int64_t n, int64_t align = 1) {
#ifdef _OPENMP
    const int64_t parts = omp_get_num_threads(), i = omp_get_thread_num();
#else
    const int64_t parts = 1, i = 0;
#endif
    const int64_t units = (n + align - 1) / align;
    const int64_t lo = units * i / parts, hi = units * (i + 1) / parts;
    return {lo * align < n ? lo * align : n, hi * align < n ? hi * align : n};
}

}  // namespace attncore
