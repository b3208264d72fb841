// The fused recurrent step: the product with the step weights and the cell in
// one kernel, over weights packed once per call (float32 on x86-64 CPUs with
// AVX-512 or AVX2+FMA).
// Legend: N batch, T time, D input size, H hidden size, G = 4H.
//
// Per step and block of rows, the step's products ([x_t | h_prev] @ [Wx; Wh]
// for the LSTM, h_prev @ Wh[:, :2H] and (r * h_prev) @ Wh[:, 2H:] for the GRU,
// and their transposes backward) accumulate in registers, a tile of rows by
// one panel of the weights, packed once per call; then the same cell rows as
// the BLAS path. No BLAS call and no repacking inside the time loop. Rows are
// handed out to the threads in blocks of 12, dynamically, and each block runs
// through all T steps, so a thread that shares its core with another process
// does less of the work, and there is no barrier per step.
//
// The LSTM and GRU kernels call these when fused_applies says so; the BLAS
// path stays the fallback (double, other CPUs, small calls) and the reference
// the tests compare with.
#pragma once

#include <cstdint>
#include <string>

#include "isa.hpp"  // fma_peak_gflops

namespace attncore {

// The instruction set the fused kernels use on this CPU: "avx512", "avx2" or
// "none" (then the BLAS path runs everywhere).
const char* fused_isa();
// Use the kernels of another instruction set this CPU has ("avx2" on an
// AVX-512 CPU, for tests); false, changing nothing, for one it lacks.
bool set_fused_isa(const std::string& name);
// Turn the fused kernels off (false) or back on; for tests and benchmarks.
void set_fused_enabled(bool enabled);
bool fused_enabled();

// Whether the fused kernels are on and this CPU has them (the greedy decoder
// runs for any size: the loop it replaces pays Python's cost at every step).
bool fused_available();

// Whether the fused kernels run a call of this size (LSTM or GRU, forward or
// backward): enabled, a supported CPU, and at least kFusedMinRowSteps
// row-steps (N*T), so that packing the weights once costs less than it saves.
bool fused_applies(int64_t N, int64_t Tn, int64_t H);

// The LSTM forward over all steps (see lstm.hpp for the gates): hs (N,T,H);
// with gates non-null, gates (N,T,4H) after the nonlinearities and cs
// (N,T,H), as lstm_forward; with gates null, c (N,H) holds c0 on entry and
// the last cell state on return (cs is c), as lstm_inference_forward.
void fused_lstm_forward(float* hs, float* gates, float* cs, const float* xs, const float* Wx, const float* Wh,
                        const float* b, const float* h0, const float* c0, int64_t N, int64_t Tn, int64_t D, int64_t H);

// The GRU forward time loop (see gru.hpp): gates (N,T,3H) hold x @ Wx for
// every step on entry and z, r, h~ on return; hs (N,T,H). Per step and block,
// h_prev @ Wh[:, :2H] and (r * h_prev) @ Wh[:, 2H:] on the fused product.
void fused_gru_forward_steps(float* hs, float* gates, const float* Wh, const float* b, const float* h0, int64_t N,
                             int64_t Tn, int64_t H);

// The GRU backward time loop: dA (N,T,3H), dh0 (N,H) (dh_next on entry), rh
// (N,T,H) = r * h_prev for dWh; hprev (N,T,H) the state each step started from.
void fused_gru_backward_steps(float* dA, float* dh0, float* rh, const float* gates, const float* hprev,
                              const float* dhs, const float* Wh, int64_t N, int64_t Tn, int64_t H);

// The LSTM backward time loop (see lstm.hpp): for every step, last first, the
// cell backwards of each row into dA (N,T,4H), then dh = dA_t @ Wh.T on the
// fused product over Wh.T packed once. dh0 and dc0 (N,H) hold dh_next and
// dc_next on entry and the gradients of h0 and c0 on return. The weight
// gradients and dxs are the caller's (one BLAS product each over all rows).
void fused_lstm_backward_steps(float* dA, float* dh0, float* dc0, const float* gates, const float* cs, const float* c0,
                               const float* dhs, const float* Wh, int64_t N, int64_t Tn, int64_t H);

// The reset-after GRU's time loop (gru_reset_after.hpp): gates (N,T,4H) hold xs @ Wx in each row's first 3H
// on entry and z, r, n and h_prev @ Wh_n + bh_n of each step on return; Wh (H,3H), b (2,3H) -> hs (N,T,H).
// Per step and block, h_prev @ Wh on the fused product: one product per step.
void fused_gru_ra_forward(float* hs, float* gates, const float* Wh, const float* b, const float* h0, int64_t N,
                          int64_t Tn, int64_t H);

// Its backward time loop: dax and dah (N,T,3H) get the gradients of the input and of the recurrent
// products' outputs (the caller's BLAS turns them into dxs, dWx, dWh and the biases' gradients); dh0 (N,H)
// holds dh_next on entry and the gradient of h0 on return. Per step, dh = z * dh + dah_t @ Wh.T on the
// fused product over Wh.T packed once.
void fused_gru_ra_backward_steps(float* dax, float* dah, float* dh0, const float* gates, const float* h0,
                                 const float* hs, const float* dhs, const float* Wh, int64_t N, int64_t Tn, int64_t H);

// The weights of the attention decoder (attention_seq2seq.py's AttentionDecoder), all row-major float32.
struct DecoderWeights {
    const float* embed;        // (V_in, D), V_in >= V: the output's argmax is the next input
    const float *Wx, *Wh, *b;  // (D,G), (H,G), (G): G = 4H (LSTM: f, g, i, o) or 3H (gru: z, r, h~);
                               // the reset-after GRU's b is (2,G): input bias, recurrent bias
    const float *Wc, *bc;      // (2H,H), (H): the Luong layer tanh([c | h] @ Wc + bc), or both null
    const float *Wa, *ba;      // (F,V), (V): the output affine; F = H with the Luong layer, else 2H
    int64_t D, H, V;
    bool gru, reset_after;  // the cell: LSTM, the book's GRU or the reset-after GRU
    bool state_first;       // [h | c] into the Luong layer or the output (Keras's order), else [c | h]
};

// Greedy decoding of the attention decoder in one call, as its step loop in
// Python computes it: the state starts at h0 (N,H), or at enc_hs[:, T-1] when
// h0 is null (the book's decoder), the cell state at zero;
// each of the S steps embeds the last tokens (start_ids (N) first), runs the
// recurrent step, attends over each row's first lengths[n] encoder states
// (all T when lengths is null), feeds [context | h] (or [h | context]) to the Luong layer and the
// output affine, and takes the argmax. ids (N,S) get the tokens, weights
// (N,S,T) the attention weights of every step, h_last (N,H) and c_last (N,H,
// LSTM only) the final state. Blocks of rows go to the threads dynamically and
// run through every step, with the weights packed once. Callers check
// fused_available(), N, T, S, H >= 1, and ids in range.
void fused_attention_decode(int64_t* ids, float* weights, float* h_last, float* c_last, const float* enc_hs,
                            const int64_t* lengths, const int64_t* start_ids, const DecoderWeights& W, int64_t N,
                            int64_t Tn, int64_t S, const float* h0 = nullptr);

}  // namespace attncore
