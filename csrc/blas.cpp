#include "blas.hpp"

namespace attncore {

namespace {
sgemm_fn g_sgemm = nullptr;
dgemm_fn g_dgemm = nullptr;

template <class T>
struct Gemm;
template <>
struct Gemm<float> {
    static sgemm_fn fn() { return g_sgemm; }
};
template <>
struct Gemm<double> {
    static dgemm_fn fn() { return g_dgemm; }
};
}  // namespace

void set_blas(sgemm_fn s, dgemm_fn d) {
    g_sgemm = s;
    g_dgemm = d;
}

bool blas_ready() { return g_sgemm != nullptr && g_dgemm != nullptr; }

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
    // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap the operands.
    const char ta = trans_a ? 'T' : 'N', tb = trans_b ? 'T' : 'N';
    const int m = static_cast<int>(Nc), n = static_cast<int>(M), k = static_cast<int>(K);
    const int la = static_cast<int>(lda), lb = static_cast<int>(ldb), lc = static_cast<int>(ldc);
    Gemm<T>::fn()(&tb, &ta, &m, &n, &k, &alpha, B, &lb, A, &la, &beta, C, &lc);
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*,
                          int64_t, float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                           int64_t, double, double*, int64_t);

}  // namespace attncore
