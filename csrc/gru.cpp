#include "gru.hpp"

#include <algorithm>
#include <type_traits>

#include "blas.hpp"
#include "fused_step.hpp"
#include "recurrent_common.hpp"

namespace attncore {

namespace {

// dWx (D,3H), dWh (H,3H), db (3H): sums over all R = N*T rows, products split by output between the threads.
template <class T>
void gru_weight_gradients(T* dWx, T* dWh, T* db, const T* xs, const T* hprev, const T* rh, const T* dA, int64_t R,
                          int64_t D, int64_t H) {
    const int64_t G = 3 * H;
    gemm_parallel<T>(true, false, D, G, R, T(1), xs, D, dA, G, T(0), dWx, G);
    gemm_parallel<T>(true, false, H, 2 * H, R, T(1), hprev, H, dA, G, T(0), dWh, G);
    gemm_parallel<T>(true, false, H, H, R, T(1), rh, H, dA + 2 * H, G, T(0), dWh + 2 * H, G);
    column_sums(db, dA, R, G);
}

}  // namespace

// Like the LSTM: each thread takes a block of batch rows through all T steps.
template <class T>
void gru_forward(T* hs, T* gates, const T* xs, const T* Wx, const T* Wh, const T* b, const T* h0, int64_t N, int64_t Tn,
                 int64_t D, int64_t H) {
    // hs is (N,T,H), gates is (N,T,3H); xs is (N,T,D), h0 is (N,H)
    const int64_t G = 3 * H;
    if constexpr (std::is_same_v<T, float>) {
        if (fused_applies(N, Tn, H)) {  // x @ Wx for every step in one product, then the fused time loop
            gemm_parallel<T>(false, false, N * Tn, G, D, T(1), xs, D, Wx, G, T(0), gates, G);
            return fused_gru_forward_steps(hs, gates, Wh, b, h0, N, Tn, H);
        }
    }
    auto zr_buf = scratch<T>(N * 2 * H);  // h_prev @ Wh[:, :2H]
    auto rh_buf = scratch<T>(N * H);      // r * h_prev
    auto hh_buf = scratch<T>(N * H);      // (r * h_prev) @ Wh[:, 2H:]
    T *zr = zr_buf.get(), *rh = rh_buf.get(), *hh = hh_buf.get();
#pragma omp parallel num_threads(row_threads(N, Tn* G*(D + H)))
    {
        const Range rows = block_of(N);
        const int64_t n0 = rows.begin, nr = rows.size();
        gemm<T>(false, false, nr * Tn, G, D, T(1), xs + n0 * Tn * D, D, Wx, G, T(0), gates + n0 * Tn * G, G);
        for (int64_t t = 0; nr > 0 && t < Tn; ++t) {
            const T* h_prev = t == 0 ? h0 : hs + (t - 1) * H;  // row n at h_prev + n * ld_h
            const int64_t ld_h = t == 0 ? H : Tn * H;
            gemm<T>(false, false, nr, 2 * H, H, T(1), h_prev + n0 * ld_h, ld_h, Wh, G, T(0), zr + n0 * 2 * H, 2 * H);
            for (int64_t n = n0; n < rows.end; ++n)
                gru_gates_row(gates + (n * Tn + t) * G, rh + n * H, zr + n * 2 * H, h_prev + n * ld_h, b, H);
            gemm<T>(false, false, nr, H, H, T(1), rh + n0 * H, H, Wh + 2 * H, G, T(0), hh + n0 * H, H);
            for (int64_t n = n0; n < rows.end; ++n)
                gru_candidate_row(gates + (n * Tn + t) * G, hs + (n * Tn + t) * H, hh + n * H, h_prev + n * ld_h, b, H);
        }
    }
}

template <class T>
void gru_backward(T* dxs, T* dWx, T* dWh, T* db, T* dh0, const T* hs, const T* gates, const T* xs, const T* Wx,
                  const T* Wh, const T* h0, const T* dhs, const T* dh_next, int64_t N, int64_t Tn, int64_t D,
                  int64_t H) {
    // dxs is (N,T,D), dWx (D,3H), dWh (H,3H), db (3H), dh0 (N,H); dhs is (N,T,H)
    const int64_t G = 3 * H;
    auto dA_buf = scratch<T>(N * Tn * G);
    auto hprev_buf = scratch<T>(N * Tn * H);
    auto rh_buf = scratch<T>(N * Tn * H);
    auto dhr_buf = scratch<T>(N * H);
    T *dA = dA_buf.get(), *hprev = hprev_buf.get(), *rh = rh_buf.get(), *dhr = dhr_buf.get();
    const int nt = row_threads(N, Tn * G * (D + 2 * H));
    if constexpr (std::is_same_v<T, float>) {
        if (fused_applies(N, Tn, H)) {  // the fused time loop, then dxs and the weight gradients as below
#pragma omp parallel num_threads(nt)
            previous_states(hprev, hs, h0, block_of(N), Tn, H);
            if (N * H > 0) std::copy(dh_next, dh_next + N * H, dh0);
            fused_gru_backward_steps(dA, dh0, rh, gates, hprev, dhs, Wh, N, Tn, H);
            gemm_parallel<T>(false, true, N * Tn, D, G, T(1), dA, G, Wx, G, T(0), dxs, D);
            gru_weight_gradients(dWx, dWh, db, xs, hprev, rh, dA, N * Tn, D, H);
            return;
        }
    }
    BackwardWeights<T> w(Wh, H, G, N / nt);  // columns [0, 2H) of Wh for z and r, [2H, 3H) for h~
#pragma omp parallel num_threads(nt)
    {
        w.transpose();
#pragma omp barrier
        const Range rows = block_of(N);
        const int64_t n0 = rows.begin, nr = rows.size();
        previous_states(hprev, hs, h0, rows, Tn, H);
        if (nr * H > 0) std::copy(dh_next + n0 * H, dh_next + rows.end * H, dh0 + n0 * H);  // carried backwards
        for (int64_t t = Tn - 1; nr > 0 && t >= 0; --t) {
            for (int64_t n = n0; n < rows.end; ++n)  // the direct path; the gate paths are added below
                gru_backward_direct_row(dA + (n * Tn + t) * G, dh0 + n * H, gates + (n * Tn + t) * G,
                                        hprev + (n * Tn + t) * H, dhs + (n * Tn + t) * H, H);
            // d(r * h_prev) = d h~_pre @ Wh[:, 2H:].T
            w.dh(nr, 2 * H, H, dA + (n0 * Tn + t) * G + 2 * H, Tn * G, T(0), dhr + n0 * H);
            for (int64_t n = n0; n < rows.end; ++n)
                gru_backward_reset_row(dA + (n * Tn + t) * G, dh0 + n * H, rh + (n * Tn + t) * H,
                                       gates + (n * Tn + t) * G, hprev + (n * Tn + t) * H, dhr + n * H, H);
            w.dh(nr, 0, 2 * H, dA + (n0 * Tn + t) * G, Tn * G, T(1), dh0 + n0 * H);
        }
        gemm<T>(false, true, nr * Tn, D, G, T(1), dA + n0 * Tn * G, G, Wx, G, T(0), dxs + n0 * Tn * D, D);
    }
    gru_weight_gradients(dWx, dWh, db, xs, hprev, rh, dA, N * Tn, D, H);
}

template void gru_forward<float>(float*, float*, const float*, const float*, const float*, const float*, const float*,
                                 int64_t, int64_t, int64_t, int64_t);
template void gru_forward<double>(double*, double*, const double*, const double*, const double*, const double*,
                                  const double*, int64_t, int64_t, int64_t, int64_t);
template void gru_backward<float>(float*, float*, float*, float*, float*, const float*, const float*, const float*,
                                  const float*, const float*, const float*, const float*, const float*, int64_t,
                                  int64_t, int64_t, int64_t);
template void gru_backward<double>(double*, double*, double*, double*, double*, const double*, const double*,
                                   const double*, const double*, const double*, const double*, const double*,
                                   const double*, int64_t, int64_t, int64_t, int64_t);

}  // namespace attncore
