#include "blas.hpp"

#include <algorithm>

#include "parallel.hpp"

// The scipy-openblas32 wheel's C interface (cblas.h with the scipy_ prefix);
// declared here so that only the link needs the wheel.
extern "C" {
enum ScipyCblasOrder { ScipyCblasRowMajor = 101 };
enum ScipyCblasTranspose { ScipyCblasNoTrans = 111, ScipyCblasTrans = 112 };
void scipy_cblas_sgemm(int order, int ta, int tb, int M, int N, int K, float alpha, const float* A, int lda,
                       const float* B, int ldb, float beta, float* C, int ldc);
void scipy_cblas_dgemm(int order, int ta, int tb, int M, int N, int K, double alpha, const double* A, int lda,
                       const double* B, int ldb, double beta, double* C, int ldc);
void scipy_cblas_sgemv(int order, int trans, int M, int N, float alpha, const float* A, int lda, const float* x,
                       int incx, float beta, float* y, int incy);
void scipy_cblas_dgemv(int order, int trans, int M, int N, double alpha, const double* A, int lda,
                       const double* x, int incx, double beta, double* y, int incy);
void scipy_openblas_set_num_threads(int n);
int scipy_openblas_get_num_threads(void);
char* scipy_openblas_get_config(void);
}

namespace attncore {

namespace {

inline int tr(bool t) { return t ? ScipyCblasTrans : ScipyCblasNoTrans; }

template <class T>
struct Cblas;
template <>
struct Cblas<float> {
    static constexpr auto gemm = scipy_cblas_sgemm;
    static constexpr auto gemv = scipy_cblas_sgemv;
};
template <>
struct Cblas<double> {
    static constexpr auto gemm = scipy_cblas_dgemm;
    static constexpr auto gemv = scipy_cblas_dgemv;
};

}  // namespace

void blas_init() { scipy_openblas_set_num_threads(1); }

const char* blas_config() { return scipy_openblas_get_config(); }

int blas_num_threads() { return scipy_openblas_get_num_threads(); }

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
        // c (Nc) = alpha * op(B)^T a + beta * c, a being the one row of op(A)
        const int inc_a = static_cast<int>(trans_a ? lda : 1);
        if (trans_b)  // B is (Nc,K): c = B a
            Cblas<T>::gemv(ScipyCblasRowMajor, ScipyCblasNoTrans, static_cast<int>(Nc), static_cast<int>(K), alpha,
                           B, static_cast<int>(ldb), A, inc_a, beta, C, 1);
        else  // B is (K,Nc): c = B^T a
            Cblas<T>::gemv(ScipyCblasRowMajor, ScipyCblasTrans, static_cast<int>(K), static_cast<int>(Nc), alpha, B,
                           static_cast<int>(ldb), A, inc_a, beta, C, 1);
        return;
    }
    Cblas<T>::gemm(ScipyCblasRowMajor, tr(trans_a), tr(trans_b), static_cast<int>(M), static_cast<int>(Nc),
                   static_cast<int>(K), alpha, A, static_cast<int>(lda), B, static_cast<int>(ldb), beta, C,
                   static_cast<int>(ldc));
}

template <class T>
void gemm_parallel(bool trans_a, bool trans_b, int64_t M, int64_t Nc, int64_t K, T alpha, const T* A,
                   int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
    const int nt = get_num_threads();
    if (nt == 1 || !should_parallelize(product_work(M, Nc, K))) {
        gemm(trans_a, trans_b, M, Nc, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    const bool by_rows = M >= Nc;
    // Column blocks in multiples of 16 elements (one AVX-512 register of floats). kChunksPerThread
    // blocks per thread, handed out dynamically (see parallel.hpp). Each block is still large enough
    // for the BLAS to run at its speed (the weight gradients' 1024 columns make blocks of 128).
    const int64_t extent = by_rows ? M : Nc, align = by_rows ? 1 : 16;
    const int64_t units = (extent + align - 1) / align;
    const int64_t parts = std::min<int64_t>(units, int64_t(nt) * kChunksPerThread);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int64_t i = 0; i < parts; ++i) {
        const int64_t lo = std::min(extent, units * i / parts * align);
        const int64_t hi = std::min(extent, units * (i + 1) / parts * align);
        if (hi <= lo) continue;
        if (by_rows)  // rows [lo, hi) of C: rows of op(A)
            gemm(trans_a, trans_b, hi - lo, Nc, K, alpha, trans_a ? A + lo : A + lo * lda, lda, B, ldb, beta,
                 C + lo * ldc, ldc);
        else  // columns [lo, hi) of C: columns of op(B)
            gemm(trans_a, trans_b, M, hi - lo, K, alpha, A, lda, trans_b ? B + lo * ldb : B + lo, ldb, beta, C + lo,
                 ldc);
    }
}

#define ATTNCORE_GEMM(T)                                                                                         \
    template void gemm<T>(bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t, const T*, int64_t, T, T*, \
                          int64_t);                                                                              \
    template void gemm_parallel<T>(bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t, const T*, int64_t, \
                                   T, T*, int64_t);
ATTNCORE_GEMM(float)
ATTNCORE_GEMM(double)

}  // namespace attncore
