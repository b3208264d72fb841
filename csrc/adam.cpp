#include "adam.hpp"

#include <cmath>

#include "parallel.hpp"

// Built with -ffp-contract=off (setup.py): no fused multiply-add may change a rounding.

namespace attncore {

template <class T, class S>
void adam_update(T* p, T* m, T* v, const T* g, T c1, T c2, double lr_t, int64_t n) {
    // p, m, v, g are (n)
    const int nt = get_num_threads();
    const S lr = static_cast<S>(lr_t);
    const T eps = static_cast<T>(1e-7);
#pragma omp parallel for simd num_threads(nt) \
    schedule(simd : dynamic, dynamic_chunk(n, nt, 16)) if (should_parallelize(n))
    for (int64_t i = 0; i < n; ++i) {
        const T gi = g[i];
        const T mi = m[i] + c1 * (gi - m[i]);
        const T vi = v[i] + c2 * (gi * gi - v[i]);
        m[i] = mi;
        v[i] = vi;
        const T denom = std::sqrt(vi) + eps;
        p[i] = static_cast<T>(static_cast<S>(p[i]) - lr * static_cast<S>(mi) / static_cast<S>(denom));
    }
}

template void adam_update<float, double>(float*, float*, float*, const float*, float, float, double, int64_t);
template void adam_update<float, float>(float*, float*, float*, const float*, float, float, double, int64_t);
template void adam_update<double, double>(double*, double*, double*, const double*, double, double, double, int64_t);

}  // namespace attncore
