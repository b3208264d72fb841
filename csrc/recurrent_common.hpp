// Helpers shared by the LSTM and GRU kernels.
// Legend: N batch, T time, D input size, H hidden size, G gate width (4H or 3H).
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>

#include "fastmath.hpp"
#include "parallel.hpp"

namespace attncore {

// A scratch buffer of n elements, left uninitialized (std::vector would zero it first).
template <class T>
std::unique_ptr<T[]> scratch(int64_t n) {
    return std::unique_ptr<T[]>(new T[static_cast<size_t>(n)]);
}

// Parallel regions cost a few microseconds; rows of fewer elements than this run serially.
constexpr int64_t kMinParallelWork = 1 << 14;

// db[g] = sum over rows r of dA[r, g]; dA is (R,G). Each thread owns a block of columns.
template <class T>
void column_sums(T* db, const T* dA, int64_t R, int64_t G) {
    const int nt = get_num_threads();
    const int64_t block = 64;
    const int64_t nblocks = (G + block - 1) / block;
#pragma omp parallel for num_threads(nt) schedule(static) if (R * G >= kMinParallelWork)
    for (int64_t bi = 0; bi < nblocks; ++bi) {
        const int64_t g0 = bi * block, g1 = g0 + block < G ? g0 + block : G;
        for (int64_t g = g0; g < g1; ++g) db[g] = 0;
        for (int64_t r = 0; r < R; ++r) {
            const T* row = dA + r * G;
#pragma omp simd
            for (int64_t g = g0; g < g1; ++g) db[g] += row[g];
        }
    }
}

// Threads for a time loop over N independent rows, about `work` multiply-adds
// per row: each thread runs its own block of rows through every step (the
// product and the gate loop), so the loop has no barrier per step.
inline int row_threads(int64_t N, int64_t work) {
    const int nt = get_num_threads();
    if (nt == 1 || N < 2 || N * work < kMinParallelWork) return 1;
    return nt < N ? nt : static_cast<int>(N);
}

// Rows [cols.begin, cols.end) of WT (G,H), the transpose of W (H,G), W's row
// stride being ldw. Per step, dA @ W.T costs OpenBLAS about 25% more than
// dA @ WT with WT contiguous (it packs the transposed operand more slowly),
// so backward loops transpose the recurrent weights once per call.
template <class T>
void transpose_rows(T* WT, const T* W, Range cols, int64_t H, int64_t ldw) {
    constexpr int64_t B = 32;
    for (int64_t g0 = cols.begin; g0 < cols.end; g0 += B)
        for (int64_t k0 = 0; k0 < H; k0 += B) {
            const int64_t g1 = g0 + B < cols.end ? g0 + B : cols.end, k1 = k0 + B < H ? k0 + B : H;
            for (int64_t g = g0; g < g1; ++g)
                for (int64_t k = k0; k < k1; ++k) WT[g * H + k] = W[k * ldw + g];
        }
}

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
