// attncore's float32 microkernel, one per instruction set (microkernel_avx512.cpp, microkernel_avx2.cpp: the
// same source, microkernel_isa.inc, compiled for each), chosen at load (isa.hpp). A register tile of mr rows
// by nr columns (4 vectors on AVX-512, 2 on AVX2) accumulates C (+)= A.B over K: A packed into slivers of mr
// rows, k-major (Ap[k][r]), so one k's broadcasts share a cache line; B packed into panels of nr columns
// (Bp[k][j]), or read in place where its rows are contiguous. The packed GEMM (gemm.hpp), the fused
// recurrent steps and the fused decoder run on it.
#pragma once

#include <cstdint>

#include "isa.hpp"

namespace attncore {

struct Microkernel {
    int mr, nr;
    // C[r*ldc + j] (+)= sum_{k<K} Ap[k*as + r] * Bp[k*bs + j] for r < rows <= mr, j < cols <= nr; `add`: onto
    // C's values, else over them. Ap is a sliver of pack_a (as = mr) or any k-major copy of the rows; Bp
    // holds nr readable floats per k (a packed panel, zero past its columns), or with `short_b` only cols
    // (B's last columns, read in place).
    void (*tile)(int rows, int cols, int64_t K, const float* Ap, int64_t as, const float* Bp, int64_t bs, float* C,
                 int64_t ldc, bool add, bool short_b);
    // The slivers of op(A)'s rows [m0, m0 + M) and columns [k0, k0 + K): Ap[s][k][r] = op(A)[m0 + s*mr + r,
    // k0 + k] (sliver s at Ap + s*K*mr), zero past M. op(A) is A (M', K') rows lda apart, or with `trans` A^T
    // for A stored (K', M').
    void (*pack_a)(float* Ap, const float* A, int64_t lda, bool trans, int64_t m0, int64_t M, int64_t k0, int64_t K);
    // The panels of op(B)'s rows [k0, k0 + K) and columns [n0, n0 + N): Bp[p][k][j] = op(B)[k0 + k, n0 + p*nr
    // + j] (panel p at Bp + p*K*nr), zero past N. op(B) is B (K', N') rows ldb apart, or with `trans` B^T for
    // B stored (N', K').
    void (*pack_b)(float* Bp, const float* B, int64_t ldb, bool trans, int64_t k0, int64_t K, int64_t n0, int64_t N);
};

// The microkernel of an instruction set, or null (Isa::none, or not compiled for this CPU family); with
// `narrow`, its tile of one vector's columns and more rows, for products whose output is at most one vector
// wide.
const Microkernel* microkernel(Isa isa, bool narrow = false);

}  // namespace attncore
