// Small vector helpers shared by the kernels: dot products, copies, axpy, column sums. Plain loops the
// compiler vectorizes (omp simd), no intrinsics: the products with intrinsics are microkernel_isa.inc's.
#pragma once

#include <cstdint>
#include <cstring>

#include "parallel.hpp"

namespace attncore {

// sum_i a[i] * b[i]; the simd reduction lets the compiler vectorize without
// -ffast-math (the summation order differs from NumPy's only at rounding level).
template <class T>
inline T dot(const T* a, const T* b, int64_t n) {
    T s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
    return s;
}

// out[t] = rows[t*ld : t*ld+n] . q for t < count. Four rows at a time, so the
// four sums are independent chains (one sum is bound by the add latency).
template <class T>
inline void dots(T* out, const T* rows, int64_t ld, const T* q, int64_t count, int64_t n) {
    int64_t t = 0;
    for (; t + 4 <= count; t += 4) {
        const T *r0 = rows + t * ld, *r1 = r0 + ld, *r2 = r1 + ld, *r3 = r2 + ld;
        T s0 = 0, s1 = 0, s2 = 0, s3 = 0;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
        for (int64_t i = 0; i < n; ++i) {
            s0 += r0[i] * q[i];
            s1 += r1[i] * q[i];
            s2 += r2[i] * q[i];
            s3 += r3[i] * q[i];
        }
        out[t] = s0;
        out[t + 1] = s1;
        out[t + 2] = s2;
        out[t + 3] = s3;
    }
    for (; t < count; ++t) out[t] = dot(rows + t * ld, q, n);
}

// dst[0:n] = src[0:n]; nothing for n = 0 (memcpy with a null pointer is undefined even then).
template <class T>
inline void copy_n(T* dst, const T* src, int64_t n) {
    if (n > 0) std::memcpy(dst, src, sizeof(T) * static_cast<size_t>(n));
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

// db[g] = sum over rows r of dA[r, g]; dA is (R,G). Each thread owns blocks of columns and adds the rows in
// order (the same result on any number of threads). The blocks are wide, about 1024 columns and a multiple
// of the thread count in number: blocks of 64 columns read a wide dA 256 bytes per row, a TLB miss each
// (2.4x slower at (6592, 3079), measured).
template <class T>
void column_sums(T* db, const T* dA, int64_t R, int64_t G) {
    if (G <= 0) return;
    const int nt = should_parallelize(R * G) ? get_num_threads() : 1;
    int64_t nblocks = (G + 1023) / 1024;
    nblocks = (nblocks + nt - 1) / nt * nt;
    const int64_t block = ((G + nblocks - 1) / nblocks + 15) / 16 * 16;
    nblocks = (G + block - 1) / block;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1)
    for (int64_t bi = 0; bi < nblocks; ++bi) {
        const int64_t g0 = bi * block, g1 = g0 + block < G ? g0 + block : G;
        for (int64_t g = g0; g < g1; ++g) db[g] = 0;
        for (int64_t r = 0; r < R; ++r) axpy(db + g0, T(1), dA + r * G + g0, g1 - g0);
    }
}

}  // namespace attncore
