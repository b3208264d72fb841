// Attention with the other scores: scaled dot product (with keys apart from values) and additive.
// Legend: N batch, T encoder time steps, Td decoder time steps, K key width, A additive width, V value width.
//
// Every kernel computes, for each batch row n and decoder step j, scores s[n,j,t] over the encoder steps, the
// weights a[n,j,:] = softmax_t(s[n,j,:]) and the context out[n,j,:] = sum_t a[n,j,t] values[n,t,:]:
//
//   scaled:   s[n,j,t] = scale * q[n,j,:] . k[n,t,:]                  (dot: scale 1; Luong's general: q = h W)
//   additive: s[n,j,t] = sum_i w[i] tanh(qp[n,j,i] + kp[n,t,i])       (Bahdanau: qp = s W2, kp = h W1 + b)
//
// The scaled score runs as products per batch row from 16 decoder steps on and as row loops below (as the
// book's time attention does). The layers make the projections (one product each over all time steps); the
// additive score's tanh over all
// (j, t) pairs is the expensive part (N Td T A) and is fused here, recomputed in the backward pass rather than
// stored. All buffers are row-major and contiguous; outputs come first. lengths (N), when not null, masks the
// encoder steps as in attention.hpp: the steps at and past lengths[n] get weight 0 and zero gradients, and
// their keys and values are never read. The gradients of the shared weights (the scale, w) are summed per
// batch row and then over the rows in order, so 1 and 2 threads give the same bits.
#pragma once

#include <cstdint>

namespace attncore {

// out (N,Td,V), a (N,Td,T); q (N,Td,K), k (N,T,K), values (N,T,V)
template <class T>
void scaled_attention_forward(T* out, T* a, const T* q, const T* k, const T* values, T scale, int64_t N, int64_t Tn,
                              int64_t Td, int64_t K, int64_t V, const int64_t* lengths = nullptr);

// dq (N,Td,K), dk (N,T,K), dvalues (N,T,V), dscale (1); a (N,Td,T) from the forward pass, dout (N,Td,V)
template <class T>
void scaled_attention_backward(T* dq, T* dk, T* dvalues, T* dscale, const T* q, const T* k, const T* values, const T* a,
                               const T* dout, T scale, int64_t N, int64_t Tn, int64_t Td, int64_t K, int64_t V,
                               const int64_t* lengths = nullptr);

// out (N,Td,V), a (N,Td,T); qp (N,Td,A), kp (N,T,A), w (A), values (N,T,V)
template <class T>
void additive_attention_forward(T* out, T* a, const T* qp, const T* kp, const T* w, const T* values, int64_t N,
                                int64_t Tn, int64_t Td, int64_t A, int64_t V, const int64_t* lengths = nullptr);

// dqp (N,Td,A), dkp (N,T,A), dw (A), dvalues (N,T,V); a (N,Td,T) from the forward pass, dout (N,Td,V)
template <class T>
void additive_attention_backward(T* dqp, T* dkp, T* dw, T* dvalues, const T* qp, const T* kp, const T* w,
                                 const T* values, const T* a, const T* dout, int64_t N, int64_t Tn, int64_t Td,
                                 int64_t A, int64_t V, const int64_t* lengths = nullptr);

}  // namespace attncore
