#include "blas.hpp"

namespace attncore {

namespace {
sgemm_fn g_sgemm = nullptr;
dgemm_fn g_dgemm = nullptr;
sgemv_fn g_sgemv = nullptr;
dgemv_fn g_dgemv = nullptr;

template <class T>
struct Blas;
template <>
struct Blas<float> {
    static sgemm_fn gemm() { return g_sgemm; }
    static sgemv_fn gemv() { return g_sgemv; }
};
template <>
struct Blas<double> {
    static dgemm_fn gemm() { return g_dgemm; }
    static dgemv_fn gemv() { return g_dgemv; }
};
}  // namespace

void set_blas(sgemm_fn sgemm, dgemm_fn dgemm, sgemv_fn sgemv, dgemv_fn dgemv) {
    g_sgemm = sgemm;
    g_dgemm = dgemm;
    g_sgemv = sgemv;
    g_dgemv = dgemv;
}

bool blas_ready() { return g_sgemm && g_dgemm && g_sgemv && g_dgemv; }

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t Nc, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
    // C is (M,Nc) row-major with row stride ldc
    if (M == 0 || Nc == 0) return;
    if (K == 0) {
        for (int64_t i = 0; i < M; ++i)
            for (int64_t j = 0; j < Nc; ++j) C[i * ldc + j] = beta == T(0) ? T(0) : beta * C[i * ldc + j];
        return;
    }
    if (M == 1) {
        // c (Nc) = alpha * op(B)^T a + beta * c, a being the one row of op(A).
        // Column-major, B's buffer is B^T: no transpose when B is used as is.
        const char tb = trans_b ? 'T' : 'N';
        const int rows = static_cast<int>(trans_b ? K : Nc), cols = static_cast<int>(trans_b ? Nc : K);
        const int lb = static_cast<int>(ldb), inc_a = static_cast<int>(trans_a ? lda : 1), one = 1;
        Blas<T>::gemv()(&tb, &rows, &cols, &alpha, B, &lb, A, &inc_a, &beta, C, &one);
        return;
    }
    // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap the operands.
    const char ta = trans_a ? 'T' : 'N', tb = trans_b ? 'T' : 'N';
    const int m = static_cast<int>(Nc), n = static_cast<int>(M), k = static_cast<int>(K);
    const int la = static_cast<int>(lda), lb = static_cast<int>(ldb), lc = static_cast<int>(ldc);
    Blas<T>::gemm()(&tb, &ta, &m, &n, &k, &alpha, B, &lb, A, &la, &beta, C, &lc);
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*,
                          int64_t, float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                           int64_t, double, double*, int64_t);

}  // namespace attncore
