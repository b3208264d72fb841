#include "gru_reset_after.hpp"

#include <algorithm>
#include <type_traits>

#include "blas.hpp"
#include "fused_step.hpp"
#include "recurrent_common.hpp"

namespace attncore {

namespace {

template <class T>
ATTNCORE_SIMD_CLONES void gru_ra_cell_row(T* g, T* h, const T* hw, const T* hp, const T* b, int64_t H) {
    row_ops::gru_ra_cell(g, h, g, hw, hp, b, H);  // g holds x @ Wx on entry (rows of 4H), the gates after
}

template <class T>
ATTNCORE_SIMD_CLONES void gru_ra_cell_backward_row(T* dax, T* dah, T* dh, const T* g, const T* hp, const T* dh_t,
                                                   int64_t H) {
    row_ops::gru_ra_cell_backward(dax, dah, dh, g, hp, dh_t, H);
}

}  // namespace

// Each thread takes a block of batch rows through all T steps (as the LSTM and the book's GRU).
template <class T>
void gru_reset_after_forward(T* hs, T* gates, const T* xs, const T* Wx, const T* Wh, const T* b, const T* h0, int64_t N,
                             int64_t Tn, int64_t D, int64_t H) {
    // hs is (N,T,H), gates (N,T,4H); xs @ Wx for all steps into each gates row's first 3H (the cell turns
    // them into z, r, n and hn in place)
    const int64_t G = 3 * H;
    if constexpr (std::is_same_v<T, float>) {
        if (fused_applies(N, Tn, H)) {
            gemm_parallel<T>(false, false, N * Tn, G, D, T(1), xs, D, Wx, G, T(0), gates, 4 * H);
            return fused_gru_ra_forward(hs, gates, Wh, b, h0, N, Tn, H);
        }
    }
    auto hw_buf = scratch<T>(N * G);  // h_prev @ Wh of the step
    T* hw = hw_buf.get();
#pragma omp parallel num_threads(row_threads(N, Tn* G*(D + H)))
    {
        const Range rows = block_of(N);
        const int64_t n0 = rows.begin, nr = rows.size();
        gemm<T>(false, false, nr * Tn, G, D, T(1), xs + n0 * Tn * D, D, Wx, G, T(0), gates + n0 * Tn * 4 * H, 4 * H);
        for (int64_t t = 0; nr > 0 && t < Tn; ++t) {
            const T* h_prev = t == 0 ? h0 : hs + (t - 1) * H;  // row n at h_prev + n * ld_h
            const int64_t ld_h = t == 0 ? H : Tn * H;
            gemm<T>(false, false, nr, G, H, T(1), h_prev + n0 * ld_h, ld_h, Wh, G, T(0), hw + n0 * G, G);
            for (int64_t n = n0; n < rows.end; ++n)
                gru_ra_cell_row(gates + (n * Tn + t) * 4 * H, hs + (n * Tn + t) * H, hw + n * G, h_prev + n * ld_h, b,
                                H);
        }
    }
}

template <class T>
void gru_reset_after_backward(T* dxs, T* dWx, T* dWh, T* db, T* dh0, const T* hs, const T* gates, const T* xs,
                              const T* Wx, const T* Wh, const T* h0, const T* dhs, const T* dh_next, int64_t N,
                              int64_t Tn, int64_t D, int64_t H) {
    // dax, dah (N,T,3H): the gradients of x @ Wx + bx and of h_prev @ Wh + bh; hprev (N,T,H)
    const int64_t G = 3 * H, R = N * Tn;
    auto dax_buf = scratch<T>(R * G), dah_buf = scratch<T>(R * G), hprev_buf = scratch<T>(R * H);
    T *dax = dax_buf.get(), *dah = dah_buf.get(), *hprev = hprev_buf.get();
    const int nt = row_threads(N, Tn * G * (D + 2 * H));
    bool fused = false;
    if constexpr (std::is_same_v<T, float>) {
        fused = fused_applies(N, Tn, H);
        if (fused) {
            if (N * H > 0) std::copy(dh_next, dh_next + N * H, dh0);
            fused_gru_ra_backward_steps(dax, dah, dh0, gates, h0, hs, dhs, Wh, N, Tn, H);
#pragma omp parallel num_threads(nt)
            previous_states(hprev, hs, h0, block_of(N), Tn, H);
        }
    }
    if (!fused) {
        BackwardWeights<T> w(Wh, H, G, N / nt);
#pragma omp parallel num_threads(nt)
        {
            w.transpose();
#pragma omp barrier
            const Range rows = block_of(N);
            const int64_t n0 = rows.begin, nr = rows.size();
            previous_states(hprev, hs, h0, rows, Tn, H);
            if (nr * H > 0) std::copy(dh_next + n0 * H, dh_next + rows.end * H, dh0 + n0 * H);  // carried backwards
            for (int64_t t = Tn - 1; nr > 0 && t >= 0; --t) {
                for (int64_t n = n0; n < rows.end; ++n) {
                    const int64_t i = n * Tn + t;
                    gru_ra_cell_backward_row(dax + i * G, dah + i * G, dh0 + n * H, gates + i * 4 * H, hprev + i * H,
                                             dhs + i * H, H);
                }
                w.dh(nr, 0, G, dah + (n0 * Tn + t) * G, Tn * G, T(1), dh0 + n0 * H);  // dh += dah_t @ Wh.T
            }
        }
    }
    gemm_parallel<T>(false, true, R, D, G, T(1), dax, G, Wx, G, T(0), dxs, D);
    gemm_parallel<T>(true, false, D, G, R, T(1), xs, D, dax, G, T(0), dWx, G);
    gemm_parallel<T>(true, false, H, G, R, T(1), hprev, H, dah, G, T(0), dWh, G);
    column_sums(db, dax, R, G);
    column_sums(db + G, dah, R, G);
}

#define ATTNCORE_GRU_RA(T)                                                                                          \
    template void gru_reset_after_forward<T>(T*, T*, const T*, const T*, const T*, const T*, const T*, int64_t,     \
                                             int64_t, int64_t, int64_t);                                            \
    template void gru_reset_after_backward<T>(T*, T*, T*, T*, T*, const T*, const T*, const T*, const T*, const T*, \
                                              const T*, const T*, const T*, int64_t, int64_t, int64_t, int64_t);
ATTNCORE_GRU_RA(float)
ATTNCORE_GRU_RA(double)
#undef ATTNCORE_GRU_RA

}  // namespace attncore
