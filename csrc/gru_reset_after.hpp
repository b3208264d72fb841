// The reset-after GRU (Keras's GRU(reset_after=True), PyTorch's nn.GRU) over a
// whole sequence: the time loop and gates in C++, the products on the fused
// step (fused_step.hpp: float32 on a CPU that has it, calls of its size) or the
// BLAS. attncore/_numpy_kernels.py's loop is the reference.
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

// Outputs: hs (N,T,H). Saved: gates (N,T,4H) holding z, r, n and h_prev @ Wh_n + bh_n. Inputs: xs (N,T,D),
// Wx (D,3H), Wh (H,3H), b (2,3H), h0 (N,H).
template <class T>
void gru_reset_after_forward(T* hs, T* gates, const T* xs, const T* Wx, const T* Wh, const T* b, const T* h0, int64_t N,
                             int64_t Tn, int64_t D, int64_t H);

// Outputs: dxs (N,T,D), dWx (D,3H), dWh (H,3H), db (2,3H), dh0 (N,H). Saved: hs, gates. Inputs: xs, Wx, Wh,
// h0, dhs (N,T,H), dh_next (N,H). The time loop, then one product each for dxs, dWx and dWh over all N*T rows.
template <class T>
void gru_reset_after_backward(T* dxs, T* dWx, T* dWh, T* db, T* dh0, const T* hs, const T* gates, const T* xs,
                              const T* Wx, const T* Wh, const T* h0, const T* dhs, const T* dh_next, int64_t N,
                              int64_t Tn, int64_t D, int64_t H);

}  // namespace attncore
