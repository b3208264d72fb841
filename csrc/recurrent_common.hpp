// Helpers shared by the LSTM and GRU kernels.
// Legend: N batch, T time, D input size, H hidden size, G gate width (4H or 3H).
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>

#include "blas.hpp"
#include "fastmath.hpp"
#include "memory.hpp"
#include "parallel.hpp"
#include "vector.hpp"

namespace attncore {

// The row bodies of the cells, forward and backward: always inlined, so each caller vectorizes them at its
// own width (the fused kernels' AVX-512 builds use 512-bit vectors; the element results are the same at
// every width). The BLAS path calls the *_row wrappers after them.
namespace row_ops {

// The LSTM cell on one row of one step: a (4H) holds x@Wx + h@Wh on entry, the gates
// after; c and h get the new states (c may be c_prev). Both forward paths use it.
template <class T>
ATTNCORE_INLINE void lstm_cell(T* a, T* c, T* h, const T* c_prev, const T* b, int64_t H) {
#pragma omp simd
    for (int64_t k = 0; k < H; ++k) {
        const T f = fast_sigmoid(a[k] + b[k]);
        const T g = fast_tanh(a[H + k] + b[H + k]);
        const T i = fast_sigmoid(a[2 * H + k] + b[2 * H + k]);
        const T o = fast_sigmoid(a[3 * H + k] + b[3 * H + k]);
        a[k] = f;
        a[H + k] = g;
        a[2 * H + k] = i;
        a[3 * H + k] = o;
        c[k] = f * c_prev[k] + g * i;
        h[k] = o * fast_tanh(c[k]);
    }
}

// The LSTM cell backwards on one row of one step: da (4H) gets the gradient of the
// pre-activations; dh, dc carry the state gradient in and out. Both backward paths use it.
template <class T>
ATTNCORE_INLINE void lstm_cell_backward(T* da, T* dh, T* dc, const T* a, const T* c, const T* c_prev, const T* dh_t,
                                        int64_t H) {
#pragma omp simd
    for (int64_t k = 0; k < H; ++k) {
        const T f = a[k], g = a[H + k], i = a[2 * H + k], o = a[3 * H + k];
        const T dhk = dh_t[k] + dh[k];
        const T tc = fast_tanh(c[k]);
        const T ds = dc[k] + dhk * o * (T(1) - tc * tc);
        dc[k] = ds * f;
        da[k] = ds * c_prev[k] * f * (T(1) - f);
        da[H + k] = ds * i * (T(1) - g * g);
        da[2 * H + k] = ds * g * i * (T(1) - i);
        da[3 * H + k] = dhk * tc * o * (T(1) - o);
    }
}

// The GRU's z and r gates on one row of one step: a (3H) holds x @ Wx on entry, zr (2H) h_prev @ Wh[:, :2H];
// a[:2H] gets z, r and rh = r * h_prev. Both GRU paths use these four rows.
template <class T>
ATTNCORE_INLINE void gru_gates(T* a, T* rh, const T* zr, const T* hp, const T* b, int64_t H) {
#pragma omp simd
    for (int64_t k = 0; k < H; ++k) {
        a[k] = fast_sigmoid(a[k] + zr[k] + b[k]);
        a[H + k] = fast_sigmoid(a[H + k] + zr[H + k] + b[H + k]);
        rh[k] = a[H + k] * hp[k];
    }
}

// The GRU's candidate and new state on one row: hh (H) = (r * h_prev) @ Wh[:, 2H:]; a[2H:] gets h~.
template <class T>
ATTNCORE_INLINE void gru_candidate(T* a, T* h, const T* hh, const T* hp, const T* b, int64_t H) {
#pragma omp simd
    for (int64_t k = 0; k < H; ++k) {
        const T cand = fast_tanh(a[2 * H + k] + hh[k] + b[2 * H + k]);
        a[2 * H + k] = cand;
        h[k] = (T(1) - a[k]) * hp[k] + a[k] * cand;
    }
}

// GRU backward, one row of one step, before the products: da[:H] (z) and da[2H:] (h~) from dh_t + dh;
// dh becomes the direct path's share (1 - z) * dh (the gate paths are added after).
template <class T>
ATTNCORE_INLINE void gru_backward_direct(T* da, T* dh, const T* a, const T* hp, const T* dh_t, int64_t H) {
#pragma omp simd
    for (int64_t k = 0; k < H; ++k) {
        const T z = a[k], cand = a[2 * H + k];
        const T dhk = dh_t[k] + dh[k];
        da[k] = dhk * (cand - hp[k]) * z * (T(1) - z);
        da[2 * H + k] = dhk * z * (T(1) - cand * cand);
        dh[k] = dhk * (T(1) - z);
    }
}

// GRU backward, the reset path: dhr (H) = d(r * h_prev) = dh~_pre @ Wh[:, 2H:].T; adds r * dhr to dh, sets
// da[H:2H] (r) and rh_t = r * h_prev (for dWh).
template <class T>
ATTNCORE_INLINE void gru_backward_reset(T* da, T* dh, T* rh_t, const T* a, const T* hp, const T* dhr, int64_t H) {
#pragma omp simd
    for (int64_t k = 0; k < H; ++k) {
        const T r = a[H + k], d = dhr[k];
        dh[k] += r * d;
        da[H + k] = d * hp[k] * r * (T(1) - r);
        rh_t[k] = r * hp[k];
    }
}

// The reset-after GRU (Keras's and PyTorch's; attncore/reset_after.py) on one row of one step: xw (3H) =
// x @ Wx, hw (3H) = h_prev @ Wh, b (2,3H) the input and the recurrent bias; g (4H) gets z, r, n and hn =
// h_prev @ Wh_n + bh_n; h the new state. g may be xw (rows of 4H; the decoder computes in place) and h may
// be hp: each k reads and writes only its own elements.
template <class T>
ATTNCORE_INLINE void gru_ra_cell(T* g, T* h, const T* xw, const T* hw, const T* hp, const T* b, int64_t H) {
    const T *bx = b, *bh = b + 3 * H;
#pragma omp simd
    for (int64_t k = 0; k < H; ++k) {
        const T z = fast_sigmoid(xw[k] + bx[k] + hw[k] + bh[k]);
        const T r = fast_sigmoid(xw[H + k] + bx[H + k] + hw[H + k] + bh[H + k]);
        const T hn = hw[2 * H + k] + bh[2 * H + k];
        const T n = fast_tanh(xw[2 * H + k] + bx[2 * H + k] + r * hn);
        g[k] = z;
        g[H + k] = r;
        g[2 * H + k] = n;
        g[3 * H + k] = hn;
        h[k] = z * hp[k] + (T(1) - z) * n;
    }
}

// The reset-after GRU backwards on one row of one step, before the product: dax (3H) gets the gradient
// of x @ Wx + bx, dah (3H) that of h_prev @ Wh + bh, from dh_t + dh; dh becomes the direct path's share
// z * (dh_t + dh) (dah @ Wh.T is added after).
template <class T>
ATTNCORE_INLINE void gru_ra_cell_backward(T* dax, T* dah, T* dh, const T* g, const T* hp, const T* dh_t, int64_t H) {
#pragma omp simd
    for (int64_t k = 0; k < H; ++k) {
        const T z = g[k], r = g[H + k], n = g[2 * H + k], hn = g[3 * H + k];
        const T d = dh_t[k] + dh[k];
        const T dn = d * (T(1) - z) * (T(1) - n * n);
        const T dz = d * (hp[k] - n) * z * (T(1) - z);
        const T dr = dn * hn * r * (T(1) - r);
        dax[k] = dah[k] = dz;
        dax[H + k] = dah[H + k] = dr;
        dax[2 * H + k] = dn;
        dah[2 * H + k] = dn * r;
        dh[k] = d * z;
    }
}

}  // namespace row_ops

// The BLAS path's entry points: compiled for AVX-512, AVX2 and baseline x86-64, chosen at load time
// (internal linkage: each file gets its own target_clones resolver).
namespace {
template <class T>
ATTNCORE_SIMD_CLONES void lstm_cell_row(T* a, T* c, T* h, const T* c_prev, const T* b, int64_t H) {
    row_ops::lstm_cell(a, c, h, c_prev, b, H);
}

template <class T>
ATTNCORE_SIMD_CLONES void lstm_cell_backward_row(T* da, T* dh, T* dc, const T* a, const T* c, const T* c_prev,
                                                 const T* dh_t, int64_t H) {
    row_ops::lstm_cell_backward(da, dh, dc, a, c, c_prev, dh_t, H);
}

template <class T>
ATTNCORE_SIMD_CLONES void gru_gates_row(T* a, T* rh, const T* zr, const T* hp, const T* b, int64_t H) {
    row_ops::gru_gates(a, rh, zr, hp, b, H);
}

template <class T>
ATTNCORE_SIMD_CLONES void gru_candidate_row(T* a, T* h, const T* hh, const T* hp, const T* b, int64_t H) {
    row_ops::gru_candidate(a, h, hh, hp, b, H);
}

template <class T>
ATTNCORE_SIMD_CLONES void gru_backward_direct_row(T* da, T* dh, const T* a, const T* hp, const T* dh_t, int64_t H) {
    row_ops::gru_backward_direct(da, dh, a, hp, dh_t, H);
}

template <class T>
ATTNCORE_SIMD_CLONES void gru_backward_reset_row(T* da, T* dh, T* rh_t, const T* a, const T* hp, const T* dhr,
                                                 int64_t H) {
    row_ops::gru_backward_reset(da, dh, rh_t, a, hp, dhr, H);
}
}  // namespace

// Threads for a time loop over N independent rows, about `work` multiply-adds
// per row: each thread runs its own block of rows through every step (the
// product and the gate loop), so the loop has no barrier per step.
inline int row_threads(int64_t N, int64_t work) {
    const int nt = get_num_threads();
    if (nt == 1 || N < 2 || !should_parallelize(product_work(N, work, 1))) return 1;
    return nt < N ? nt : static_cast<int>(N);
}

// Row blocks smaller than this skip the copies that speed up bigger products
// (stacked weights, Wh.T): a one-row product is a ?gemv, which reads Wh's rows
// as they are, and the copy costs more than it saves.
constexpr int64_t kSmallBlock = 8;

// Wh (H,G) as the right operand of dA @ Wh.T in a backward time loop. For big
// row blocks a contiguous copy WT = Wh.T (G,H) is made once per call: OpenBLAS
// took 25% longer per step on the transposed operand. Construct outside the
// parallel region, call transpose() from every thread of it, then a barrier.
template <class T>
struct BackwardWeights {
    const T* Wh;
    int64_t H, G;
    Buffer<T> WT;

    BackwardWeights(const T* Wh_, int64_t H_, int64_t G_, int64_t block_rows) : Wh(Wh_), H(H_), G(G_) {
        if (block_rows >= kSmallBlock) WT = scratch<T>(G * H);
    }

    // This thread's share of the rows of WT.
    void transpose() {
        if (!WT) return;
        const Range cols = block_of(G, 16);
        constexpr int64_t B = 32;
        for (int64_t g0 = cols.begin; g0 < cols.end; g0 += B)
            for (int64_t k0 = 0; k0 < H; k0 += B) {
                const int64_t g1 = g0 + B < cols.end ? g0 + B : cols.end, k1 = k0 + B < H ? k0 + B : H;
                for (int64_t g = g0; g < g1; ++g)
                    for (int64_t k = k0; k < k1; ++k) WT[g * H + k] = Wh[k * G + g];
            }
    }

    // out (nr,H) = beta * out + dA (nr,K) @ Wh[:, c0:c0+K].T; dA's rows lda apart.
    void dh(int64_t nr, int64_t c0, int64_t K, const T* dA, int64_t lda, T beta, T* out) const {
        if (WT)
            gemm<T>(false, false, nr, H, K, T(1), dA, lda, WT.get() + c0 * H, H, beta, out, H);
        else
            gemm<T>(false, true, nr, H, K, T(1), dA, lda, Wh + c0, G, beta, out, H);
    }
};

// hprev rows [rows.begin, rows.end) of (N,T,H): the state each step started
// from: h0 at t = 0, hs[:, t-1] after.
template <class T>
void previous_states(T* hprev, const T* hs, const T* h0, Range rows, int64_t Tn, int64_t H) {
    if (Tn == 0 || H == 0) return;
    for (int64_t n = rows.begin; n < rows.end; ++n) {
        std::memcpy(hprev + n * Tn * H, h0 + n * H, sizeof(T) * H);
        if (Tn > 1) std::memcpy(hprev + (n * Tn + 1) * H, hs + n * Tn * H, sizeof(T) * (Tn - 1) * H);
    }
}

}  // namespace attncore
