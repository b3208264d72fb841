#include "lstm.hpp"

#include <algorithm>
#include <cstring>

#include "blas.hpp"
#include "recurrent_common.hpp"

namespace attncore {

namespace {

// One row of one step: a (4H) holds x@Wx + h@Wh on entry, the gates after.
template <class T>
ATTNCORE_SIMD_CLONES void forward_row(T* a, T* c, T* h, const T* c_prev, const T* b, int64_t H) {
#pragma omp simd
    for (int64_t k = 0; k < H; ++k) {
        const T f = fast_sigmoid(a[k] + b[k]);
        const T g = fast_tanh(a[H + k] + b[H + k]);
        const T i = fast_sigmoid(a[2 * H + k] + b[2 * H + k]);
        const T o = fast_sigmoid(a[3 * H + k] + b[3 * H + k]);
        a[k] = f;
        a[H + k] = g;
        a[2 * H + k] = i;
        a[3 * H + k] = o;
        c[k] = f * c_prev[k] + g * i;
        h[k] = o * fast_tanh(c[k]);
    }
}

// One row of one step backwards: dh, dc carry the state gradient in and out.
template <class T>
ATTNCORE_SIMD_CLONES void backward_row(T* da, T* dh, T* dc, const T* a, const T* c, const T* c_prev,
                                       const T* dh_t, int64_t H) {
#pragma omp simd
    for (int64_t k = 0; k < H; ++k) {
        const T f = a[k], g = a[H + k], i = a[2 * H + k], o = a[3 * H + k];
        const T dhk = dh_t[k] + dh[k];
        const T tc = fast_tanh(c[k]);
        const T ds = dc[k] + dhk * o * (T(1) - tc * tc);
        dc[k] = ds * f;
        da[k] = ds * c_prev[k] * f * (T(1) - f);
        da[H + k] = ds * i * (T(1) - g * g);
        da[2 * H + k] = ds * g * i * (T(1) - i);
        da[3 * H + k] = dhk * tc * o * (T(1) - o);
    }
}

// dWx (D,G), dWh (H,G), db (G) in one product: [x | h_prev | 1]^T dA, with
// rows r = n*T + t; dA is (N*T,G). One product with K = N*T instead of three
// passes over dA (two thin products and a column sum).
template <class T>
void weight_gradients(T* dWx, T* dWh, T* db, const T* xs, const T* hs, const T* h0, const T* dA, int64_t N,
                      int64_t Tn, int64_t D, int64_t H) {
    const int64_t G = 4 * H, L = D + H + 1, R = N * Tn;
    const int nt = get_num_threads();
    auto xh = scratch<T>(R * L);
#pragma omp parallel for num_threads(nt) schedule(static) if (R * L >= kMinParallelWork)
    for (int64_t r = 0; r < R; ++r) {
        const int64_t n = r / Tn, t = r % Tn;
        T* row = xh.get() + r * L;
        std::memcpy(row, xs + r * D, sizeof(T) * D);
        std::memcpy(row + D, t == 0 ? h0 + n * H : hs + (r - 1) * H, sizeof(T) * H);
        row[D + H] = T(1);
    }
    auto w = scratch<T>(L * G);
    gemm<T>(true, false, L, G, R, T(1), xh.get(), L, dA, G, T(0), w.get(), G);
    std::memcpy(dWx, w.get(), sizeof(T) * D * G);
    std::memcpy(dWh, w.get() + D * G, sizeof(T) * H * G);
    std::memcpy(db, w.get() + (D + H) * G, sizeof(T) * G);
}

}  // namespace

template <class T>
void lstm_forward(T* hs, T* gates, T* cs, const T* xs, const T* Wx, const T* Wh, const T* b, const T* h0,
                  const T* c0, int64_t N, int64_t Tn, int64_t D, int64_t H) {
    // hs, cs are (N,T,H), gates is (N,T,4H); xs is (N,T,D), h0, c0 are (N,H)
    const int64_t G = 4 * H;
    const int nt = get_num_threads();
    // Everything that does not depend on the previous step, in one product.
    gemm<T>(false, false, N * Tn, G, D, T(1), xs, D, Wx, G, T(0), gates, G);
    for (int64_t t = 0; t < Tn; ++t) {
        const T* h_prev = t == 0 ? h0 : hs + (t - 1) * H;
        const int64_t ld_h = t == 0 ? H : Tn * H;
        gemm<T>(false, false, N, G, H, T(1), h_prev, ld_h, Wh, G, T(1), gates + t * G, Tn * G);
#pragma omp parallel for num_threads(nt) schedule(static) if (N * G >= kMinParallelWork)
        for (int64_t n = 0; n < N; ++n) {
            const T* c_prev = t == 0 ? c0 + n * H : cs + (n * Tn + t - 1) * H;
            forward_row(gates + (n * Tn + t) * G, cs + (n * Tn + t) * H, hs + (n * Tn + t) * H, c_prev, b, H);
        }
    }
}

template <class T>
void lstm_inference_forward(T* hs, T* c, const T* xs, const T* Wx, const T* Wh, const T* b, const T* h0,
                            const T* c0, int64_t N, int64_t Tn, int64_t D, int64_t H) {
    // hs is (N,T,H), c is (N,H); xs is (N,T,D), h0, c0 are (N,H)
    const int64_t G = 4 * H;
    const int nt = get_num_threads();
    auto a_buf = scratch<T>(N * G);
    T* a = a_buf.get();
    std::copy(c0, c0 + N * H, c);
    for (int64_t t = 0; t < Tn; ++t) {
        const T* h_prev = t == 0 ? h0 : hs + (t - 1) * H;
        const int64_t ld_h = t == 0 ? H : Tn * H;
        gemm<T>(false, false, N, G, D, T(1), xs + t * D, Tn * D, Wx, G, T(0), a, G);
        gemm<T>(false, false, N, G, H, T(1), h_prev, ld_h, Wh, G, T(1), a, G);
#pragma omp parallel for num_threads(nt) schedule(static) if (N * G >= kMinParallelWork)
        for (int64_t n = 0; n < N; ++n)  // c is both the previous and the new cell state, element by element
            forward_row(a + n * G, c + n * H, hs + (n * Tn + t) * H, c + n * H, b, H);
    }
}

template <class T>
void lstm_backward(T* dxs, T* dWx, T* dWh, T* db, T* dh0, T* dc0, const T* hs, const T* gates, const T* cs,
                   const T* xs, const T* Wx, const T* Wh, const T* h0, const T* c0, const T* dhs,
                   const T* dh_next, const T* dc_next, int64_t N, int64_t Tn, int64_t D, int64_t H) {
    // dxs is (N,T,D), dWx (D,4H), dWh (H,4H), db (4H), dh0, dc0 (N,H); dhs is (N,T,H)
    const int64_t G = 4 * H;
    const int nt = get_num_threads();
    auto dA_buf = scratch<T>(N * Tn * G);  // every element is written by the step loop before it is read
    T* dA = dA_buf.get();
    std::copy(dh_next, dh_next + N * H, dh0);  // dh0 and dc0 carry the state gradient backwards
    std::copy(dc_next, dc_next + N * H, dc0);
    for (int64_t t = Tn - 1; t >= 0; --t) {
#pragma omp parallel for num_threads(nt) schedule(static) if (N * G >= kMinParallelWork)
        for (int64_t n = 0; n < N; ++n) {
            const T* c_prev = t == 0 ? c0 + n * H : cs + (n * Tn + t - 1) * H;
            backward_row(dA + (n * Tn + t) * G, dh0 + n * H, dc0 + n * H, gates + (n * Tn + t) * G,
                         cs + (n * Tn + t) * H, c_prev, dhs + (n * Tn + t) * H, H);
        }
        gemm<T>(false, true, N, H, G, T(1), dA + t * G, Tn * G, Wh, G, T(0), dh0, H);
    }
    // Weight gradients and dxs for all steps at once.
    weight_gradients(dWx, dWh, db, xs, hs, h0, dA, N, Tn, D, H);
    gemm<T>(false, true, N * Tn, D, G, T(1), dA, G, Wx, G, T(0), dxs, D);
}

template void lstm_forward<float>(float*, float*, float*, const float*, const float*, const float*, const float*,
                                  const float*, const float*, int64_t, int64_t, int64_t, int64_t);
template void lstm_forward<double>(double*, double*, double*, const double*, const double*, const double*,
                                   const double*, const double*, const double*, int64_t, int64_t, int64_t,
                                   int64_t);
template void lstm_inference_forward<float>(float*, float*, const float*, const float*, const float*, const float*,
                                            const float*, const float*, int64_t, int64_t, int64_t, int64_t);
template void lstm_inference_forward<double>(double*, double*, const double*, const double*, const double*,
                                             const double*, const double*, const double*, int64_t, int64_t, int64_t,
                                             int64_t);
template void lstm_backward<float>(float*, float*, float*, float*, float*, float*, const float*, const float*,
                                   const float*, const float*, const float*, const float*, const float*,
                                   const float*, const float*, const float*, const float*, int64_t, int64_t,
                                   int64_t, int64_t);
template void lstm_backward<double>(double*, double*, double*, double*, double*, double*, const double*,
                                    const double*, const double*, const double*, const double*, const double*,
                                    const double*, const double*, const double*, const double*, const double*,
                                    int64_t, int64_t, int64_t, int64_t);

}  // namespace attncore
