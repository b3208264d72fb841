#include "gru_reset_after.hpp"

#include <algorithm>

#include "blas.hpp"
#include "fused_step.hpp"
#include "recurrent_common.hpp"

namespace attncore {

bool gru_reset_after_applies(int64_t N, int64_t Tn, int64_t H) { return fused_applies(N, Tn, H); }

void gru_reset_after_forward(float* hs, float* gates, const float* xs, const float* Wx, const float* Wh,
                             const float* b, const float* h0, int64_t N, int64_t Tn, int64_t D, int64_t H) {
    // hs is (N,T,H), gates (N,T,4H); xs @ Wx for all steps in one product, into each gates row's first 3H
    // (no scratch: the cell turns them into z, r, n and hn in place)
    const int64_t G = 3 * H;
    gemm_parallel<float>(false, false, N * Tn, G, D, 1.0f, xs, D, Wx, G, 0.0f, gates, 4 * H);
    fused_gru_ra_forward(hs, gates, Wh, b, h0, N, Tn, H);
}

void gru_reset_after_backward(float* dxs, float* dWx, float* dWh, float* db, float* dh0, const float* hs,
                              const float* gates, const float* xs, const float* Wx, const float* Wh, const float* h0,
                              const float* dhs, const float* dh_next, int64_t N, int64_t Tn, int64_t D, int64_t H) {
    // dax, dah (N,T,3H): the gradients of x @ Wx + bx and of h_prev @ Wh + bh; hprev (N,T,H)
    const int64_t G = 3 * H, R = N * Tn;
    auto dax = scratch<float>(R * G), dah = scratch<float>(R * G), hprev = scratch<float>(R * H);
    std::copy(dh_next, dh_next + N * H, dh0);
    fused_gru_ra_backward_steps(dax.get(), dah.get(), dh0, gates, h0, hs, dhs, Wh, N, Tn, H);
#pragma omp parallel num_threads(row_threads(N, Tn * H))
    previous_states(hprev.get(), hs, h0, block_of(N), Tn, H);
    gemm_parallel<float>(false, true, R, D, G, 1.0f, dax.get(), G, Wx, G, 0.0f, dxs, D);
    gemm_parallel<float>(true, false, D, G, R, 1.0f, xs, D, dax.get(), G, 0.0f, dWx, G);
    gemm_parallel<float>(true, false, H, G, R, 1.0f, hprev.get(), H, dah.get(), G, 0.0f, dWh, G);
    column_sums(db, dax.get(), R, G);
    column_sums(db + G, dah.get(), R, G);
}

}  // namespace attncore
