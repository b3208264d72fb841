// Matrix products through attncore's private BLAS: the OpenBLAS of the
// scipy-openblas32 wheel (symbols prefixed scipy_, 32-bit indices), linked into
// the extension and kept single-threaded. attncore's OpenMP threads are the only
// threads that run its products: each calls gemm on its own block of the output,
// so unlike a threaded BLAS, gemm may be called from inside a parallel region.
// NumPy's and SciPy's BLAS libraries are other copies and keep their settings.
#pragma once

#include <cstdint>

namespace attncore {

// Makes the private BLAS single-threaded; call once before any product.
void blas_init();
// The library's build string, e.g. "OpenBLAS 0.3.30 DYNAMIC_ARCH ... SkylakeX MAX_THREADS=64".
const char* blas_config();
// Threads the private BLAS would start for one product (1 after blas_init).
int blas_num_threads();

// Row-major C (M,Nc) = alpha * op(A) @ op(B) + beta * C, op(A) (M,K), op(B) (K,Nc);
// lda, ldb, ldc are row strides in elements. Sizes must fit in int (checked by
// the binding). A single-row product goes to ?gemv: ?gemm packs all of B on
// every call. Runs on the calling thread.
template <class T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t Nc, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
          int64_t ldb, T beta, T* C, int64_t ldc);

// The same product on attncore's threads: the output in blocks of rows (C has more rows than columns)
// or columns (so that the operand every block packs again is the smaller one), several per thread, handed
// out dynamically. A long reduction (the weight gradients' x^T dout, K at least twice the output's larger
// side) is computed in two fixed halves of K added at the end, the same on any number of threads.
// Call from outside a parallel region.
template <class T>
void gemm_parallel(bool trans_a, bool trans_b, int64_t M, int64_t Nc, int64_t K, T alpha, const T* A, int64_t lda,
                   const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

}  // namespace attncore
