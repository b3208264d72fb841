// The packed GEMM (gemm.hpp): the loops around the microkernel (K blocks, row blocks, column panels, a grid
// of tasks on attncore's threads), the rule for which products it takes (packed_gemm_suits), and each
// thread's workspace.
#include "gemm.hpp"

#include <algorithm>
#include <atomic>

#include "memory.hpp"
#include "microkernel.hpp"
#include "parallel.hpp"

namespace attncore {

namespace {

std::atomic<bool> g_enabled{true};
std::atomic<bool> g_everywhere{false};

// K in blocks of kKC, each block of op(B) packed just before its products (kKC x N, in L2 or L3) and each
// block of rows of op(A) (kMC x kKC, 256 KB) in L2 while the panels pass over it. 128 and 512 measured
// no better on an AMD EPYC Zen 4 (bench/gemm_shapes.py).
constexpr int64_t kKC = 256;
constexpr int64_t kMC = 256;
// Rows at or below which op(B) is read in place (when its rows are contiguous) rather than packed: packing
// costs a pass over B, as much as a product with this few rows.
constexpr int64_t kInPlaceRows = 16;
// The calling thread's workspace for the packed operands, at least `floats` floats, kept for its next call: a
// fresh buffer per product faulted in and cleared its pages every time (5% of the Keras seed's iteration).
// std::bad_alloc when there is no memory (the callers fall back to OpenBLAS).
float* workspace(int64_t floats) {
    thread_local Buffer<float> buffer;
    thread_local int64_t capacity = 0;
    if (floats > capacity) {
        buffer.reset();
        buffer = scratch<float>(floats);
        capacity = floats;
    }
    return buffer.get();
}

// How the output is split between tasks: row blocks of `mc` rows and column blocks of `np` panels.
struct Grid {
    int64_t mc, np, row_blocks, col_blocks;
    int64_t tasks() const { return row_blocks * col_blocks; }
};

Grid grid(const Microkernel& mk, int64_t M, int64_t panels, int threads) {
    Grid g;
    g.mc = std::max<int64_t>(mk.mr, kMC / mk.mr * mk.mr);
    g.row_blocks = (M + g.mc - 1) / g.mc;
    // Enough tasks for the threads to balance (kChunksPerThread each, handed out dynamically), from column
    // blocks first: each column block packs its rows of op(A) again, a pass over A, not over B.
    const int64_t wanted = threads > 1 ? int64_t(threads) * kChunksPerThread : 1;
    g.col_blocks = std::min(panels, std::max<int64_t>(1, (wanted + g.row_blocks - 1) / g.row_blocks));
    g.np = (panels + g.col_blocks - 1) / g.col_blocks;
    g.col_blocks = (panels + g.np - 1) / g.np;
    if (threads > 1 && g.tasks() < wanted && M > mk.mr) {  // few columns: smaller row blocks
        g.mc = std::max<int64_t>(mk.mr, (M + wanted - 1) / wanted / mk.mr * mk.mr);
        g.row_blocks = (M + g.mc - 1) / g.mc;
    }
    return g;
}

// One block of K: rows [k0, k0 + kc) of op(B)'s panels, packed (Bp: panel p at Bp + p*kc*nr) or B in place.
struct KBlock {
    const float* packed;  // null: B in place
    const float* B;
    int64_t ldb, k0, kc, nr;
    // Panel p's rows of this block, and the stride between them.
    const float* panel(int64_t p, int64_t* stride) const {
        *stride = packed ? nr : ldb;
        return packed ? packed + p * kc * nr : B + k0 * ldb + p * nr;
    }
};

// One task of one K block: rows [m0, m0 + mc) by panels [p0, p1); Ap is this thread's scratch for the rows'
// slivers. `onto`: add to C (a K block after the first, or beta 1).
void run_task(const Microkernel& mk, const KBlock& kb, bool trans_a, const float* A, int64_t lda, int64_t m0,
              int64_t mc, int64_t p0, int64_t p1, int64_t N, bool onto, float* C, int64_t ldc, float* Ap) {
    mk.pack_a(Ap, A, lda, trans_a, m0, mc, kb.k0, kb.kc);
    for (int64_t p = p0; p < p1; ++p) {
        int64_t bs;
        const float* bp = kb.panel(p, &bs);
        const int cols = static_cast<int>(std::min<int64_t>(mk.nr, N - p * mk.nr));
        for (int64_t s = 0; s * mk.mr < mc; ++s) {
            const int rows = static_cast<int>(std::min<int64_t>(mk.mr, mc - s * mk.mr));
            mk.tile(rows, cols, kb.kc, Ap + s * kb.kc * mk.mr, mk.mr, bp, bs, C + (m0 + s * mk.mr) * ldc + p * mk.nr,
                    ldc, onto, !kb.packed);
        }
    }
}

}  // namespace

bool packed_gemm_available() { return g_enabled.load() && microkernel(current_isa()) != nullptr; }

bool packed_gemm_suits(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K) {
    if (g_everywhere.load()) return true;
    // On AVX2 the packed GEMM ran the two models' products at 0.68-1.23x the speed of OpenBLAS's Haswell
    // kernels (Zen 1's too), below 1x for most (AMD EPYC Zen 4 in AVX2 mode, 2026-12-06, bench/gemm_shapes.py
    // --isa avx2 with OPENBLAS_CORETYPE=Zen): there the microkernel serves the fused kernels, whose weights
    // are packed once per call, and OpenBLAS the products.
    if (current_isa() == Isa::avx2) return false;
    // One or two rows (encoding or decoding one sentence on the BLAS path): OpenBLAS (a matrix-vector product
    // for one row) ran them 1.4-8x faster than a tile filling one or two of its six rows.
    if (M <= 2) return false;
    const Microkernel* narrow = microkernel(current_isa(), true);
    // An output one vector wide from a row-major op(A) (dx = dA @ Wx.T with D = 16): each element of A feeds
    // one vector, so packing A costs more than its products; OpenBLAS ran these 2-3x faster.
    if (narrow && N <= narrow->nr && !trans_a && K > 64) return false;
    // A few rows through a transposed op(B) (dh = dA @ Wh.T outside the fused step): the transposing pack of B
    // per call costs more than its products once B is large; OpenBLAS ran 1.4x faster at 16 x 1536 x 512.
    if (trans_b && M <= kInPlaceRows && K * N > (int64_t(1) << 18)) return false;
    return true;
}

void set_packed_gemm_enabled(bool enabled, bool everywhere) {
    g_enabled.store(enabled);
    g_everywhere.store(enabled && everywhere);
}

bool packed_gemm_enabled() { return g_enabled.load(); }

void packed_gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float beta, float* C, int64_t ldc, int threads) {
    // C is (M,N), rows ldc apart
    if (M <= 0 || N <= 0) return;
    const bool add = beta != 0.0f;
    if (K <= 0) {
        if (!add)
            for (int64_t i = 0; i < M; ++i) std::fill(C + i * ldc, C + i * ldc + N, 0.0f);
        return;
    }
    // an output at most one vector wide takes the tile of one vector's columns (and more rows)
    const Microkernel* narrow = microkernel(current_isa(), true);
    const Microkernel& mk = N <= narrow->nr ? *narrow : *microkernel(current_isa());
    const int64_t panels = (N + mk.nr - 1) / mk.nr, kc_max = std::min(kKC, K);
    const bool in_place = !trans_b && M <= kInPlaceRows;
    // K in blocks: each block of op(B) is packed just before its products use it (while it is in cache),
    // then every task of the output runs over it; the blocks are summed into C in order.
    const Grid g = grid(mk, M, panels, threads);
    const int nt = static_cast<int>(std::min<int64_t>(threads, std::max(g.tasks(), panels)));
    const int64_t ap_floats = ((std::min(g.mc, M) + mk.mr - 1) / mk.mr * mk.mr) * kc_max;
    const int64_t b_floats = in_place ? 0 : (panels * kc_max * mk.nr + 15) / 16 * 16;
    float* const space = workspace(b_floats + ap_floats * nt);
    float* const packed = in_place ? nullptr : space;
    float* const Ap = space + b_floats;
    auto task = [&](const KBlock& kb, int64_t i, float* ap) {
        const int64_t r = i / g.col_blocks, c = i % g.col_blocks, m0 = r * g.mc, p0 = c * g.np;
        run_task(mk, kb, trans_a, A, lda, m0, std::min(g.mc, M - m0), p0, std::min(panels, p0 + g.np), N,
                 add || kb.k0 > 0, C, ldc, ap);
    };
    if (nt <= 1) {
        for (int64_t k0 = 0; k0 < K; k0 += kKC) {
            const KBlock kb{packed, B, ldb, k0, std::min(kKC, K - k0), mk.nr};
            if (!in_place) mk.pack_b(packed, B, ldb, trans_b, k0, kb.kc, 0, N);
            for (int64_t i = 0; i < g.tasks(); ++i) task(kb, i, Ap);
        }
        return;
    }
#pragma omp parallel num_threads(nt)
    {
#ifdef _OPENMP
        float* mine = Ap + ap_floats * omp_get_thread_num();
#else
        float* mine = Ap;
#endif
        for (int64_t k0 = 0; k0 < K; k0 += kKC) {
            const KBlock kb{packed, B, ldb, k0, std::min(kKC, K - k0), mk.nr};
            if (!in_place) {
#pragma omp for schedule(dynamic, 1)
                for (int64_t p = 0; p < panels; ++p)  // panel by panel: each kc x nr, contiguous
                    mk.pack_b(packed + p * kb.kc * mk.nr, B, ldb, trans_b, k0, kb.kc, p * mk.nr,
                              std::min<int64_t>(mk.nr, N - p * mk.nr));
            }
#pragma omp for schedule(dynamic, 1)
            for (int64_t i = 0; i < g.tasks(); ++i) task(kb, i, mine);
        }
    }
}

}  // namespace attncore
