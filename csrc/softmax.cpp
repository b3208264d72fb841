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

template void softmax_forward<float>(float*, const float*, int64_t, int64_t);
template void softmax_forward<double>(double*, const double*, int64_t, int64_t);
template void softmax_backward<float>(float*, const float*, const float*, int64_t, int64_t);
template void softmax_backward<double>(double*, const double*, const double*, int64_t, int64_t);

}  // namespace attncore
