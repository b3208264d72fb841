#include "attention_scores.hpp"

#include "blas.hpp"
#include "fastmath.hpp"
#include "memory.hpp"
#include "parallel.hpp"
#include "softmax.hpp"
#include "vector.hpp"

namespace attncore {

namespace {

// Batch rows per chunk of the loops over n, handed out dynamically (a row is a large piece of work).
constexpr int64_t kRowsPerChunk = 1;

// The number of encoder steps row n attends over: its length, or all Tn without lengths.
inline int64_t row_length(const int64_t* lengths, int64_t n, int64_t Tn) { return lengths ? lengths[n] : Tn; }

template <class T>
void zero(T* x, int64_t count) {
    for (int64_t i = 0; i < count; ++i) x[i] = 0;
}

// The weights a_n (Td rows of stride Tn) from the raw scores in place: times `scale`, softmax over the
// first L steps, zeros after them.
template <class T>
void scaled_softmax_rows(T* a_n, T scale, int64_t Td, int64_t L, int64_t Tn) {
    for (int64_t j = 0; j < Td; ++j) {
        T* row = a_n + j * Tn;
        if (scale != T(1))
            for (int64_t t = 0; t < L; ++t) row[t] *= scale;
        softmax_row(row, row, L);
        zero(row + L, Tn - L);
    }
}

// The context of row n: out_n (Td,V) = a_n (Td, first L of Tn) @ values_n (L,V).
template <class T>
void context(T* out_n, const T* a_n, const T* values_n, int64_t Tn, int64_t Td, int64_t L, int64_t V) {
    gemm<T>(false, false, Td, V, L, T(1), a_n, Tn, values_n, V, T(0), out_n, V);
}

// The context's backward for row n: ds_n (Td,L) = the scores' gradient (through the softmax), dvalues_n
// (Tn,V) = a_n^T dout_n (zero past L).
template <class T>
void context_backward(T* ds_n, T* dvalues_n, const T* a_n, const T* values_n, const T* dout_n, int64_t Tn, int64_t Td,
                      int64_t L, int64_t V) {
    gemm<T>(false, true, Td, L, V, T(1), dout_n, V, values_n, V, T(0), ds_n, L);  // d a
    for (int64_t j = 0; j < Td; ++j) softmax_backward_row(ds_n + j * L, a_n + j * Tn, ds_n + j * L, L);
    gemm<T>(true, false, L, V, Td, T(1), a_n, Tn, dout_n, V, T(0), dvalues_n, V);
    zero(dvalues_n + L * V, (Tn - L) * V);
}

// Below this many decoder steps the scaled score runs as row loops (dot products and axpys per decoder step);
// from it on as products per batch row, which read each key and value once per product rather than once per
// step. The book's time attention switches at the same point (attention.cpp): one BLAS call per tiny product
// costs more than the loops.
constexpr int64_t kProductSteps = 16;

// The scaled score's forward for one (n, j) by loops: a_row (L of Tn), out_j (V).
template <class T>
ATTNCORE_SIMD_CLONES void scaled_forward_row(T* out_j, T* a_row, const T* q_j, const T* k_n, const T* values_n, T scale,
                                             int64_t Tn, int64_t L, int64_t K, int64_t V) {
    dots(a_row, k_n, K, q_j, L, K);
    for (int64_t t = 0; t < L; ++t) a_row[t] *= scale;
    softmax_row(a_row, a_row, L);
    for (int64_t t = L; t < Tn; ++t) a_row[t] = 0;
    for (int64_t i = 0; i < V; ++i) out_j[i] = 0;
    for (int64_t t = 0; t < L; ++t) axpy(out_j, a_row[t], values_n + t * V, V);
}

// The scaled score's backward for batch row n by loops, all decoder steps: dq_n (Td,K), dk_n (Tn,K),
// dvalues_n (Tn,V) (zero past L), the scale's gradient returned; ds (L) and g (K) are scratch.
template <class T>
ATTNCORE_SIMD_CLONES T scaled_backward_rows(T* dq_n, T* dk_n, T* dvalues_n, T* ds, T* g, const T* q_n, const T* k_n,
                                            const T* values_n, const T* a_n, const T* dout_n, T scale, int64_t Tn,
                                            int64_t L, int64_t Td, int64_t K, int64_t V) {
    for (int64_t i = 0; i < Tn * K; ++i) dk_n[i] = 0;
    for (int64_t i = 0; i < Tn * V; ++i) dvalues_n[i] = 0;
    T dscale = 0;
    for (int64_t j = 0; j < Td; ++j) {
        const T *a_j = a_n + j * Tn, *dout_j = dout_n + j * V, *q_j = q_n + j * K;
        dots(ds, values_n, V, dout_j, L, V);  // d a[t] = dout . values[t]
        softmax_backward_row(ds, a_j, ds, L);
        for (int64_t i = 0; i < K; ++i) g[i] = 0;
        for (int64_t t = 0; t < L; ++t) {
            axpy(g, ds[t], k_n + t * K, K);
            axpy(dk_n + t * K, scale * ds[t], q_j, K);
            axpy(dvalues_n + t * V, a_j[t], dout_j, V);
        }
        dscale += dot(q_j, g, K);
        scale_into(dq_n + j * K, scale, g, K);
    }
    return dscale;
}

// s (L) = the additive scores of one query qp_j (A) against the keys kp_n (L,A).
template <class T>
ATTNCORE_SIMD_CLONES void additive_scores_row(T* s, const T* qp_j, const T* kp_n, const T* w, int64_t L, int64_t A) {
    for (int64_t t = 0; t < L; ++t) {
        const T* k = kp_n + t * A;
        T acc = 0;
#pragma omp simd reduction(+ : acc)
        for (int64_t i = 0; i < A; ++i) acc += w[i] * fast_tanh(qp_j[i] + k[i]);
        s[t] = acc;
    }
}

// The additive score's backward for one query j of row n: from ds_j (L), adds to dqp_j (A), dkp_n (L,A) and
// dw_n (A), the tanh recomputed.
template <class T>
ATTNCORE_SIMD_CLONES void additive_backward_row(T* dqp_j, T* dkp_n, T* dw_n, const T* qp_j, const T* kp_n, const T* w,
                                                const T* ds_j, int64_t L, int64_t A) {
    for (int64_t t = 0; t < L; ++t) {
        const T* k = kp_n + t * A;
        T* dk = dkp_n + t * A;
        const T st = ds_j[t];
#pragma omp simd
        for (int64_t i = 0; i < A; ++i) {
            const T th = fast_tanh(qp_j[i] + k[i]);
            const T g = st * w[i] * (T(1) - th * th);
            dw_n[i] += st * th;
            dqp_j[i] += g;
            dk[i] += g;
        }
    }
}

// sum over n of parts (N,width) into out (width), rows in order: the same bits on any number of threads.
template <class T>
void sum_rows(T* out, const T* parts, int64_t N, int64_t width) {
    zero(out, width);
    for (int64_t n = 0; n < N; ++n)
        for (int64_t i = 0; i < width; ++i) out[i] += parts[n * width + i];
}

}  // namespace

template <class T>
void scaled_attention_forward(T* out, T* a, const T* q, const T* k, const T* values, T scale, int64_t N, int64_t Tn,
                              int64_t Td, int64_t K, int64_t V, const int64_t* lengths) {
    const int nt = get_num_threads();
    if (Td < kProductSteps) {
#pragma omp parallel for collapse(2) num_threads(nt) schedule(dynamic, 4) if (should_parallelize(N * Td * Tn * (K + V)))
        for (int64_t n = 0; n < N; ++n)
            for (int64_t j = 0; j < Td; ++j)
                scaled_forward_row(out + (n * Td + j) * V, a + (n * Td + j) * Tn, q + (n * Td + j) * K, k + n * Tn * K,
                                   values + n * Tn * V, scale, Tn, row_length(lengths, n, Tn), K, V);
        return;
    }
#pragma omp parallel for num_threads(nt) schedule(dynamic, kRowsPerChunk) if (should_parallelize(N * Td * Tn * (K + V)))
    for (int64_t n = 0; n < N; ++n) {
        const int64_t L = row_length(lengths, n, Tn);
        T* a_n = a + n * Td * Tn;
        gemm<T>(false, true, Td, L, K, T(1), q + n * Td * K, K, k + n * Tn * K, K, T(0), a_n, Tn);  // raw scores
        scaled_softmax_rows(a_n, scale, Td, L, Tn);
        context(out + n * Td * V, a_n, values + n * Tn * V, Tn, Td, L, V);
    }
}

template <class T>
void scaled_attention_backward(T* dq, T* dk, T* dvalues, T* dscale, const T* q, const T* k, const T* values, const T* a,
                               const T* dout, T scale, int64_t N, int64_t Tn, int64_t Td, int64_t K, int64_t V,
                               const int64_t* lengths) {
    const int nt = get_num_threads();
    if (Td < kProductSteps) {
        Buffer<T> ds = scratch<T>(N * Tn), g = scratch<T>(N * K), dscale_n = scratch<T>(N);
#pragma omp parallel for num_threads(nt) schedule(dynamic, kRowsPerChunk) if (should_parallelize(N * Td * Tn * (K + V)))
        for (int64_t n = 0; n < N; ++n)
            dscale_n[n] = scaled_backward_rows(dq + n * Td * K, dk + n * Tn * K, dvalues + n * Tn * V,
                                               ds.get() + n * Tn, g.get() + n * K, q + n * Td * K, k + n * Tn * K,
                                               values + n * Tn * V, a + n * Td * Tn, dout + n * Td * V, scale, Tn,
                                               row_length(lengths, n, Tn), Td, K, V);
        sum_rows(dscale, dscale_n.get(), N, 1);
        return;
    }
    Buffer<T> ds = scratch<T>(N * Td * Tn), dscale_n = scratch<T>(N);
#pragma omp parallel for num_threads(nt) schedule(dynamic, kRowsPerChunk) if (should_parallelize(N * Td * Tn * (K + V)))
    for (int64_t n = 0; n < N; ++n) {
        const int64_t L = row_length(lengths, n, Tn);
        const T *q_n = q + n * Td * K, *k_n = k + n * Tn * K;
        T *ds_n = ds.get() + n * Td * Tn, *dq_n = dq + n * Td * K, *dk_n = dk + n * Tn * K;
        context_backward(ds_n, dvalues + n * Tn * V, a + n * Td * Tn, values + n * Tn * V, dout + n * Td * V, Tn, Td, L,
                         V);
        // G = ds k (the raw scores' gradient to q): dscale = sum q . G, dq = scale G
        gemm<T>(false, false, Td, K, L, T(1), ds_n, L, k_n, K, T(0), dq_n, K);
        T part = 0;
        for (int64_t i = 0; i < Td * K; ++i) {
            part += q_n[i] * dq_n[i];
            dq_n[i] *= scale;
        }
        dscale_n[n] = part;
        gemm<T>(true, false, L, K, Td, T(1), ds_n, L, q_n, K, T(0), dk_n, K);
        for (int64_t i = 0; i < L * K; ++i) dk_n[i] *= scale;
        zero(dk_n + L * K, (Tn - L) * K);
    }
    sum_rows(dscale, dscale_n.get(), N, 1);
}

template <class T>
void additive_attention_forward(T* out, T* a, const T* qp, const T* kp, const T* w, const T* values, int64_t N,
                                int64_t Tn, int64_t Td, int64_t A, int64_t V, const int64_t* lengths) {
    const int nt = get_num_threads();
#pragma omp parallel num_threads(nt) if (should_parallelize(N * Td * Tn * (A * 8 + V)))
    {
        // the scores, one (n, j) at a time: the fused tanh is the work
#pragma omp for collapse(2) schedule(dynamic, 4)
        for (int64_t n = 0; n < N; ++n)
            for (int64_t j = 0; j < Td; ++j) {
                const int64_t L = row_length(lengths, n, Tn);
                T* row = a + (n * Td + j) * Tn;
                additive_scores_row(row, qp + (n * Td + j) * A, kp + n * Tn * A, w, L, A);
                softmax_row(row, row, L);
                zero(row + L, Tn - L);
            }
#pragma omp for schedule(dynamic, kRowsPerChunk)
        for (int64_t n = 0; n < N; ++n)
            context(out + n * Td * V, a + n * Td * Tn, values + n * Tn * V, Tn, Td, row_length(lengths, n, Tn), V);
    }
}

template <class T>
void additive_attention_backward(T* dqp, T* dkp, T* dw, T* dvalues, const T* qp, const T* kp, const T* w,
                                 const T* values, const T* a, const T* dout, int64_t N, int64_t Tn, int64_t Td,
                                 int64_t A, int64_t V, const int64_t* lengths) {
    Buffer<T> ds = scratch<T>(N * Td * Tn), dw_n = scratch<T>(N * A);
    const int nt = get_num_threads();
    // Each n owns dqp[n], dkp[n], dvalues[n] and its row of dw_n.
#pragma omp parallel for num_threads(nt) \
    schedule(dynamic, kRowsPerChunk) if (should_parallelize(N * Td * Tn * (A * 8 + V)))
    for (int64_t n = 0; n < N; ++n) {
        const int64_t L = row_length(lengths, n, Tn);
        T *ds_n = ds.get() + n * Td * Tn, *dkp_n = dkp + n * Tn * A, *dwn = dw_n.get() + n * A;
        context_backward(ds_n, dvalues + n * Tn * V, a + n * Td * Tn, values + n * Tn * V, dout + n * Td * V, Tn, Td, L,
                         V);
        zero(dkp_n, Tn * A);
        zero(dwn, A);
        for (int64_t j = 0; j < Td; ++j) {
            T* dqp_j = dqp + (n * Td + j) * A;
            zero(dqp_j, A);
            additive_backward_row(dqp_j, dkp_n, dwn, qp + (n * Td + j) * A, kp + n * Tn * A, w, ds_n + j * L, L, A);
        }
    }
    sum_rows(dw, dw_n.get(), N, A);
}

#define ATTNCORE_INSTANTIATE(T)                                                                                     \
    template void scaled_attention_forward<T>(T*, T*, const T*, const T*, const T*, T, int64_t, int64_t, int64_t,   \
                                              int64_t, int64_t, const int64_t*);                                    \
    template void scaled_attention_backward<T>(T*, T*, T*, T*, const T*, const T*, const T*, const T*, const T*, T, \
                                               int64_t, int64_t, int64_t, int64_t, int64_t, const int64_t*);        \
    template void additive_attention_forward<T>(T*, T*, const T*, const T*, const T*, const T*, int64_t, int64_t,   \
                                                int64_t, int64_t, int64_t, const int64_t*);                         \
    template void additive_attention_backward<T>(T*, T*, T*, T*, const T*, const T*, const T*, const T*, const T*,  \
                                                 const T*, int64_t, int64_t, int64_t, int64_t, int64_t,             \
                                                 const int64_t*);
ATTNCORE_INSTANTIATE(float)
ATTNCORE_INSTANTIATE(double)
#undef ATTNCORE_INSTANTIATE

}  // namespace attncore
