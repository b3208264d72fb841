#include "affine.hpp"

#include <cstring>

#include "blas.hpp"
#include "vector.hpp"

namespace attncore {

template <class T>
void affine_forward(T* out, const T* x, const T* W, const T* b, int64_t M, int64_t D, int64_t K) {
    // out is (M,K): every row starts as b, then the product is added to it
    const int nt = get_num_threads();
#pragma omp parallel for num_threads(nt) schedule(dynamic, dynamic_chunk(M, nt)) if (should_parallelize(M * K))
    for (int64_t m = 0; m < M; ++m) copy_n(out + m * K, b, K);
    gemm_parallel<T>(false, false, M, K, D, T(1), x, D, W, K, T(1), out, K);
}

template <class T>
void affine_backward(T* dx, T* dW, T* db, const T* x, const T* W, const T* dout, int64_t M, int64_t D, int64_t K) {
    // dW = x^T dout, db = column sums of dout, dx = dout W^T
    gemm_parallel<T>(true, false, D, K, M, T(1), x, D, dout, K, T(0), dW, K);
    column_sums(db, dout, M, K);
    gemm_parallel<T>(false, true, M, D, K, T(1), dout, K, W, K, T(0), dx, D);
}

template void affine_forward<float>(float*, const float*, const float*, const float*, int64_t, int64_t, int64_t);
template void affine_forward<double>(double*, const double*, const double*, const double*, int64_t, int64_t, int64_t);
template void affine_backward<float>(float*, float*, float*, const float*, const float*, const float*, int64_t, int64_t,
                                     int64_t);
template void affine_backward<double>(double*, double*, double*, const double*, const double*, const double*, int64_t,
                                      int64_t, int64_t);

}  // namespace attncore
