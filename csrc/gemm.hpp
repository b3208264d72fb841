// attncore's packed float32 GEMM: C (M,N) = op(A) op(B) + beta C for op = identity or transpose, row-major
// with leading dimensions, beta 0 or 1, on the current instruction set's microkernel (microkernel.hpp).
// BLIS's shape: op(B) packed once per call into panels of nr columns (or read in place when few rows use
// it), op(A) packed per block of rows into slivers of mr rows, K taken in blocks that keep a panel's block in
// L1 while every sliver of the rows passes over it. Each output element sums its K blocks in order on one
// thread, so the result does not depend on the thread count. OpenBLAS (blas.hpp) stays the path for float64,
// for CPUs without AVX2+FMA, and the reference the tests compare with.
#pragma once

#include <cstdint>

namespace attncore {

// Whether the packed GEMM runs float32 products here: a CPU with a microkernel and the switch on.
bool packed_gemm_available();
// Whether it runs this product faster than OpenBLAS (measured; see packed_gemm_suits in gemm.cpp), or any
// product after set_packed_gemm_enabled(true, true).
bool packed_gemm_suits(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K);
// Turn it off (false: the float32 products go to OpenBLAS) or back on, for the products it suits or, with
// `everywhere`, for every one; for tests and benchmarks.
void set_packed_gemm_enabled(bool enabled, bool everywhere = false);
bool packed_gemm_enabled();

// C = op(A) op(B) + beta C, beta 0 or 1; A is (M,K) rows lda apart (trans_a: stored (K,M)), B is (K,N) rows
// ldb apart (trans_b: stored (N,K)). `threads` 1 runs on the calling thread (callable inside a parallel
// region); more opens one region. Callers check packed_gemm_available() first.
void packed_gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float beta, float* C, int64_t ldc, int threads);

}  // namespace attncore
