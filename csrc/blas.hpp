// Matrix products through a BLAS whose ?gemm entry points are handed in at
// run time (the binding takes them from scipy.linalg.cython_blas, so the
// build links no BLAS). Row-major wrapper over the Fortran interface.
#pragma once

#include <cstdint>

namespace attncore {

using sgemm_fn = void (*)(const char*, const char*, const int*, const int*, const int*, const float*,
                          const float*, const int*, const float*, const int*, const float*, float*,
                          const int*);
using dgemm_fn = void (*)(const char*, const char*, const int*, const int*, const int*, const double*,
                          const double*, const int*, const double*, const int*, const double*, double*,
                          const int*);

using sgemv_fn = void (*)(const char*, const int*, const int*, const float*, const float*, const int*,
                          const float*, const int*, const float*, float*, const int*);
using dgemv_fn = void (*)(const char*, const int*, const int*, const double*, const double*, const int*,
                          const double*, const int*, const double*, double*, const int*);

void set_blas(sgemm_fn sgemm, dgemm_fn dgemm, sgemv_fn sgemv, dgemv_fn dgemv);
bool blas_ready();

// Row-major C (M,Nc) = alpha * op(A) @ op(B) + beta * C, op(A) (M,K), op(B) (K,Nc);
// lda, ldb, ldc are row strides in elements. Sizes must fit in int (checked by
// the binding). A single-row product goes to ?gemv: ?gemm packs all of B on
// every call, which made one-sample (N=1) steps slower than NumPy's matmul.
// Must not be called from inside an OpenMP parallel region.
template <class T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t Nc, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

}  // namespace attncore
