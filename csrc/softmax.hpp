// Row-wise softmax over the last axis.
// Legend: R rows, C columns (classes).
#pragma once

#include <cmath>
#include <cstdint>

#include "fastmath.hpp"

namespace attncore {

// The largest of x[0..n), n >= 1, in vector lanes (the plain loop is a scalar
// dependency chain: 60% of a 3,079-class cross-entropy row). Where the row holds
// a NaN the result may or may not be NaN; the callers subtract it and take exp,
// so such a row ends NaN either way, as NumPy's.
template <class T>
inline T row_max(const T* x, int64_t n) {
    T m = x[0];
#pragma omp simd reduction(max : m)
    for (int64_t i = 1; i < n; ++i) m = x[i] > m ? x[i] : m;
    return m;
}

// y = softmax(x) for one row of length C; y may alias x. Subtracting the row
// maximum keeps exp() finite for logits of any size; fast_exp is within a few
// ulp of libm's and vectorizes.
template <class T>
inline void softmax_row(T* y, const T* x, int64_t C) {
    const T m = row_max(x, C);
    T s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t c = 0; c < C; ++c) {
        y[c] = fast_exp(x[c] - m);
        s += y[c];
    }
    const T inv = T(1) / s;
    for (int64_t c = 0; c < C; ++c) y[c] *= inv;
}

// dx = y * (dy - sum(y * dy)) for one row; dx may alias dy.
template <class T>
inline void softmax_backward_row(T* dx, const T* y, const T* dy, int64_t C) {
    T s = 0;
    for (int64_t c = 0; c < C; ++c) s += y[c] * dy[c];
    // y*dy - y*s as NumPy's reference computes it (y*(dy - s) is equal in exact arithmetic,
    // but gives -inf where NumPy gives inf - inf = NaN)
    for (int64_t c = 0; c < C; ++c) dx[c] = y[c] * dy[c] - y[c] * s;
}

// y, x are (R,C)
template <class T>
void softmax_forward(T* y, const T* x, int64_t R, int64_t C);

// dx, y, dy are (R,C)
template <class T>
void softmax_backward(T* dx, const T* y, const T* dy, int64_t R, int64_t C);

// Softmax + cross-entropy over rows, as TimeSoftmaxWithLoss uses it.
// xs is (R,V), ts is (R); rows whose label is `ignore` are skipped. Returns
// the sum over the other rows of -log softmax(xs[r])[ts[r]] (computed as a
// log-sum-exp, finite for any logits) and writes their number to *count.
template <class T>
double softmax_cross_entropy_forward(const T* xs, const int64_t* ts, int64_t ignore, int64_t R, int64_t V,
                                     int64_t* count);

// dx is (R,V): (softmax(xs[r]) - onehot(ts[r])) * scale, zero on ignored rows.
template <class T>
void softmax_cross_entropy_backward(T* dx, const T* xs, const int64_t* ts, int64_t ignore, T scale, int64_t R,
                                    int64_t V);

}  // namespace attncore
