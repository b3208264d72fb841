// Dot-product attention kernels (chapter 8 of the book).
// Legend: N batch, T encoder time steps, Td decoder time steps, H hidden size.
//
// AttentionWeight: a[n,t] = softmax_t(sum_h hs[n,t,h] * h[n,h])
// WeightSum:       c[n,h] = sum_t a[n,t] * hs[n,t,h]
// TimeAttention:   one AttentionWeight + WeightSum per decoder step j, with
//                  h = hs_dec[:, j] and hs = hs_enc.
// All buffers are row-major and contiguous. Outputs come first.
//
// lengths (N), when not null, masks the encoder steps: row n attends over its
// first lengths[n] steps only (1 <= lengths[n] <= T); the weights of the other
// steps are 0, and so are their gradients (dhs, and da for WeightSum).
#pragma once

#include <cstdint>

namespace attncore {

// a is (N,T); hs is (N,T,H), h is (N,H)
template <class T>
void attention_weight_forward(T* a, const T* hs, const T* h, int64_t N, int64_t Tn, int64_t H,
                              const int64_t* lengths = nullptr);

// dhs is (N,T,H), dh is (N,H); a, da are (N,T)
template <class T>
void attention_weight_backward(T* dhs, T* dh, const T* hs, const T* h, const T* a, const T* da, int64_t N, int64_t Tn,
                               int64_t H, const int64_t* lengths = nullptr);

// c is (N,H); hs is (N,T,H), a is (N,T)
template <class T>
void weight_sum_forward(T* c, const T* hs, const T* a, int64_t N, int64_t Tn, int64_t H,
                        const int64_t* lengths = nullptr);

// dhs is (N,T,H), da is (N,T); dc is (N,H)
template <class T>
void weight_sum_backward(T* dhs, T* da, const T* hs, const T* a, const T* dc, int64_t N, int64_t Tn, int64_t H,
                         const int64_t* lengths = nullptr);

// out is (N,Td,H), a is (N,Td,T); hs_enc is (N,T,H), hs_dec is (N,Td,H)
template <class T>
void time_attention_forward(T* out, T* a, const T* hs_enc, const T* hs_dec, int64_t N, int64_t Tn, int64_t Td,
                            int64_t H, const int64_t* lengths = nullptr);

// dhs_enc is (N,T,H), dhs_dec is (N,Td,H); a is (N,Td,T), dout is (N,Td,H)
template <class T>
void time_attention_backward(T* dhs_enc, T* dhs_dec, const T* hs_enc, const T* hs_dec, const T* a, const T* dout,
                             int64_t N, int64_t Tn, int64_t Td, int64_t H, const int64_t* lengths = nullptr);

}  // namespace attncore
