// LSTM over a whole sequence: the time loop, the gate nonlinearities and the
// state updates fused in C++, the matrix products in BLAS.
// Legend: N batch, T time, D input size, H hidden size.
//
// Gate order on the 4H axis: f, g, i, o (forget, candidate, input, output).
//   A = x @ Wx + h_prev @ Wh + b
//   f = sigmoid(A[:H]), g = tanh(A[H:2H]), i = sigmoid(A[2H:3H]), o = sigmoid(A[3H:])
//   c = f * c_prev + g * i,  h = o * tanh(c)
#pragma once

#include <cstdint>

namespace attncore {

// Outputs: hs (N,T,H). Saved for backward: gates (N,T,4H) after the
// nonlinearities, cs (N,T,H) the cell states. Inputs: xs (N,T,D), Wx (D,4H),
// Wh (H,4H), b (4H), h0 (N,H), c0 (N,H).
template <class T>
void lstm_forward(T* hs, T* gates, T* cs, const T* xs, const T* Wx, const T* Wh, const T* b, const T* h0, const T* c0,
                  int64_t N, int64_t Tn, int64_t D, int64_t H);

// Forward for decoding: outputs hs (N,T,H) and c (N,H), the last cell state;
// nothing is saved for backward, so the work memory is one (N,4H) buffer
// instead of gates and cell states for every step.
template <class T>
void lstm_inference_forward(T* hs, T* c, const T* xs, const T* Wx, const T* Wh, const T* b, const T* h0, const T* c0,
                            int64_t N, int64_t Tn, int64_t D, int64_t H);

// Outputs: dxs (N,T,D), dWx (D,4H), dWh (H,4H), db (4H), dh0 (N,H), dc0 (N,H).
// Saved: hs, gates, cs from the forward. Inputs: xs, Wx, Wh, h0, c0, dhs (N,T,H)
// and dh_next, dc_next (N,H): the gradient flowing into the last state.
template <class T>
void lstm_backward(T* dxs, T* dWx, T* dWh, T* db, T* dh0, T* dc0, const T* hs, const T* gates, const T* cs, const T* xs,
                   const T* Wx, const T* Wh, const T* h0, const T* c0, const T* dhs, const T* dh_next, const T* dc_next,
                   int64_t N, int64_t Tn, int64_t D, int64_t H);

}  // namespace attncore
