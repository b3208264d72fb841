// The book's Adam update, element by element, in place.
// Legend: n elements of one parameter array.
//
//   m += (1 - beta1) * (g - m);  v += (1 - beta2) * (g*g - v)
//   p -= lr_t * m / (sqrt(v) + 1e-7)
//
// The arithmetic is NumPy's for the book's expressions on arrays of type T:
// m, v and sqrt(v) + 1e-7 in T; the step lr_t * m / (...) in S, which is
// double when NumPy promotes a float32 array with the float64 scalar lr_t
// (NumPy 2), else T; then p - step in S, rounded to T. So the result equals
// the NumPy backend's bit for bit.
#pragma once

#include <cstdint>

namespace attncore {

// p, m, v (n) are updated; g (n) is the gradient; c1 = 1 - beta1 and
// c2 = 1 - beta2 as NumPy rounds them to T, lr_t the step size.
template <class T, class S>
void adam_update(T* p, T* m, T* v, const T* g, T c1, T c2, double lr_t, int64_t n);

}  // namespace attncore
