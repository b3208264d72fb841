#include "softmax.hpp"

#include "parallel.hpp"

namespace attncore {

template <class T>
void softmax_forward(T* y, const T* x, int64_t R, int64_t C) {
    // y, x are (R,C)
    const int nt = get_num_threads();
#pragma omp parallel for num_threads(nt) schedule(static) if (R > 1)
    for (int64_t r = 0; r < R; ++r) softmax_row(y + r * C, x + r * C, C);
}

template <class T>
void softmax_backward(T* dx, const T* y, const T* dy, int64_t R, int64_t C) {
    // dx, y, dy are (R,C)
    const int nt = get_num_threads();
#pragma omp parallel for num_threads(nt) schedule(static) if (R > 1)
    for (int64_t r = 0; r < R; ++r) softmax_backward_row(dx + r * C, y + r * C, dy + r * C, C);
}

template <class T>
double softmax_cross_entropy_forward(const T* xs, const int64_t* ts, int64_t ignore, int64_t R, int64_t V,
                                     int64_t* count) {
    // xs is (R,V), ts is (R)
    double loss = 0;
    int64_t valid = 0;
    const int nt = get_num_threads();
#pragma omp parallel for num_threads(nt) schedule(static) reduction(+ : loss, valid) if (R * V >= (1 << 14))
    for (int64_t r = 0; r < R; ++r) {
        if (ts[r] == ignore) continue;
        const T* x = xs + r * V;
        T m = x[0];
        for (int64_t v = 1; v < V; ++v) m = x[v] > m ? x[v] : m;
        double s = 0;
        for (int64_t v = 0; v < V; ++v) s += std::exp(double(x[v] - m));
        loss += std::log(s) - double(x[ts[r]] - m);
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
#pragma omp parallel for num_threads(nt) schedule(static) if (R * V >= (1 << 14))
    for (int64_t r = 0; r < R; ++r) {
        T* d = dx + r * V;
        if (ts[r] == ignore) {
            for (int64_t v = 0; v < V; ++v) d[v] = 0;
            continue;
        }
        softmax_row(d, xs + r * V, V);
        d[ts[r]] -= T(1);
        for (int64_t v = 0; v < V; ++v) d[v] *= scale;
    }
}

template double softmax_cross_entropy_forward<float>(const float*, const int64_t*, int64_t, int64_t, int64_t,
                                                     int64_t*);
template double softmax_cross_entropy_forward<double>(const double*, const int64_t*, int64_t, int64_t, int64_t,
                                                      int64_t*);
template void softmax_cross_entropy_backward<float>(float*, const float*, const int64_t*, int64_t, float, int64_t,
                                                    int64_t);
template void softmax_cross_entropy_backward<double>(double*, const double*, const int64_t*, int64_t, double,
                                                     int64_t, int64_t);
template void softmax_forward<float>(float*, const float*, int64_t, int64_t);
template void softmax_forward<double>(double*, const double*, int64_t, int64_t);
template void softmax_backward<float>(float*, const float*, const float*, int64_t, int64_t);
template void softmax_backward<double>(double*, const double*, const double*, int64_t, int64_t);

}  // namespace attncore
