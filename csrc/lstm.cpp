#include "lstm.hpp"

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "blas.hpp"
#include "fused_step.hpp"
#include "recurrent_common.hpp"

namespace attncore {

namespace {

// dWx (D,G), dWh (H,G), db (G) in one product [x | h_prev | 1]^T dA over all
// rows r = n*T + t, split by output columns between the threads; xh (N*T, D+H+1)
// holds the left operand. One product with K = N*T instead of three passes over dA.
template <class T>
void weight_gradients(T* dWx, T* dWh, T* db, const T* xh, const T* dA, int64_t R, int64_t D, int64_t H) {
    const int64_t G = 4 * H, L = D + H + 1;
    auto w = scratch<T>(L * G);
    gemm_parallel<T>(true, false, L, G, R, T(1), xh, L, dA, G, T(0), w.get(), G);
    copy_n(dWx, w.get(), D * G);
    copy_n(dWh, w.get() + D * G, H * G);
    copy_n(db, w.get() + (D + H) * G, G);
}

// Rows [rows.begin, rows.end) of xh = [x | h_prev | 1], (N*T, D+H+1).
template <class T>
void stack_inputs(T* xh, const T* xs, const T* hs, const T* h0, Range rows, int64_t Tn, int64_t D, int64_t H) {
    const int64_t L = D + H + 1;
    for (int64_t n = rows.begin; n < rows.end; ++n)
        for (int64_t t = 0; t < Tn; ++t) {
            const int64_t r = n * Tn + t;
            T* row = xh + r * L;
            if (D) std::memcpy(row, xs + r * D, sizeof(T) * D);
            if (H) std::memcpy(row + D, t == 0 ? h0 + n * H : hs + (r - 1) * H, sizeof(T) * H);
            row[D + H] = T(1);
        }
}

// Blocks of fewer than kSmallBlock rows add x @ Wx and h @ Wh in two products
// rather than one product [x | h] @ [Wx; Wh]: measured at N=1, the stacked
// product was 12% slower than xs @ Wx for all steps at once followed by h @ Wh
// per step, and stacking the weights (1 MB at H=256) on every one-step
// decoding call made the book's one-row evaluation 3x slower.

// The weights of one step: W ((D+H), G) = [Wx; Wh] when the blocks are big
// enough to stack (made once per call), else empty.
template <class T>
struct StepWeights {
    const T *Wx, *Wh;
    int64_t D, H;
    Buffer<T> W;

    StepWeights(const T* Wx_, const T* Wh_, int64_t D_, int64_t H_, int64_t block_rows)
        : Wx(Wx_), Wh(Wh_), D(D_), H(H_) {
        if (block_rows < kSmallBlock) return;
        const int64_t G = 4 * H;
        W = scratch<T>((D + H) * G);
        if (D * G > 0) std::memcpy(W.get(), Wx, sizeof(T) * D * G);
        if (H * G > 0) std::memcpy(W.get() + D * G, Wh, sizeof(T) * H * G);
    }
    bool stacked() const { return W != nullptr; }

    // a (nr rows, row stride lda) = x @ Wx + h @ Wh for nr rows of x (row stride
    // ldx) and h (row stride ldh); stacked, one product [x | h] @ W with xh
    // (nr, D+H) as scratch instead of x @ Wx (K = D, bound by writing a) plus
    // h @ Wh added to it.
    void preactivations(T* a, int64_t lda, T* xh, const T* x, int64_t ldx, const T* h, int64_t ldh, int64_t nr) const {
        const int64_t G = 4 * H, L = D + H;
        if (!stacked()) {
            gemm<T>(false, false, nr, G, D, T(1), x, ldx, Wx, G, T(0), a, lda);
            gemm<T>(false, false, nr, G, H, T(1), h, ldh, Wh, G, T(1), a, lda);
            return;
        }
        for (int64_t r = 0; r < nr; ++r) {
            if (D) std::memcpy(xh + r * L, x + r * ldx, sizeof(T) * D);
            if (H) std::memcpy(xh + r * L + D, h + r * ldh, sizeof(T) * H);
        }
        gemm<T>(false, false, nr, G, L, T(1), xh, L, W.get(), G, T(0), a, lda);
    }
};

}  // namespace

// Each thread takes a block of batch rows through all T steps: per step, its
// rows' [x_t | h_prev] @ [Wx; Wh] and gate loop (small blocks: xs @ Wx for all
// steps first, h @ Wh per step). Rows never meet, so there is no barrier
// between steps.
template <class T>
void lstm_forward(T* hs, T* gates, T* cs, const T* xs, const T* Wx, const T* Wh, const T* b, const T* h0, const T* c0,
                  int64_t N, int64_t Tn, int64_t D, int64_t H) {
    // hs, cs are (N,T,H), gates is (N,T,4H); xs is (N,T,D), h0, c0 are (N,H)
    if constexpr (std::is_same_v<T, float>) {
        if (fused_applies(N, Tn, H)) return fused_lstm_forward(hs, gates, cs, xs, Wx, Wh, b, h0, c0, N, Tn, D, H);
    }
    const int64_t G = 4 * H;
    const int nt = row_threads(N, Tn * G * (D + H));
    const StepWeights<T> w(Wx, Wh, D, H, N / nt);
#pragma omp parallel num_threads(nt)
    {
        const Range rows = block_of(N);
        const int64_t n0 = rows.begin, nr = rows.size();
        auto xh = scratch<T>(w.stacked() ? nr * (D + H) : 0);
        if (!w.stacked())  // this block's x @ Wx for all steps at once
            gemm<T>(false, false, nr * Tn, G, D, T(1), xs + n0 * Tn * D, D, Wx, G, T(0), gates + n0 * Tn * G, G);
        for (int64_t t = 0; nr > 0 && t < Tn; ++t) {
            const T* h_prev = t == 0 ? h0 + n0 * H : hs + (n0 * Tn + t - 1) * H;
            const int64_t ld_h = t == 0 ? H : Tn * H;
            if (w.stacked())
                w.preactivations(gates + (n0 * Tn + t) * G, Tn * G, xh.get(), xs + (n0 * Tn + t) * D, Tn * D, h_prev,
                                 ld_h, nr);
            else
                gemm<T>(false, false, nr, G, H, T(1), h_prev, ld_h, Wh, G, T(1), gates + (n0 * Tn + t) * G, Tn * G);
            for (int64_t n = n0; n < rows.end; ++n) {
                const T* c_prev = t == 0 ? c0 + n * H : cs + (n * Tn + t - 1) * H;
                lstm_cell_row(gates + (n * Tn + t) * G, cs + (n * Tn + t) * H, hs + (n * Tn + t) * H, c_prev, b, H);
            }
        }
    }
}

template <class T>
void lstm_inference_forward(T* hs, T* c, const T* xs, const T* Wx, const T* Wh, const T* b, const T* h0, const T* c0,
                            int64_t N, int64_t Tn, int64_t D, int64_t H) {
    // hs is (N,T,H), c is (N,H); xs is (N,T,D), h0, c0 are (N,H)
    const int64_t G = 4 * H;
    if (N * H > 0) std::copy(c0, c0 + N * H, c);
    if constexpr (std::is_same_v<T, float>) {
        if (fused_applies(N, Tn, H)) return fused_lstm_forward(hs, nullptr, c, xs, Wx, Wh, b, h0, c, N, Tn, D, H);
    }
    const int nt = row_threads(N, Tn * G * (D + H));
    const StepWeights<T> w(Wx, Wh, D, H, N / nt);
#pragma omp parallel num_threads(nt)
    {
        const Range rows = block_of(N);
        const int64_t n0 = rows.begin, nr = rows.size();
        auto a = scratch<T>(nr * G);  // this block's pre-activations of one step
        auto xh = scratch<T>(w.stacked() ? nr * (D + H) : 0);
        for (int64_t t = 0; nr > 0 && t < Tn; ++t) {
            const T* h_prev = t == 0 ? h0 + n0 * H : hs + (n0 * Tn + t - 1) * H;
            const int64_t ld_h = t == 0 ? H : Tn * H;
            w.preactivations(a.get(), G, xh.get(), xs + (n0 * Tn + t) * D, Tn * D, h_prev, ld_h, nr);
            for (int64_t n = n0; n < rows.end; ++n)  // c is both the previous and the new cell state
                lstm_cell_row(a.get() + (n - n0) * G, c + n * H, hs + (n * Tn + t) * H, c + n * H, b, H);
        }
    }
}

// The backward time loop runs per block of rows like the forward (dh, dc of a
// row depend only on that row), and each thread also computes its rows of dxs
// and of the stacked inputs; the weight gradients, sums over all rows, follow
// as one product split by output columns.
template <class T>
void lstm_backward(T* dxs, T* dWx, T* dWh, T* db, T* dh0, T* dc0, const T* hs, const T* gates, const T* cs, const T* xs,
                   const T* Wx, const T* Wh, const T* h0, const T* c0, const T* dhs, const T* dh_next, const T* dc_next,
                   int64_t N, int64_t Tn, int64_t D, int64_t H) {
    // dxs is (N,T,D), dWx (D,4H), dWh (H,4H), db (4H), dh0, dc0 (N,H); dhs is (N,T,H)
    const int64_t G = 4 * H, L = D + H + 1;
    auto dA_buf = scratch<T>(N * Tn * G);  // every element is written by the step loop before it is read
    auto xh_buf = scratch<T>(N * Tn * L);
    T *dA = dA_buf.get(), *xh = xh_buf.get();
    const int nt = row_threads(N, Tn * G * (D + 2 * H));
    if constexpr (std::is_same_v<T, float>) {
        if (fused_applies(N, Tn, H)) {  // the time loop on the fused step, then dxs and xh per block
            if (N * H > 0) {
                std::copy(dh_next, dh_next + N * H, dh0);
                std::copy(dc_next, dc_next + N * H, dc0);
            }
            fused_lstm_backward_steps(dA, dh0, dc0, gates, cs, c0, dhs, Wh, N, Tn, H);
            const int64_t rows = dynamic_chunk(N, nt);  // dxs and xh in blocks of rows, handed out dynamically
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
            for (int64_t n0 = 0; n0 < N; n0 += rows) {
                const Range block{n0, std::min(N, n0 + rows)};
                gemm<T>(false, true, block.size() * Tn, D, G, T(1), dA + n0 * Tn * G, G, Wx, G, T(0), dxs + n0 * Tn * D,
                        D);
                stack_inputs(xh, xs, hs, h0, block, Tn, D, H);
            }
            weight_gradients(dWx, dWh, db, xh, dA, N * Tn, D, H);
            return;
        }
    }
    BackwardWeights<T> w(Wh, H, G, N / nt);
#pragma omp parallel num_threads(nt)
    {
        w.transpose();
#pragma omp barrier
        const Range rows = block_of(N);
        const int64_t n0 = rows.begin, nr = rows.size();
        if (nr * H > 0) {  // dh0 and dc0 carry the state gradient backwards
            std::copy(dh_next + n0 * H, dh_next + rows.end * H, dh0 + n0 * H);
            std::copy(dc_next + n0 * H, dc_next + rows.end * H, dc0 + n0 * H);
        }
        for (int64_t t = Tn - 1; nr > 0 && t >= 0; --t) {
            for (int64_t n = n0; n < rows.end; ++n) {
                const T* c_prev = t == 0 ? c0 + n * H : cs + (n * Tn + t - 1) * H;
                lstm_cell_backward_row(dA + (n * Tn + t) * G, dh0 + n * H, dc0 + n * H, gates + (n * Tn + t) * G,
                                       cs + (n * Tn + t) * H, c_prev, dhs + (n * Tn + t) * H, H);
            }
            w.dh(nr, 0, G, dA + (n0 * Tn + t) * G, Tn * G, T(0), dh0 + n0 * H);
        }
        gemm<T>(false, true, nr * Tn, D, G, T(1), dA + n0 * Tn * G, G, Wx, G, T(0), dxs + n0 * Tn * D, D);
        stack_inputs(xh, xs, hs, h0, rows, Tn, D, H);
    }
    weight_gradients(dWx, dWh, db, xh, dA, N * Tn, D, H);
}

template void lstm_forward<float>(float*, float*, float*, const float*, const float*, const float*, const float*,
                                  const float*, const float*, int64_t, int64_t, int64_t, int64_t);
template void lstm_forward<double>(double*, double*, double*, const double*, const double*, const double*,
                                   const double*, const double*, const double*, int64_t, int64_t, int64_t, int64_t);
template void lstm_inference_forward<float>(float*, float*, const float*, const float*, const float*, const float*,
                                            const float*, const float*, int64_t, int64_t, int64_t, int64_t);
template void lstm_inference_forward<double>(double*, double*, const double*, const double*, const double*,
                                             const double*, const double*, const double*, int64_t, int64_t, int64_t,
                                             int64_t);
template void lstm_backward<float>(float*, float*, float*, float*, float*, float*, const float*, const float*,
                                   const float*, const float*, const float*, const float*, const float*, const float*,
                                   const float*, const float*, const float*, int64_t, int64_t, int64_t, int64_t);
template void lstm_backward<double>(double*, double*, double*, double*, double*, double*, const double*, const double*,
                                    const double*, const double*, const double*, const double*, const double*,
                                    const double*, const double*, const double*, const double*, int64_t, int64_t,
                                    int64_t, int64_t);

}  // namespace attncore
