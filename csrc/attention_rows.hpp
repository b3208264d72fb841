// The rows of dot-product attention, shared by the attention kernels and the fused decoder.
// Legend: T encoder time steps, H hidden size.
#pragma once

#include <cstdint>

#include "fastmath.hpp"
#include "softmax.hpp"
#include "vector.hpp"

namespace attncore {
namespace row_ops {

// a_row (T) = softmax over t of hs_n[t,:] . q (H)
template <class T>
ATTNCORE_INLINE void attention_scores(T* a_row, const T* hs_n, const T* q, int64_t Tn, int64_t H) {
    dots(a_row, hs_n, H, q, Tn, H);
    softmax_row(a_row, a_row, Tn);
}

// c (H) = sum_t a_row[t] * hs_n[t,:]
template <class T>
ATTNCORE_INLINE void weighted_sum(T* c, const T* hs_n, const T* a_row, int64_t Tn, int64_t H) {
    scale_into(c, a_row[0], hs_n, H);
    for (int64_t t = 1; t < Tn; ++t) axpy(c, a_row[t], hs_n + t * H, H);
}

}  // namespace row_ops
}  // namespace attncore
