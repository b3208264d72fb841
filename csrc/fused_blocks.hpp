// What the fused recurrent steps (fused_step.cpp) and the fused decoder (fused_decode.cpp) share: the
// blocks of rows the threads take, each block's scratch, and the dispatch to an instruction set's kernels.
// Each of the two files compiles its *_isa.inc (and fused_product_isa.inc, the block product) once per
// instruction set through fused_per_isa.inc, under ATTNCORE_FUSED (an x86-64 build).
#pragma once

#include <algorithm>
#include <cstdint>
#include <initializer_list>

#include "isa.hpp"
#include "memory.hpp"
#include "parallel.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

#ifdef ATTNCORE_X86_KERNELS
#define ATTNCORE_FUSED 1
#endif

namespace attncore {

// Rows a thread takes at a time; each block runs through all steps. Two slivers of the microkernel's 6 rows
// (16 measured 3-5% slower on an AMD EPYC Zen 4, its last sliver of 4 rows).
constexpr int64_t kBlockRows = 12;

// Blocks of kBlockRows rows, handed out dynamically, each through all T steps: `block(n0, n1, scratch)`
// for each, with a per-thread scratch of `scratch_floats` floats (64-byte aligned, allocated before the
// region).
template <class Block>
void for_blocks(int64_t N, int64_t work, int64_t scratch_floats, Block block) {
    const int64_t blocks = (N + kBlockRows - 1) / kBlockRows;
    const bool parallel = blocks > 1 && should_parallelize(work);
    const int nt = parallel ? get_num_threads() : 1;
    const int64_t per_thread = (scratch_floats + 15) / 16 * 16;
    auto buffer = scratch<float>(per_thread * nt);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
#ifdef _OPENMP
        float* mine = buffer.get() + per_thread * omp_get_thread_num();
#else
        float* mine = buffer.get();
#endif
#pragma omp for schedule(dynamic, 1)
        for (int64_t i = 0; i < blocks; ++i) block(i * kBlockRows, std::min(N, (i + 1) * kBlockRows), mine);
    }
}

// Pointers into one per-thread scratch: consecutive pieces, each rounded up to 16 floats (64 bytes).
struct Carve {
    float* next;
    float* take(int64_t n) {
        float* p = next;
        next += (n + 15) / 16 * 16;
        return p;
    }
    static int64_t size(std::initializer_list<int64_t> pieces) {
        int64_t total = 0;
        for (int64_t n : pieces) total += (n + 15) / 16 * 16;
        return total;
    }
};

// Runs `call` with `ns` the namespace of the current instruction set, and returns; nothing where it has
// no fused kernels (the caller then aborts: fused_applies said no).
#ifdef ATTNCORE_FUSED
#define ATTNCORE_DISPATCH(call)        \
    do {                               \
        const Isa isa = current_isa(); \
        if (isa == Isa::avx512) {      \
            namespace ns = avx512;     \
            call;                      \
            return;                    \
        }                              \
        if (isa == Isa::avx2) {        \
            namespace ns = avx2;       \
            call;                      \
            return;                    \
        }                              \
    } while (0)
#else
#define ATTNCORE_DISPATCH(call) \
    do {                        \
    } while (0)
#endif

}  // namespace attncore
