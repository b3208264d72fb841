// The fused recurrent steps (fused_step.hpp): for each cell, forward and backward, the step's weights packed
// once per call into the microkernel's panels, then blocks of rows through all T steps on attncore's
// threads; the block loops of each instruction set are fused_step_isa.inc's.
#include "fused_step.hpp"

#include <atomic>
#include <cstdlib>
#include <string>

#include "fused_blocks.hpp"
#include "microkernel.hpp"
#include "recurrent_common.hpp"

namespace attncore {

namespace {

// What the LSTM forward reads and writes (see fused_lstm_forward).
struct StepArgs {
    float *hs, *gates, *cs;
    const float *xs, *b, *h0, *c0;
    int64_t Tn, D, H;
};

// What the LSTM backward time loop reads and writes (see fused_lstm_backward_steps).
struct BackArgs {
    float *dA, *dh0, *dc0;
    const float *gates, *cs, *c0, *dhs;
    int64_t Tn, H;
};

// The GRU forward's (see fused_gru_forward_steps).
struct GruArgs {
    float *hs, *gates;
    const float *b, *h0;
    int64_t Tn, H;
};

// The GRU backward time loop's (see fused_gru_backward_steps).
struct GruBackArgs {
    float *dA, *dh0, *rh;
    const float *gates, *hprev, *dhs;
    int64_t Tn, H;
};

// The reset-after GRU forward's (see fused_gru_ra_forward).
struct GruRaArgs {
    float *hs, *gates;
    const float *b, *h0;
    int64_t Tn, H;
};

// Its backward time loop's (see fused_gru_ra_backward_steps).
struct GruRaBackArgs {
    float *dax, *dah, *dh0;
    const float *gates, *h0, *hs, *dhs;
    int64_t Tn, H;
};

std::atomic<bool> g_enabled{true};

}  // namespace

}  // namespace attncore

#define FUSED_ISA_FILE "fused_step_isa.inc"
#include "fused_per_isa.inc"

namespace attncore {

namespace {

// Row-steps (N*T) below which the BLAS path runs: packing the weights costs
// about as much as one pass over them, so a call of few row-steps (decoding
// one row, the book's one-row evaluation) would spend more on packing than the
// fused kernel saves.
constexpr int64_t kFusedMinRowSteps = 32;

}  // namespace

const char* fused_isa() { return isa_name(current_isa()); }

void set_fused_enabled(bool enabled) { g_enabled.store(enabled); }

bool set_fused_isa(const std::string& name) { return set_isa(name); }

bool fused_enabled() { return g_enabled.load(); }

bool fused_available() { return current_isa() != Isa::none && g_enabled.load(); }

bool fused_applies(int64_t N, int64_t Tn, int64_t H) {
    return fused_available() && H > 0 && N * Tn >= kFusedMinRowSteps;
}

namespace {

template <class Ns>
void lstm_forward_on(const StepArgs& s, const float* Wx, const float* Wh, int64_t N) {
    const int64_t K = s.D + s.H, G = 4 * s.H, P = Ns::panels(G);
    auto Bp = scratch<float>(P * K * Ns::panel_width());
    Ns::pack_b(Bp.get(), K, 0, Wx, G, s.D, G, false);
    Ns::pack_b(Bp.get(), K, s.D, Wh, G, s.H, G, false);
    const float* B = Bp.get();
    const int64_t pre_n = s.gates ? 0 : kBlockRows * G, ap_n = K * kBlockRows;
    for_blocks(N, product_work(N * s.Tn, G, K), Carve::size({pre_n, ap_n}), [&](int64_t n0, int64_t n1, float* w) {
        Carve c{w};
        float *pre = c.take(pre_n), *Ap = c.take(ap_n);
        Ns::lstm_forward_block(s, B, n0, n1, pre, Ap);
    });
}

}  // namespace

void fused_lstm_forward(float* hs, float* gates, float* cs, const float* xs, const float* Wx, const float* Wh,
                        const float* b, const float* h0, const float* c0, int64_t N, int64_t Tn, int64_t D, int64_t H) {
    const StepArgs s{hs, gates, cs, xs, b, h0, c0, Tn, D, H};
    ATTNCORE_DISPATCH(lstm_forward_on<ns::Tag>(s, Wx, Wh, N));
    std::abort();  // fused_applies said no: the caller takes the BLAS path
}

}  // namespace attncore

namespace attncore {

namespace {

template <class Ns>
void lstm_backward_on(const BackArgs& s, const float* Wh, int64_t N) {
    const int64_t G = 4 * s.H;
    auto Bp = scratch<float>(Ns::panels(s.H) * G * Ns::panel_width());
    Ns::pack_b(Bp.get(), G, 0, Wh, G, G, s.H, true);  // Wh.T
    const float* B = Bp.get();
    const int64_t ap_n = G * kBlockRows;
    for_blocks(N, product_work(N * s.Tn, s.H, G), Carve::size({ap_n}),
               [&](int64_t n0, int64_t n1, float* w) { Ns::lstm_backward_block(s, B, n0, n1, w); });
}

template <class Ns>
void gru_forward_on(const GruArgs& s, const float* Wh, int64_t N) {
    const int64_t H = s.H, G = 3 * H;
    auto Bzr = scratch<float>(Ns::panels(2 * H) * H * Ns::panel_width());
    auto Bh = scratch<float>(Ns::panels(H) * H * Ns::panel_width());
    Ns::pack_b(Bzr.get(), H, 0, Wh, G, H, 2 * H, false);     // Wh[:, :2H]
    Ns::pack_b(Bh.get(), H, 0, Wh + 2 * H, G, H, H, false);  // Wh[:, 2H:]
    const float *Bz = Bzr.get(), *Bc = Bh.get();
    const int64_t ap_n = H * kBlockRows, zr_n = kBlockRows * 2 * H, h_n = kBlockRows * H;
    for_blocks(N, product_work(N * s.Tn, G, H), Carve::size({ap_n, zr_n, h_n, h_n}),
               [&](int64_t n0, int64_t n1, float* w) {
                   Carve c{w};
                   float *Ap = c.take(ap_n), *zr = c.take(zr_n), *rh = c.take(h_n), *hh = c.take(h_n);
                   Ns::gru_forward_block(s, Bz, Bc, n0, n1, Ap, zr, rh, hh);
               });
}

template <class Ns>
void gru_backward_on(const GruBackArgs& s, const float* Wh, int64_t N) {
    const int64_t H = s.H, G = 3 * H;
    auto Bzr = scratch<float>(Ns::panels(H) * 2 * H * Ns::panel_width());
    auto Bh = scratch<float>(Ns::panels(H) * H * Ns::panel_width());
    Ns::pack_b(Bzr.get(), 2 * H, 0, Wh, G, 2 * H, H, true);  // Wh[:, :2H].T
    Ns::pack_b(Bh.get(), H, 0, Wh + 2 * H, G, H, H, true);   // Wh[:, 2H:].T
    const float *Bz = Bzr.get(), *Bc = Bh.get();
    const int64_t ap_n = 2 * H * kBlockRows, h_n = kBlockRows * H;
    for_blocks(N, product_work(N * s.Tn, 2 * H, H), Carve::size({ap_n, h_n}), [&](int64_t n0, int64_t n1, float* w) {
        Carve c{w};
        float *Ap = c.take(ap_n), *dhr = c.take(h_n);
        Ns::gru_backward_block(s, Bz, Bc, n0, n1, Ap, dhr);
    });
}

template <class Ns>
void gru_ra_forward_on(const GruRaArgs& s, const float* Wh, int64_t N) {
    const int64_t H = s.H, G = 3 * H;
    auto Bp = scratch<float>(Ns::panels(G) * H * Ns::panel_width());
    Ns::pack_b(Bp.get(), H, 0, Wh, G, H, G, false);
    const float* B = Bp.get();
    const int64_t ap_n = H * kBlockRows, hw_n = kBlockRows * G;
    for_blocks(N, product_work(N * s.Tn, G, H), Carve::size({ap_n, hw_n}), [&](int64_t n0, int64_t n1, float* w) {
        Carve c{w};
        float *Ap = c.take(ap_n), *hw = c.take(hw_n);
        Ns::gru_ra_forward_block(s, B, n0, n1, Ap, hw);
    });
}

template <class Ns>
void gru_ra_backward_on(const GruRaBackArgs& s, const float* Wh, int64_t N) {
    const int64_t H = s.H, G = 3 * H;
    auto Bp = scratch<float>(Ns::panels(H) * G * Ns::panel_width());
    Ns::pack_b(Bp.get(), G, 0, Wh, G, G, H, true);  // Wh.T
    const float* B = Bp.get();
    const int64_t ap_n = G * kBlockRows;
    for_blocks(N, product_work(N * s.Tn, H, G), Carve::size({ap_n}),
               [&](int64_t n0, int64_t n1, float* w) { Ns::gru_ra_backward_block(s, B, n0, n1, w); });
}

}  // namespace

void fused_gru_ra_forward(float* hs, float* gates, const float* Wh, const float* b, const float* h0, int64_t N,
                          int64_t Tn, int64_t H) {
    const GruRaArgs s{hs, gates, b, h0, Tn, H};
    ATTNCORE_DISPATCH(gru_ra_forward_on<ns::Tag>(s, Wh, N));
    std::abort();
}

void fused_gru_ra_backward_steps(float* dax, float* dah, float* dh0, const float* gates, const float* h0,
                                 const float* hs, const float* dhs, const float* Wh, int64_t N, int64_t Tn, int64_t H) {
    const GruRaBackArgs s{dax, dah, dh0, gates, h0, hs, dhs, Tn, H};
    ATTNCORE_DISPATCH(gru_ra_backward_on<ns::Tag>(s, Wh, N));
    std::abort();
}

void fused_lstm_backward_steps(float* dA, float* dh0, float* dc0, const float* gates, const float* cs, const float* c0,
                               const float* dhs, const float* Wh, int64_t N, int64_t Tn, int64_t H) {
    const BackArgs s{dA, dh0, dc0, gates, cs, c0, dhs, Tn, H};
    ATTNCORE_DISPATCH(lstm_backward_on<ns::Tag>(s, Wh, N));
    std::abort();
}

void fused_gru_forward_steps(float* hs, float* gates, const float* Wh, const float* b, const float* h0, int64_t N,
                             int64_t Tn, int64_t H) {
    const GruArgs s{hs, gates, b, h0, Tn, H};
    ATTNCORE_DISPATCH(gru_forward_on<ns::Tag>(s, Wh, N));
    std::abort();
}

void fused_gru_backward_steps(float* dA, float* dh0, float* rh, const float* gates, const float* hprev,
                              const float* dhs, const float* Wh, int64_t N, int64_t Tn, int64_t H) {
    const GruBackArgs s{dA, dh0, rh, gates, hprev, dhs, Tn, H};
    ATTNCORE_DISPATCH(gru_backward_on<ns::Tag>(s, Wh, N));
    std::abort();
}

}  // namespace attncore
