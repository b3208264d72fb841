#include "attention.hpp"

#include <vector>

#include "attention_rows.hpp"
#include "blas.hpp"
#include "fastmath.hpp"
#include "softmax.hpp"
#include "vector.hpp"

namespace attncore {

namespace {

// The row bodies below are compiled for AVX-512, AVX2 and baseline x86-64 and
// the right one is picked at load time (ATTNCORE_SIMD_CLONES): the inline
// dot/axpy helpers they call are vectorized at that width.

// a_row (T) = softmax over t of hs_n[t,:] . q (H)
template <class T>
ATTNCORE_SIMD_CLONES void scores_softmax(T* a_row, const T* hs_n, const T* q, int64_t Tn, int64_t H) {
    row_ops::attention_scores(a_row, hs_n, q, Tn, H);
}

// c (H) = sum_t a_row[t] * hs_n[t,:]
template <class T>
ATTNCORE_SIMD_CLONES void weighted_sum(T* c, const T* hs_n, const T* a_row, int64_t Tn, int64_t H) {
    row_ops::weighted_sum(c, hs_n, a_row, Tn, H);
}

// One batch row of AttentionWeight backward: dhs_n (T,H), dh_n (H); ds_n (T) is scratch.
template <class T>
ATTNCORE_SIMD_CLONES void attention_weight_backward_row(T* dhs_n, T* dh_n, T* ds_n, const T* hs_n, const T* h_n,
                                                        const T* a_n, const T* da_n, int64_t Tn, int64_t H) {
    softmax_backward_row(ds_n, a_n, da_n, Tn);
    for (int64_t t = 0; t < Tn; ++t) scale_into(dhs_n + t * H, ds_n[t], h_n, H);
    for (int64_t k = 0; k < H; ++k) dh_n[k] = 0;
    for (int64_t t = 0; t < Tn; ++t) axpy(dh_n, ds_n[t], hs_n + t * H, H);
}

// One batch row of WeightSum backward: dhs_n (T,H), da_n (T).
template <class T>
ATTNCORE_SIMD_CLONES void weight_sum_backward_row(T* dhs_n, T* da_n, const T* hs_n, const T* a_n, const T* dc_n,
                                                  int64_t Tn, int64_t H) {
    for (int64_t t = 0; t < Tn; ++t) scale_into(dhs_n + t * H, a_n[t], dc_n, H);
    dots(da_n, hs_n, H, dc_n, Tn, H);
}

// One batch row of TimeAttention backward, all decoder steps: dhs_enc_n (T,H)
// summed over the steps, dhs_dec_n (Td,H); ds_n (T) is scratch.
// Only the first L of the T encoder steps take part (a's rows have stride Tn); the rest get zeros.
template <class T>
ATTNCORE_SIMD_CLONES void time_attention_backward_row(T* dhs_enc_n, T* dhs_dec_n, T* ds_n, const T* hs_n,
                                                      const T* hs_dec_n, const T* a_n, const T* dout_n, int64_t Tn,
                                                      int64_t L, int64_t Td, int64_t H) {
    for (int64_t i = 0; i < Tn * H; ++i) dhs_enc_n[i] = 0;
    for (int64_t j = 0; j < Td; ++j) {
        const T* a_nj = a_n + j * Tn;
        const T* dout_nj = dout_n + j * H;
        const T* q = hs_dec_n + j * H;
        T* dq = dhs_dec_n + j * H;
        // weighted sum: d a[t] = dout . hs[t]; then through the softmax to the scores' gradient ds
        dots(ds_n, hs_n, H, dout_nj, L, H);
        softmax_backward_row(ds_n, a_nj, ds_n, L);
        // d hs[t] += a[t] * dout + ds[t] * q (one pass); dq = sum_t ds[t] * hs[t]
        for (int64_t k = 0; k < H; ++k) dq[k] = 0;
        for (int64_t t = 0; t < L; ++t) {
            T* d = dhs_enc_n + t * H;
            const T at = a_nj[t], st = ds_n[t];
#pragma omp simd
            for (int64_t k = 0; k < H; ++k) d[k] += at * dout_nj[k] + st * q[k];
            axpy(dq, st, hs_n + t * H, H);
        }
    }
}

// Batch rows per chunk of the attention loops, which hand chunks out dynamically (see parallel.hpp):
// fixed and small, since a row of attention is a large piece of work.
constexpr int64_t kRowsPerChunk = 4;

// The number of encoder steps row n attends over: its length, or all Tn without lengths.
inline int64_t row_length(const int64_t* lengths, int64_t n, int64_t Tn) { return lengths ? lengths[n] : Tn; }

template <class T>
void zero_tail(T* row, int64_t from, int64_t to) {
    for (int64_t i = from; i < to; ++i) row[i] = 0;
}

}  // namespace

template <class T>
void attention_weight_forward(T* a, const T* hs, const T* h, int64_t N, int64_t Tn, int64_t H, const int64_t* lengths) {
    // a is (N,T); hs is (N,T,H), h is (N,H); lengths (N) or null
    const int nt = get_num_threads();
#pragma omp parallel for num_threads(nt) schedule(dynamic, kRowsPerChunk) if (should_parallelize(N * Tn * H))
    for (int64_t n = 0; n < N; ++n) {
        const int64_t L = row_length(lengths, n, Tn);
        scores_softmax(a + n * Tn, hs + n * Tn * H, h + n * H, L, H);
        zero_tail(a + n * Tn, L, Tn);
    }
}

template <class T>
void attention_weight_backward(T* dhs, T* dh, const T* hs, const T* h, const T* a, const T* da, int64_t N, int64_t Tn,
                               int64_t H, const int64_t* lengths) {
    // dhs is (N,T,H), dh is (N,H); hs is (N,T,H), h is (N,H); a, da are (N,T)
    std::vector<T> ds(static_cast<size_t>(N * Tn));
    const int nt = get_num_threads();
#pragma omp parallel for num_threads(nt) schedule(dynamic, kRowsPerChunk) if (should_parallelize(N * Tn * H))
    for (int64_t n = 0; n < N; ++n) {
        const int64_t L = row_length(lengths, n, Tn);
        attention_weight_backward_row(dhs + n * Tn * H, dh + n * H, ds.data() + n * Tn, hs + n * Tn * H, h + n * H,
                                      a + n * Tn, da + n * Tn, L, H);
        zero_tail(dhs + n * Tn * H, L * H, Tn * H);
    }
}

template <class T>
void weight_sum_forward(T* c, const T* hs, const T* a, int64_t N, int64_t Tn, int64_t H, const int64_t* lengths) {
    // c is (N,H); hs is (N,T,H), a is (N,T)
    const int nt = get_num_threads();
#pragma omp parallel for num_threads(nt) schedule(dynamic, kRowsPerChunk) if (should_parallelize(N * Tn * H))
    for (int64_t n = 0; n < N; ++n) weighted_sum(c + n * H, hs + n * Tn * H, a + n * Tn, row_length(lengths, n, Tn), H);
}

template <class T>
void weight_sum_backward(T* dhs, T* da, const T* hs, const T* a, const T* dc, int64_t N, int64_t Tn, int64_t H,
                         const int64_t* lengths) {
    // dhs is (N,T,H), da is (N,T); hs is (N,T,H), a is (N,T), dc is (N,H)
    const int nt = get_num_threads();
#pragma omp parallel for num_threads(nt) schedule(dynamic, kRowsPerChunk) if (should_parallelize(N * Tn * H))
    for (int64_t n = 0; n < N; ++n) {
        const int64_t L = row_length(lengths, n, Tn);
        weight_sum_backward_row(dhs + n * Tn * H, da + n * Tn, hs + n * Tn * H, a + n * Tn, dc + n * H, L, H);
        zero_tail(dhs + n * Tn * H, L * H, Tn * H);
        zero_tail(da + n * Tn, L, Tn);
    }
}

// From this many decoder steps on, a batch row's attention is two matrix products (scores, then the
// weighted sums) and its backward four: the BLAS reads each encoder state once per product, where the
// loops read all of them once per decoder step. Below it, the loops are faster (decoding has Td = 1).
constexpr int64_t kProductSteps = 16;

template <class T>
void time_attention_forward(T* out, T* a, const T* hs_enc, const T* hs_dec, int64_t N, int64_t Tn, int64_t Td,
                            int64_t H, const int64_t* lengths) {
    // out is (N,Td,H), a is (N,Td,T); hs_enc is (N,T,H), hs_dec is (N,Td,H)
    const int nt = get_num_threads();
    if (Td >= kProductSteps && H > 0) {
#pragma omp parallel for num_threads(nt) schedule(dynamic, kRowsPerChunk) if (should_parallelize(N * Td * Tn * H))
        for (int64_t n = 0; n < N; ++n) {
            const T* hs_n = hs_enc + n * Tn * H;
            T* a_n = a + n * Td * Tn;
            const int64_t L = row_length(lengths, n, Tn);
            gemm<T>(false, true, Td, L, H, T(1), hs_dec + n * Td * H, H, hs_n, H, T(0), a_n, Tn);  // scores
            for (int64_t j = 0; j < Td; ++j) {
                softmax_row(a_n + j * Tn, a_n + j * Tn, L);
                zero_tail(a_n + j * Tn, L, Tn);
            }
            gemm<T>(false, false, Td, H, L, T(1), a_n, Tn, hs_n, H, T(0), out + n * Td * H, H);
        }
        return;
    }
    // Each (n, j) owns out[n,j,:] and a[n,j,:].
#pragma omp parallel for collapse(2) num_threads(nt) \
    schedule(dynamic, kRowsPerChunk) if (should_parallelize(N * Td * Tn * H))
    for (int64_t n = 0; n < N; ++n) {
        for (int64_t j = 0; j < Td; ++j) {
            const T* hs_n = hs_enc + n * Tn * H;
            T* a_nj = a + (n * Td + j) * Tn;
            const int64_t L = row_length(lengths, n, Tn);
            scores_softmax(a_nj, hs_n, hs_dec + (n * Td + j) * H, L, H);
            zero_tail(a_nj, L, Tn);
            weighted_sum(out + (n * Td + j) * H, hs_n, a_nj, L, H);
        }
    }
}

template <class T>
void time_attention_backward(T* dhs_enc, T* dhs_dec, const T* hs_enc, const T* hs_dec, const T* a, const T* dout,
                             int64_t N, int64_t Tn, int64_t Td, int64_t H, const int64_t* lengths) {
    // dhs_enc is (N,T,H), dhs_dec is (N,Td,H); hs_enc is (N,T,H), hs_dec is (N,Td,H),
    // a is (N,Td,T), dout is (N,Td,H)
    const int nt = get_num_threads();
    if (Td >= kProductSteps && H > 0) {
        std::vector<T> ds(static_cast<size_t>(N * Td * Tn));
#pragma omp parallel for num_threads(nt) schedule(dynamic, kRowsPerChunk) if (should_parallelize(N * Td * Tn * H))
        for (int64_t n = 0; n < N; ++n) {
            const T *hs_n = hs_enc + n * Tn * H, *dec_n = hs_dec + n * Td * H, *a_n = a + n * Td * Tn;
            const T* dout_n = dout + n * Td * H;
            T *ds_n = ds.data() + n * Td * Tn, *denc_n = dhs_enc + n * Tn * H;
            const int64_t L = row_length(lengths, n, Tn);
            // the weighted sums' gradient to the weights, then through each softmax to the scores
            gemm<T>(false, true, Td, L, H, T(1), dout_n, H, hs_n, H, T(0), ds_n, L);
            for (int64_t j = 0; j < Td; ++j) softmax_backward_row(ds_n + j * L, a_n + j * Tn, ds_n + j * L, L);
            gemm<T>(true, false, L, H, Td, T(1), a_n, Tn, dout_n, H, T(0), denc_n, H);  // through the sums
            gemm<T>(true, false, L, H, Td, T(1), ds_n, L, dec_n, H, T(1), denc_n, H);   // through the scores
            zero_tail(denc_n, L * H, Tn * H);
            gemm<T>(false, false, Td, H, L, T(1), ds_n, L, hs_n, H, T(0), dhs_dec + n * Td * H, H);
        }
        return;
    }
    std::vector<T> ds(static_cast<size_t>(N * Tn));
    // Each n owns dhs_enc[n] (summed over decoder steps) and dhs_dec[n]: no race.
#pragma omp parallel for num_threads(nt) schedule(dynamic, kRowsPerChunk) if (should_parallelize(N * Td * Tn * H))
    for (int64_t n = 0; n < N; ++n)
        time_attention_backward_row(dhs_enc + n * Tn * H, dhs_dec + n * Td * H, ds.data() + n * Tn, hs_enc + n * Tn * H,
                                    hs_dec + n * Td * H, a + n * Td * Tn, dout + n * Td * H, Tn,
                                    row_length(lengths, n, Tn), Td, H);
}

#define ATTNCORE_INSTANTIATE(T)                                                                                   \
    template void attention_weight_forward<T>(T*, const T*, const T*, int64_t, int64_t, int64_t, const int64_t*); \
    template void attention_weight_backward<T>(T*, T*, const T*, const T*, const T*, const T*, int64_t, int64_t,  \
                                               int64_t, const int64_t*);                                          \
    template void weight_sum_forward<T>(T*, const T*, const T*, int64_t, int64_t, int64_t, const int64_t*);       \
    template void weight_sum_backward<T>(T*, T*, const T*, const T*, const T*, int64_t, int64_t, int64_t,         \
                                         const int64_t*);                                                         \
    template void time_attention_forward<T>(T*, T*, const T*, const T*, int64_t, int64_t, int64_t, int64_t,       \
                                            const int64_t*);                                                      \
    template void time_attention_backward<T>(T*, T*, const T*, const T*, const T*, const T*, int64_t, int64_t,    \
                                             int64_t, int64_t, const int64_t*);
ATTNCORE_INSTANTIATE(float)
ATTNCORE_INSTANTIATE(double)
#undef ATTNCORE_INSTANTIATE

}  // namespace attncore
