#include "softmax.hpp"

#include "parallel.hpp"

namespace attncore {

namespace {

// Row bodies built for AVX-512, AVX2 and baseline x86-64, picked at load time.
template <class T>
ATTNCORE_SIMD_CLONES void softmax_forward_row(T* y, const T* x, int64_t C) {
    softmax_row(y, x, C);
}

// -log softmax(x)[label] for one row, the exponentials summed in double.
template <class T>
ATTNCORE_SIMD_CLONES double cross_entropy_row(const T* x, int64_t label, int64_t V) {
    const T m = row_max(x, V);
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t v = 0; v < V; ++v) s += double(fast_exp(x[v] - m));
    return std::log(s) - double(x[label] - m);
}

template <class T>
ATTNCORE_SIMD_CLONES void cross_entropy_backward_row(T* d, const T* x, int64_t label, T scale, int64_t V) {
    softmax_row(d, x, V);
    d[label] -= T(1);
    for (int64_t v = 0; v < V; ++v) d[v] *= scale;
}

}  // namespace

template <class T>
void softmax_forward(T* y, const T* x, int64_t R, int64_t C) {
    // y, x are (R,C)
    const int nt = get_num_threads();
#pragma omp parallel for num_threads(nt) schedule(dynamic, dynamic_chunk(R, nt)) if (should_parallelize(R * C))
    for (int64_t r = 0; r < R; ++r) softmax_forward_row(y + r * C, x + r * C, C);
}

template <class T>
void softmax_backward(T* dx, const T* y, const T* dy, int64_t R, int64_t C) {
    // dx, y, dy are (R,C)
    const int nt = get_num_threads();
#pragma omp parallel for num_threads(nt) schedule(dynamic, dynamic_chunk(R, nt)) if (should_parallelize(R * C))
    for (int64_t r = 0; r < R; ++r) softmax_backward_row(dx + r * C, y + r * C, dy + r * C, C);
}

template <class T>
double softmax_cross_entropy_forward(const T* xs, const int64_t* ts, int64_t ignore, int64_t R, int64_t V,
                                     int64_t* count) {
    // xs is (R,V), ts is (R)
    double loss = 0;
    int64_t valid = 0;
    const int nt = get_num_threads();
#pragma omp parallel for num_threads(nt) schedule(static) reduction(+ : loss, valid) if (should_parallelize(R * V))
    for (int64_t r = 0; r < R; ++r) {
        if (ts[r] == ignore) continue;
        loss += cross_entropy_row(xs + r * V, ts[r], V);
        valid += 1;
    }
    *count = valid;
    return loss;
}

template <class T>
void softmax_cross_entropy_backward(T* dx, const T* xs, const int64_t* ts, int64_t ignore, T scale, int64_t R,
                                    int64_t V) {
    // dx, xs are (R,V), ts is (R)
    const int nt = get_num_threads();
#pragma omp parallel for num_threads(nt) schedule(dynamic, dynamic_chunk(R, nt)) if (should_parallelize(R * V))
    for (int64_t r = 0; r < R; ++r) {
        T* d = dx + r * V;
        if (ts[r] == ignore) {
            for (int64_t v = 0; v < V; ++v) d[v] = 0;
            continue;
        }
        cross_entropy_backward_row(d, xs + r * V, ts[r], scale, V);
    }
}

template double softmax_cross_entropy_forward<float>(const float*, const int64_t*, int64_t, int64_t, int64_t, int64_t*);
template double softmax_cross_entropy_forward<double>(const double*, const int64_t*, int64_t, int64_t, int64_t,
                                                      int64_t*);
template void softmax_cross_entropy_backward<float>(float*, const float*, const int64_t*, int64_t, float, int64_t,
                                                    int64_t);
template void softmax_cross_entropy_backward<double>(double*, const double*, const int64_t*, int64_t, double, int64_t,
                                                     int64_t);
template void softmax_forward<float>(float*, const float*, int64_t, int64_t);
template void softmax_forward<double>(double*, const double*, int64_t, int64_t);
template void softmax_backward<float>(float*, const float*, const float*, int64_t, int64_t);
template void softmax_backward<double>(double*, const double*, const double*, int64_t, int64_t);

}  // namespace attncore
