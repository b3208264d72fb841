// The greedy attention decoder in one call (fused_attention_decode, declared in fused_step.hpp): blocks of
// rows, each through all S steps on the block product of the fused steps, the attention and the output's
// argmax between the products. The per-ISA block loop is fused_decode_isa.inc's.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iterator>

#include "attention_rows.hpp"
#include "fastmath.hpp"
#include "fused_blocks.hpp"
#include "fused_step.hpp"
#include "microkernel.hpp"
#include "recurrent_common.hpp"

namespace attncore {

namespace {

// What the greedy attention decoder reads and writes (see fused_attention_decode).
struct DecodeArgs {
    int64_t* ids;
    float *weights, *h_last, *c_last;
    const float *enc_hs, *h0;  // h0: the start state (N,H), or null for enc_hs[:, T-1]
    const int64_t *lengths, *start;
    const float *embed, *b, *bc, *ba;
    int64_t Tn, S, D, H, V;
    bool gru, reset_after, state_first;
};

// Its weights, packed once per call: the step's ([Wx; Wh] for the LSTM, Wx for the GRU), the GRU's
// Wh[:, :2H] and Wh[:, 2H:], the Luong layer's (null without it) and the output affine's.
struct DecodePacked {
    const float *step, *zr, *hh, *hidden, *out;
};

// One thread's scratch for a block of rows: see decode_block.
struct DecodeScratch {
    float *Ap, *pre, *h, *c, *ctx, *hid, *zr, *rh, *hh, *logits;
};

}  // namespace

}  // namespace attncore

#define FUSED_ISA_FILE "fused_decode_isa.inc"
#include "fused_per_isa.inc"

namespace attncore {

namespace {

template <class Ns>
void attention_decode_on(const DecodeArgs& s, const DecoderWeights& W, int64_t N) {
    const int64_t H = s.H, D = s.D, V = s.V, G = s.gru ? 3 * H : 4 * H, F = W.Wc ? H : 2 * H;
    auto packed = [](const float* B, int64_t K, int64_t C) {  // B (K,C), rows C apart
        auto Bp = scratch<float>(Ns::panels(C) * K * Ns::panel_width());
        Ns::pack_b(Bp.get(), K, 0, B, C, K, C, false);
        return Bp;
    };
    Buffer<float> step, zr, hh, hidden;
    if (s.reset_after) {
        step = packed(W.Wx, D, G);
        hh = packed(W.Wh, H, G);  // all of Wh: one product per step
    } else if (s.gru) {
        step = packed(W.Wx, D, G);
        zr = scratch<float>(Ns::panels(2 * H) * H * Ns::panel_width());
        Ns::pack_b(zr.get(), H, 0, W.Wh, G, H, 2 * H, false);  // Wh[:, :2H]
        hh = scratch<float>(Ns::panels(H) * H * Ns::panel_width());
        Ns::pack_b(hh.get(), H, 0, W.Wh + 2 * H, G, H, H, false);  // Wh[:, 2H:]
    } else {
        step = scratch<float>(Ns::panels(G) * (D + H) * Ns::panel_width());
        Ns::pack_b(step.get(), D + H, 0, W.Wx, G, D, G, false);
        Ns::pack_b(step.get(), D + H, D, W.Wh, G, H, G, false);
    }
    if (W.Wc) hidden = packed(W.Wc, 2 * H, H);
    auto out = packed(W.Wa, F, V);
    const DecodePacked P{step.get(), zr.get(), hh.get(), hidden.get(), out.get()};
    const int64_t R = kBlockRows, ap_n = R * std::max(D + H, 2 * H);
    // pre: R x G (R x 4H for the reset-after GRU, whose cell writes its 4H gates over its input products)
    const int64_t sizes[] = {ap_n, R * 4 * H, R * H, R * H, R * H, R * H, R * G, R * H, R * H, R * V};
    int64_t scratch_n = 0;
    for (int64_t n : sizes) scratch_n += Carve::size({n});
    const int64_t work = product_work(N * s.S, G + V + (W.Wc ? H : 0), D + H) + N * s.S * s.Tn * H;
    for_blocks(N, work, scratch_n, [&](int64_t n0, int64_t n1, float* mem) {
        Carve c{mem};
        DecodeScratch w;
        float** fields[] = {&w.Ap, &w.pre, &w.h, &w.c, &w.ctx, &w.hid, &w.zr, &w.rh, &w.hh, &w.logits};
        for (size_t i = 0; i < std::size(fields); ++i) *fields[i] = c.take(sizes[i]);
        Ns::decode_block(s, P, n0, n1, w);
    });
}

}  // namespace

void fused_attention_decode(int64_t* ids, float* weights, float* h_last, float* c_last, const float* enc_hs,
                            const int64_t* lengths, const int64_t* start_ids, const DecoderWeights& W, int64_t N,
                            int64_t Tn, int64_t S, const float* h0) {
    const DecodeArgs s{ids,  weights, h_last, c_last, enc_hs, h0,  lengths, start_ids, W.embed,       W.b,
                       W.bc, W.ba,    Tn,     S,      W.D,    W.H, W.V,     W.gru,     W.reset_after, W.state_first};
    ATTNCORE_DISPATCH(attention_decode_on<ns::Tag>(s, W, N));
    std::abort();
}

}  // namespace attncore
