// The microkernel compiled for AVX2+FMA (see microkernel.hpp): a tile of 6 rows by 16 columns, 12 ymm
// accumulators, and for outputs at most 8 wide one of 12 rows by 8; and the table of every instruction set's
// microkernels.
#include "microkernel.hpp"

#ifdef ATTNCORE_X86_KERNELS
#include <immintrin.h>

#include <cstdint>

#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace attncore {
#define ISA_NS avx2
#define VEC __m256
#define VW 8
#define V_ZERO() _mm256_setzero_ps()
#define V_LOADU(p) _mm256_loadu_ps(p)
#define V_SET1(x) _mm256_set1_ps(x)
#define V_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define V_STOREU(p, v) _mm256_storeu_ps(p, v)
#define V_ADD(a, b) _mm256_add_ps(a, b)
#define MASK __m256i
#define V_MASK(lanes) _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
#define V_MASKLOAD(p, m) _mm256_maskload_ps(p, m)
#define V_MASKSTORE(p, m, v) _mm256_maskstore_ps(p, m, v)
#define TILE_R 6
#define TILE_V 2
#include "microkernel_isa.inc"
#undef ISA_NS
#undef TILE_R
#undef TILE_V
#define ISA_NS avx2_narrow
#define TILE_R 12
#define TILE_V 1
#include "microkernel_isa.inc"
}  // namespace attncore
#pragma GCC pop_options
#endif

namespace attncore {

#ifdef ATTNCORE_X86_KERNELS
const Microkernel* microkernel_avx512();
const Microkernel* microkernel_avx512_narrow();
#endif

const Microkernel* microkernel(Isa isa, bool narrow) {
#ifdef ATTNCORE_X86_KERNELS
    if (isa == Isa::avx512) return narrow ? microkernel_avx512_narrow() : microkernel_avx512();
    if (isa == Isa::avx2) return narrow ? &avx2_narrow::kernel : &avx2::kernel;
#else
    (void)isa, (void)narrow;
#endif
    return nullptr;
}

}  // namespace attncore
