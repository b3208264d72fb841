#include "gru.hpp"

#include <algorithm>
#include <vector>

#include "blas.hpp"
#include "recurrent_common.hpp"

namespace attncore {

template <class T>
void gru_forward(T* hs, T* gates, const T* xs, const T* Wx, const T* Wh, const T* b, const T* h0, int64_t N,
                 int64_t Tn, int64_t D, int64_t H) {
    // hs is (N,T,H), gates is (N,T,3H); xs is (N,T,D), h0 is (N,H)
    const int64_t G = 3 * H;
    const int nt = get_num_threads();
    std::vector<T> zr(static_cast<size_t>(N * 2 * H));  // h_prev @ Wh[:, :2H]
    std::vector<T> rh(static_cast<size_t>(N * H));      // r * h_prev, then (r * h_prev) @ Wh[:, 2H:]
    std::vector<T> hh(static_cast<size_t>(N * H));
    gemm<T>(false, false, N * Tn, G, D, T(1), xs, D, Wx, G, T(0), gates, G);
    for (int64_t t = 0; t < Tn; ++t) {
        const T* h_prev = t == 0 ? h0 : hs + (t - 1) * H;
        const int64_t ld_h = t == 0 ? H : Tn * H;
        gemm<T>(false, false, N, 2 * H, H, T(1), h_prev, ld_h, Wh, G, T(0), zr.data(), 2 * H);
#pragma omp parallel for num_threads(nt) schedule(static) if (N * G >= kMinParallelWork)
        for (int64_t n = 0; n < N; ++n) {
            T* a = gates + (n * Tn + t) * G;
            const T* hp = h_prev + n * ld_h;
            const T* zr_n = zr.data() + n * 2 * H;
#pragma omp simd
            for (int64_t k = 0; k < H; ++k) {
                a[k] = fast_sigmoid(a[k] + zr_n[k] + b[k]);
                a[H + k] = fast_sigmoid(a[H + k] + zr_n[H + k] + b[H + k]);
                rh[n * H + k] = a[H + k] * hp[k];
            }
        }
        gemm<T>(false, false, N, H, H, T(1), rh.data(), H, Wh + 2 * H, G, T(0), hh.data(), H);
#pragma omp parallel for num_threads(nt) schedule(static) if (N * G >= kMinParallelWork)
        for (int64_t n = 0; n < N; ++n) {
            T* a = gates + (n * Tn + t) * G;
            const T* hp = h_prev + n * ld_h;
            T* h = hs + (n * Tn + t) * H;
#pragma omp simd
            for (int64_t k = 0; k < H; ++k) {
                const T cand = fast_tanh(a[2 * H + k] + hh[n * H + k] + b[2 * H + k]);
                a[2 * H + k] = cand;
                h[k] = (T(1) - a[k]) * hp[k] + a[k] * cand;
            }
        }
    }
}

template <class T>
void gru_backward(T* dxs, T* dWx, T* dWh, T* db, T* dh0, const T* hs, const T* gates, const T* xs, const T* Wx,
                  const T* Wh, const T* h0, const T* dhs, const T* dh_next, int64_t N, int64_t Tn, int64_t D,
                  int64_t H) {
    // dxs is (N,T,D), dWx (D,3H), dWh (H,3H), db (3H), dh0 (N,H); dhs is (N,T,H)
    const int64_t G = 3 * H;
    const int nt = get_num_threads();
    std::vector<T> dA(static_cast<size_t>(N * Tn * G));
    std::vector<T> hprev(static_cast<size_t>(N * Tn * H));
    std::vector<T> rh(static_cast<size_t>(N * Tn * H));
    std::vector<T> dhr(static_cast<size_t>(N * H));
    previous_states(hprev.data(), hs, h0, N, Tn, H);
    std::copy(dh_next, dh_next + N * H, dh0);  // dh0 carries the state gradient backwards
    for (int64_t t = Tn - 1; t >= 0; --t) {
#pragma omp parallel for num_threads(nt) schedule(static) if (N * G >= kMinParallelWork)
        for (int64_t n = 0; n < N; ++n) {
            const T* a = gates + (n * Tn + t) * G;
            const T* hp = hprev.data() + (n * Tn + t) * H;
            const T* dh_t = dhs + (n * Tn + t) * H;
            T* dh = dh0 + n * H;
            T* da = dA.data() + (n * Tn + t) * G;
#pragma omp simd
            for (int64_t k = 0; k < H; ++k) {
                const T z = a[k], cand = a[2 * H + k];
                const T dhk = dh_t[k] + dh[k];
                da[k] = dhk * (cand - hp[k]) * z * (T(1) - z);
                da[2 * H + k] = dhk * z * (T(1) - cand * cand);
                dh[k] = dhk * (T(1) - z);  // the direct path; the gate paths are added below
            }
        }
        // d(r * h_prev) = d h~_pre @ Wh[:, 2H:].T
        gemm<T>(false, true, N, H, H, T(1), dA.data() + t * G + 2 * H, Tn * G, Wh + 2 * H, G, T(0), dhr.data(), H);
#pragma omp parallel for num_threads(nt) schedule(static) if (N * G >= kMinParallelWork)
        for (int64_t n = 0; n < N; ++n) {
            const T* a = gates + (n * Tn + t) * G;
            const T* hp = hprev.data() + (n * Tn + t) * H;
            T* dh = dh0 + n * H;
            T* da = dA.data() + (n * Tn + t) * G;
            T* rh_t = rh.data() + (n * Tn + t) * H;
#pragma omp simd
            for (int64_t k = 0; k < H; ++k) {
                const T r = a[H + k], d = dhr[n * H + k];
                dh[k] += r * d;
                da[H + k] = d * hp[k] * r * (T(1) - r);
                rh_t[k] = r * hp[k];
            }
        }
        gemm<T>(false, true, N, H, 2 * H, T(1), dA.data() + t * G, Tn * G, Wh, G, T(1), dh0, H);
    }
    gemm<T>(true, false, D, G, N * Tn, T(1), xs, D, dA.data(), G, T(0), dWx, G);
    gemm<T>(true, false, H, 2 * H, N * Tn, T(1), hprev.data(), H, dA.data(), G, T(0), dWh, G);
    gemm<T>(true, false, H, H, N * Tn, T(1), rh.data(), H, dA.data() + 2 * H, G, T(0), dWh + 2 * H, G);
    column_sums(db, dA.data(), N * Tn, G);
    gemm<T>(false, true, N * Tn, D, G, T(1), dA.data(), G, Wx, G, T(0), dxs, D);
}

template void gru_forward<float>(float*, float*, const float*, const float*, const float*, const float*,
                                 const float*, int64_t, int64_t, int64_t, int64_t);
template void gru_forward<double>(double*, double*, const double*, const double*, const double*, const double*,
                                  const double*, int64_t, int64_t, int64_t, int64_t);
template void gru_backward<float>(float*, float*, float*, float*, float*, const float*, const float*, const float*,
                                  const float*, const float*, const float*, const float*, const float*, int64_t,
                                  int64_t, int64_t, int64_t);
template void gru_backward<double>(double*, double*, double*, double*, double*, const double*, const double*,
                                   const double*, const double*, const double*, const double*, const double*,
                                   const double*, int64_t, int64_t, int64_t, int64_t);

}  // namespace attncore
