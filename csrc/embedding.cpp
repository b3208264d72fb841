#include "embedding.hpp"

#include <cstring>

#include "vector.hpp"

namespace attncore {

template <class T>
void embedding_forward(T* out, const T* W, const int64_t* ids, int64_t R, int64_t D) {
    // out is (R,D); W is (V,D), ids is (R)
    const int nt = get_num_threads();
    // A copy: waking a second thread costs more than copying a few MB serially.
#pragma omp parallel for num_threads(nt) schedule(dynamic, dynamic_chunk(R, nt)) if (should_parallelize(R * D))
    for (int64_t r = 0; r < R; ++r) copy_n(out + r * D, W + ids[r] * D, D);
}

template <class T>
void embedding_backward(T* dW, const int64_t* ids, const T* dout, int64_t R, int64_t V, int64_t D) {
    // dW is (V,D); ids is (R), dout is (R,D)
    const int nt = get_num_threads();
    const int64_t parts = (should_parallelize(R * D) && V > 1) ? nt : 1;
#pragma omp parallel for num_threads(nt) schedule(static) if (parts > 1)
    for (int64_t p = 0; p < parts; ++p) {
        const int64_t v0 = V * p / parts, v1 = V * (p + 1) / parts;
        std::memset(dW + v0 * D, 0, sizeof(T) * (v1 - v0) * D);
        for (int64_t r = 0; r < R; ++r) {
            const int64_t v = ids[r];
            if (v < v0 || v >= v1) continue;
            T* row = dW + v * D;
            const T* src = dout + r * D;
#pragma omp simd
            for (int64_t k = 0; k < D; ++k) row[k] += src[k];
        }
    }
}

template void embedding_forward<float>(float*, const float*, const int64_t*, int64_t, int64_t);
template void embedding_forward<double>(double*, const double*, const int64_t*, int64_t, int64_t);
template void embedding_backward<float>(float*, const int64_t*, const float*, int64_t, int64_t, int64_t);
template void embedding_backward<double>(double*, const int64_t*, const double*, int64_t, int64_t, int64_t);

}  // namespace attncore
