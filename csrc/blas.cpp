#include "blas.hpp"

#include <algorithm>

#include <new>
#include <type_traits>

#include "gemm.hpp"
#include "memory.hpp"
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
void scipy_cblas_dgemv(int order, int trans, int M, int N, double alpha, const double* A, int lda, const double* x,
                       int incx, double beta, double* y, int incy);
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

namespace {

// Whether attncore's packed GEMM takes a product: float32 on a CPU with its microkernel, alpha 1, beta 0 or
// 1, a shape it runs faster than OpenBLAS.
template <class T>
bool packed(bool trans_a, bool trans_b, int64_t M, int64_t Nc, int64_t K, T alpha, T beta) {
    if constexpr (std::is_same_v<T, float>)
        return alpha == 1.0f && (beta == 0.0f || beta == 1.0f) && packed_gemm_available() &&
               packed_gemm_suits(trans_a, trans_b, M, Nc, K);
    return false;
}

}  // namespace

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t Nc, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
          int64_t ldb, T beta, T* C, int64_t ldc) {
    // C is (M,Nc) row-major with row stride ldc
    if (M == 0 || Nc == 0) return;
    if constexpr (std::is_same_v<T, float>) {
        if (packed(trans_a, trans_b, M, Nc, K, alpha, beta)) {
            try {  // (called inside the kernels' parallel regions too: no exception may leave them)
                return packed_gemm(trans_a, trans_b, M, Nc, K, A, lda, B, ldb, beta, C, ldc, 1);
            } catch (const std::bad_alloc&) {  // no memory for its packed operands: OpenBLAS packs less
            }
        }
    }
    if (K == 0) {
        for (int64_t i = 0; i < M; ++i)
            for (int64_t j = 0; j < Nc; ++j) C[i * ldc + j] = beta == T(0) ? T(0) : beta * C[i * ldc + j];
        return;
    }
    if (M == 1) {
        // c (Nc) = alpha * op(B)^T a + beta * c, a being the one row of op(A)
        const int inc_a = static_cast<int>(trans_a ? lda : 1);
        if (trans_b)  // B is (Nc,K): c = B a
            Cblas<T>::gemv(ScipyCblasRowMajor, ScipyCblasNoTrans, static_cast<int>(Nc), static_cast<int>(K), alpha, B,
                           static_cast<int>(ldb), A, inc_a, beta, C, 1);
        else  // B is (K,Nc): c = B^T a
            Cblas<T>::gemv(ScipyCblasRowMajor, ScipyCblasTrans, static_cast<int>(K), static_cast<int>(Nc), alpha, B,
                           static_cast<int>(ldb), A, inc_a, beta, C, 1);
        return;
    }
    Cblas<T>::gemm(ScipyCblasRowMajor, tr(trans_a), tr(trans_b), static_cast<int>(M), static_cast<int>(Nc),
                   static_cast<int>(K), alpha, A, static_cast<int>(lda), B, static_cast<int>(ldb), beta, C,
                   static_cast<int>(ldc));
}

namespace {

// The products with a long reduction, K at least this many times the output's larger side: the weight
// gradients x^T dout over all N*T rows. Split by the output's columns alone, every block packs all of
// A again (x^T, 13 MB at the Keras seed's output layer); halves of K pack each operand once per block.
constexpr int64_t kLongReduction = 2;
// ... and with at least this many multiply-adds, so that the extra pass over C is cheap beside them.
constexpr int64_t kSplitReductionWork = int64_t(1) << 24;
// The fewest blocks of the output a split reduction makes, whatever the thread count (see below).
constexpr int64_t kReductionBlocks = 2;

bool split_reduction(bool trans_a, int64_t M, int64_t Nc, int64_t K) {
    return trans_a && K >= kLongReduction * std::max(M, Nc) && M * Nc * K >= kSplitReductionWork;
}

// The output in `parts` blocks of rows (M >= Nc) or of 16-column units; block i is [lo, hi).
struct OutputBlocks {
    bool by_rows;
    int64_t extent, align, units, parts;
    OutputBlocks(int64_t M, int64_t Nc, int64_t wanted) : by_rows(M >= Nc) {
        extent = by_rows ? M : Nc;
        align = by_rows ? 1 : 16;
        units = (extent + align - 1) / align;
        parts = std::max<int64_t>(1, std::min<int64_t>(units, wanted));
    }
    Range block(int64_t i) const {
        return {std::min(extent, units * i / parts * align), std::min(extent, units * (i + 1) / parts * align)};
    }
};

// C = alpha op(A) op(B) + beta C on the calling thread, for the output block r of `blocks`.
template <class T>
void gemm_block(const OutputBlocks& blocks, Range r, bool trans_a, bool trans_b, int64_t M, int64_t Nc, int64_t K,
                T alpha, const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
    if (r.size() <= 0) return;
    if (blocks.by_rows)  // rows of C: rows of op(A)
        gemm(trans_a, trans_b, r.size(), Nc, K, alpha, trans_a ? A + r.begin : A + r.begin * lda, lda, B, ldb, beta,
             C + r.begin * ldc, ldc);
    else  // columns of C: columns of op(B)
        gemm(trans_a, trans_b, M, r.size(), K, alpha, A, lda, trans_b ? B + r.begin * ldb : B + r.begin, ldb, beta,
             C + r.begin, ldc);
}

// The long reduction in two fixed halves of K, the first into C and the second into scratch, then added:
// each block packs half of each operand once. The blocks of the output are at least kReductionBlocks, so 1
// and 2 threads make the same BLAS calls: OpenBLAS's AVX2 (Haswell) kernels give an element other bits
// when its block of columns is wider (6-21% of them on AMD Zen 1), so the partition, not the library, must
// fix the result. More threads split the output further (the bits may then differ from 1 and 2 threads'
// in the last place). The blocks (two per thread) are handed out dynamically.
template <class T>
void gemm_split_reduction(int nt, bool trans_a, bool trans_b, int64_t M, int64_t Nc, int64_t K, T alpha, const T* A,
                          int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
    const int64_t K0 = K / 2, K1 = K - K0;
    const T* A1 = trans_a ? A + K0 * lda : A + K0;  // op(A)'s columns from K0
    const T* B1 = trans_b ? B + K0 : B + K0 * ldb;  // op(B)'s rows from K0
    Buffer<T> second = scratch<T>(M * Nc);
    const OutputBlocks blocks(M, Nc, std::max<int64_t>(nt, kReductionBlocks));
#pragma omp parallel num_threads(nt)
    {
#pragma omp for schedule(dynamic, 1)
        for (int64_t i = 0; i < 2 * blocks.parts; ++i) {
            const Range r = blocks.block(i % blocks.parts);
            if (i < blocks.parts)
                gemm_block(blocks, r, trans_a, trans_b, M, Nc, K0, alpha, A, lda, B, ldb, beta, C, ldc);
            else
                gemm_block(blocks, r, trans_a, trans_b, M, Nc, K1, alpha, A1, lda, B1, ldb, T(0), second.get(), Nc);
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t i = 0; i < M; ++i) {
            T* c = C + i * ldc;
            const T* s = second.get() + i * Nc;
#pragma omp simd
            for (int64_t j = 0; j < Nc; ++j) c[j] += s[j];
        }
    }
}

}  // namespace

template <class T>
void gemm_parallel(bool trans_a, bool trans_b, int64_t M, int64_t Nc, int64_t K, T alpha, const T* A, int64_t lda,
                   const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
    const int nt = get_num_threads();
    if constexpr (std::is_same_v<T, float>) {
        if (packed(trans_a, trans_b, M, Nc, K, alpha, beta))
            return packed_gemm(trans_a, trans_b, M, Nc, K, A, lda, B, ldb, beta, C, ldc,
                               should_parallelize(product_work(M, Nc, K)) ? nt : 1);
    }
    if (split_reduction(trans_a, M, Nc, K)) {
        gemm_split_reduction(should_parallelize(product_work(M, Nc, K)) ? nt : 1, trans_a, trans_b, M, Nc, K, alpha, A,
                             lda, B, ldb, beta, C, ldc);
        return;
    }
    if (nt == 1 || !should_parallelize(product_work(M, Nc, K))) {
        gemm(trans_a, trans_b, M, Nc, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    // Blocks of rows, or of columns in multiples of 16 (one AVX-512 register of floats), kChunksPerThread
    // per thread, handed out dynamically (see parallel.hpp). Each block is still large enough for the BLAS
    // to run at its speed.
    const OutputBlocks blocks(M, Nc, int64_t(nt) * kChunksPerThread);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int64_t i = 0; i < blocks.parts; ++i)
        gemm_block(blocks, blocks.block(i), trans_a, trans_b, M, Nc, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

#define ATTNCORE_GEMM(T)                                                                                              \
    template void gemm<T>(bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t, const T*, int64_t, T, T*,      \
                          int64_t);                                                                                   \
    template void gemm_parallel<T>(bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t, const T*, int64_t, T, \
                                   T*, int64_t);
ATTNCORE_GEMM(float)
ATTNCORE_GEMM(double)

}  // namespace attncore
