// Affine layer over many rows: out = x @ W + b, and its gradients.
// Legend: M rows (N*T for a time-distributed layer), D input size, K output size.
#pragma once

#include <cstdint>

namespace attncore {

// out is (M,K); x is (M,D), W is (D,K), b is (K)
template <class T>
void affine_forward(T* out, const T* x, const T* W, const T* b, int64_t M, int64_t D, int64_t K);

// dx is (M,D), dW (D,K), db (K); x is (M,D), W (D,K), dout (M,K)
template <class T>
void affine_backward(T* dx, T* dW, T* db, const T* x, const T* W, const T* dout, int64_t M, int64_t D, int64_t K);

}  // namespace attncore
