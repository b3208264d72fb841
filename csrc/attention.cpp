#include "attention.hpp"

#include <vector>

#include "parallel.hpp"
#include "softmax.hpp"

namespace attncore {

namespace {

// a_row (T) = softmax over t of hs_n[t,:] . q (H)
template <class T>
inline void scores_softmax(T* a_row, const T* hs_n, const T* q, int64_t Tn, int64_t H) {
    for (int64_t t = 0; t < Tn; ++t) a_row[t] = dot(hs_n + t * H, q, H);
    softmax_row(a_row, a_row, Tn);
}

// c (H) = sum_t a_row[t] * hs_n[t,:]
template <class T>
inline void weighted_sum(T* c, const T* hs_n, const T* a_row, int64_t Tn, int64_t H) {
    scale_into(c, a_row[0], hs_n, H);
    for (int64_t t = 1; t < Tn; ++t) axpy(c, a_row[t], hs_n + t * H, H);
}

}  // namespace

template <class T>
void attention_weight_forward(T* a, const T* hs, const T* h, int64_t N, int64_t Tn, int64_t H) {
    // a is (N,T); hs is (N,T,H), h is (N,H)
    const int nt = get_num_threads();
#pragma omp parallel for num_threads(nt) schedule(static) if (N > 1)
    for (int64_t n = 0; n < N; ++n) scores_softmax(a + n * Tn, hs + n * Tn * H, h + n * H, Tn, H);
}

template <class T>
void attention_weight_backward(T* dhs, T* dh, const T* hs, const T* h, const T* a, const T* da,
                               int64_t N, int64_t Tn, int64_t H) {
    // dhs is (N,T,H), dh is (N,H); hs is (N,T,H), h is (N,H); a, da are (N,T)
    std::vector<T> ds(static_cast<size_t>(N * Tn));
    const int nt = get_num_threads();
#pragma omp parallel for num_threads(nt) schedule(static) if (N > 1)
    for (int64_t n = 0; n < N; ++n) {
        const T* hs_n = hs + n * Tn * H;
        const T* h_n = h + n * H;
        T* ds_n = ds.data() + n * Tn;
        T* dhs_n = dhs + n * Tn * H;
        T* dh_n = dh + n * H;
        softmax_backward_row(ds_n, a + n * Tn, da + n * Tn, Tn);
        for (int64_t t = 0; t < Tn; ++t) scale_into(dhs_n + t * H, ds_n[t], h_n, H);
        for (int64_t k = 0; k < H; ++k) dh_n[k] = 0;
        for (int64_t t = 0; t < Tn; ++t) axpy(dh_n, ds_n[t], hs_n + t * H, H);
    }
}

template <class T>
void weight_sum_forward(T* c, const T* hs, const T* a, int64_t N, int64_t Tn, int64_t H) {
    // c is (N,H); hs is (N,T,H), a is (N,T)
    const int nt = get_num_threads();
#pragma omp parallel for num_threads(nt) schedule(static) if (N > 1)
    for (int64_t n = 0; n < N; ++n) weighted_sum(c + n * H, hs + n * Tn * H, a + n * Tn, Tn, H);
}

template <class T>
void weight_sum_backward(T* dhs, T* da, const T* hs, const T* a, const T* dc, int64_t N, int64_t Tn,
                         int64_t H) {
    // dhs is (N,T,H), da is (N,T); hs is (N,T,H), a is (N,T), dc is (N,H)
    const int nt = get_num_threads();
#pragma omp parallel for num_threads(nt) schedule(static) if (N > 1)
    for (int64_t n = 0; n < N; ++n) {
        const T* hs_n = hs + n * Tn * H;
        const T* dc_n = dc + n * H;
        for (int64_t t = 0; t < Tn; ++t) {
            scale_into(dhs + (n * Tn + t) * H, a[n * Tn + t], dc_n, H);
            da[n * Tn + t] = dot(dc_n, hs_n + t * H, H);
        }
    }
}

template <class T>
void time_attention_forward(T* out, T* a, const T* hs_enc, const T* hs_dec, int64_t N, int64_t Tn,
                            int64_t Td, int64_t H) {
    // out is (N,Td,H), a is (N,Td,T); hs_enc is (N,T,H), hs_dec is (N,Td,H)
    const int nt = get_num_threads();
    // Each (n, j) owns out[n,j,:] and a[n,j,:].
#pragma omp parallel for collapse(2) num_threads(nt) schedule(static) if (N * Td > 1)
    for (int64_t n = 0; n < N; ++n) {
        for (int64_t j = 0; j < Td; ++j) {
            const T* hs_n = hs_enc + n * Tn * H;
            T* a_nj = a + (n * Td + j) * Tn;
            scores_softmax(a_nj, hs_n, hs_dec + (n * Td + j) * H, Tn, H);
            weighted_sum(out + (n * Td + j) * H, hs_n, a_nj, Tn, H);
        }
    }
}

template <class T>
void time_attention_backward(T* dhs_enc, T* dhs_dec, const T* hs_enc, const T* hs_dec, const T* a,
                             const T* dout, int64_t N, int64_t Tn, int64_t Td, int64_t H) {
    // dhs_enc is (N,T,H), dhs_dec is (N,Td,H); hs_enc is (N,T,H), hs_dec is (N,Td,H),
    // a is (N,Td,T), dout is (N,Td,H)
    std::vector<T> ds(static_cast<size_t>(N * Tn));
    const int nt = get_num_threads();
    // Each n owns dhs_enc[n] (summed over decoder steps) and dhs_dec[n]: no race.
#pragma omp parallel for num_threads(nt) schedule(static) if (N > 1)
    for (int64_t n = 0; n < N; ++n) {
        const T* hs_n = hs_enc + n * Tn * H;
        T* dhs_enc_n = dhs_enc + n * Tn * H;
        T* ds_n = ds.data() + n * Tn;
        for (int64_t i = 0; i < Tn * H; ++i) dhs_enc_n[i] = 0;
        for (int64_t j = 0; j < Td; ++j) {
            const T* a_nj = a + (n * Td + j) * Tn;
            const T* dout_nj = dout + (n * Td + j) * H;
            const T* q = hs_dec + (n * Td + j) * H;
            T* dq = dhs_dec + (n * Td + j) * H;
            // weighted sum: d a[t] = dout . hs[t]; d hs[t] += a[t] * dout
            for (int64_t t = 0; t < Tn; ++t) {
                ds_n[t] = dot(dout_nj, hs_n + t * H, H);
                axpy(dhs_enc_n + t * H, a_nj[t], dout_nj, H);
            }
            // softmax, then the scores: d hs[t] += ds[t] * q; dq = sum_t ds[t] * hs[t]
            softmax_backward_row(ds_n, a_nj, ds_n, Tn);
            for (int64_t k = 0; k < H; ++k) dq[k] = 0;
            for (int64_t t = 0; t < Tn; ++t) {
                axpy(dhs_enc_n + t * H, ds_n[t], q, H);
                axpy(dq, ds_n[t], hs_n + t * H, H);
            }
        }
    }
}

#define ATTNCORE_INSTANTIATE(T)                                                                   \
    template void attention_weight_forward<T>(T*, const T*, const T*, int64_t, int64_t, int64_t); \
    template void attention_weight_backward<T>(T*, T*, const T*, const T*, const T*, const T*,    \
                                               int64_t, int64_t, int64_t);                        \
    template void weight_sum_forward<T>(T*, const T*, const T*, int64_t, int64_t, int64_t);       \
    template void weight_sum_backward<T>(T*, T*, const T*, const T*, const T*, int64_t, int64_t,  \
                                         int64_t);                                                \
    template void time_attention_forward<T>(T*, T*, const T*, const T*, int64_t, int64_t,         \
                                            int64_t, int64_t);                                    \
    template void time_attention_backward<T>(T*, T*, const T*, const T*, const T*, const T*,      \
                                             int64_t, int64_t, int64_t, int64_t);
ATTNCORE_INSTANTIATE(float)
ATTNCORE_INSTANTIATE(double)
#undef ATTNCORE_INSTANTIATE

}  // namespace attncore
