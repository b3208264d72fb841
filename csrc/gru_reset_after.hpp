// The reset-after GRU (Keras's GRU(reset_after=True), PyTorch's nn.GRU) over a
// whole sequence, float32, on the fused step (fused_step.hpp); the NumPy loop
// of attncore/reset_after.py is the reference and the path everywhere else.
// Legend: N batch, T time, D input size, H hidden size, G = 3H.
//
// Gate order on the 3H axis: z, r, n; b (2,3H) is the input bias, then the recurrent one.
//   z  = sigmoid(x @ Wx_z + bx_z + h_prev @ Wh_z + bh_z)
//   r  = sigmoid(x @ Wx_r + bx_r + h_prev @ Wh_r + bh_r)
//   n  = tanh(x @ Wx_n + bx_n + r * (h_prev @ Wh_n + bh_n))
//   h  = z * h_prev + (1 - z) * n
#pragma once

#include <cstdint>

namespace attncore {

// Whether the functions below run a call of this size (the fused step's condition).
bool gru_reset_after_applies(int64_t N, int64_t Tn, int64_t H);

// Outputs: hs (N,T,H). Saved: gates (N,T,4H) holding z, r, n and h_prev @ Wh_n + bh_n. Inputs: xs (N,T,D),
// Wx (D,3H), Wh (H,3H), b (2,3H), h0 (N,H). Callers check gru_reset_after_applies first.
void gru_reset_after_forward(float* hs, float* gates, const float* xs, const float* Wx, const float* Wh,
                             const float* b, const float* h0, int64_t N, int64_t Tn, int64_t D, int64_t H);

// Outputs: dxs (N,T,D), dWx (D,3H), dWh (H,3H), db (2,3H), dh0 (N,H). Saved: hs, gates. Inputs: xs, Wx, Wh,
// h0, dhs (N,T,H), dh_next (N,H). The time loop on the fused step, then one BLAS product each for dxs, dWx
// and dWh over all N*T rows.
void gru_reset_after_backward(float* dxs, float* dWx, float* dWh, float* db, float* dh0, const float* hs,
                              const float* gates, const float* xs, const float* Wx, const float* Wh, const float* h0,
                              const float* dhs, const float* dh_next, int64_t N, int64_t Tn, int64_t D, int64_t H);

}  // namespace attncore
