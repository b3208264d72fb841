// The microkernel compiled for AVX-512 (see microkernel.hpp): a tile of 6 rows by 64 columns, 24 zmm
// accumulators (8 x 32, 8 x 48, 12 x 32 and 4 x 64 measured no better on an AMD EPYC Zen 4:
// bench/gemm_shapes.py), and for outputs at most 16 wide a tile of 24 rows by 16 columns.
#include "microkernel.hpp"

#ifdef ATTNCORE_X86_KERNELS
#include <immintrin.h>

#include <cstdint>

#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx2,fma,prefer-vector-width=512")
namespace attncore {
#define ISA_NS avx512
#define VEC __m512
#define VW 16
#define V_ZERO() _mm512_setzero_ps()
#define V_LOADU(p) _mm512_loadu_ps(p)
#define V_SET1(x) _mm512_set1_ps(x)
#define V_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define V_STOREU(p, v) _mm512_storeu_ps(p, v)
#define V_ADD(a, b) _mm512_add_ps(a, b)
#define MASK __mmask16
#define V_MASK(lanes) static_cast<__mmask16>((1u << (lanes)) - 1)
#define V_MASKLOAD(p, m) _mm512_maskz_loadu_ps(m, p)
#define V_MASKSTORE(p, m, v) _mm512_mask_storeu_ps(p, m, v)
#define TILE_R 6
#define TILE_V 4
#include "microkernel_isa.inc"
#undef ISA_NS
#undef TILE_R
#undef TILE_V
#define ISA_NS avx512_narrow
#define TILE_R 24
#define TILE_V 1
#include "microkernel_isa.inc"
const Microkernel* microkernel_avx512_narrow() { return &avx512_narrow::kernel; }
const Microkernel* microkernel_avx512() { return &avx512::kernel; }
}  // namespace attncore
#pragma GCC pop_options
#endif
