// Embedding lookup (gather) and its gradient (scatter-add).
// Legend: R lookups (N*T), V vocabulary size, D embedding size.
// Ids must already be checked to lie in [0, V) (the binding does it).
#pragma once

#include <cstdint>

namespace attncore {

// out is (R,D); W is (V,D), ids is (R)
template <class T>
void embedding_forward(T* out, const T* W, const int64_t* ids, int64_t R, int64_t D);

// dW is (V,D), zeroed then dW[ids[r]] += dout[r] for every r (repeated ids
// accumulate); dout is (R,D). Each thread owns a range of rows of dW: no race,
// and the order of the additions does not depend on the thread count.
template <class T>
void embedding_backward(T* dW, const int64_t* ids, const T* dout, int64_t R, int64_t V, int64_t D);

}  // namespace attncore
