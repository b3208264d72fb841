// Thread control and small vector helpers shared by every kernel family.
//
// Kernels read the thread count from one process-wide setting instead of the
// OpenMP ICV, because omp_set_num_threads only affects the calling thread and
// Python may call kernels from any thread.
#pragma once

#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace attncore {

// Number of threads the next parallel region may use (>= 1).
int get_num_threads();
void set_num_threads(int n);
// True when this translation unit was compiled with OpenMP.
bool openmp_enabled();

// sum_i a[i] * b[i]; the simd reduction lets the compiler vectorize without
// -ffast-math (the summation order differs from NumPy's only at rounding level).
template <class T>
inline T dot(const T* a, const T* b, int64_t n) {
    T s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
    return s;
}

// y[i] += alpha * x[i]
template <class T>
inline void axpy(T* y, T alpha, const T* x, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

// y[i] = alpha * x[i]
template <class T>
inline void scale_into(T* y, T alpha, const T* x, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) y[i] = alpha * x[i];
}

}  // namespace attncore
