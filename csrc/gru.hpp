// GRU over a whole sequence: the time loop and gates fused in C++, the matrix
// products in BLAS.
// Legend: N batch, T time, D input size, H hidden size.
//
// Gate order on the 3H axis: z, r, h~ (update, reset, candidate).
//   z  = sigmoid(x @ Wx[:, :H]   + h_prev @ Wh[:, :H]         + b[:H])
//   r  = sigmoid(x @ Wx[:, H:2H] + h_prev @ Wh[:, H:2H]       + b[H:2H])
//   h~ = tanh(   x @ Wx[:, 2H:]  + (r * h_prev) @ Wh[:, 2H:]  + b[2H:])
//   h  = (1 - z) * h_prev + z * h~
#pragma once

#include <cstdint>

namespace attncore {

// Outputs: hs (N,T,H). Saved: gates (N,T,3H) holding z, r, h~. Inputs: xs
// (N,T,D), Wx (D,3H), Wh (H,3H), b (3H), h0 (N,H).
template <class T>
void gru_forward(T* hs, T* gates, const T* xs, const T* Wx, const T* Wh, const T* b, const T* h0, int64_t N, int64_t Tn,
                 int64_t D, int64_t H);

// Outputs: dxs (N,T,D), dWx (D,3H), dWh (H,3H), db (3H), dh0 (N,H). Saved: hs,
// gates. Inputs: xs, Wx, Wh, h0, dhs (N,T,H), dh_next (N,H).
template <class T>
void gru_backward(T* dxs, T* dWx, T* dWh, T* db, T* dh0, const T* hs, const T* gates, const T* xs, const T* Wx,
                  const T* Wh, const T* h0, const T* dhs, const T* dh_next, int64_t N, int64_t Tn, int64_t D,
                  int64_t H);

}  // namespace attncore
