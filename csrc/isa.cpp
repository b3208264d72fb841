#include "isa.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>

#ifdef ATTNCORE_X86_KERNELS
#include <immintrin.h>
#endif

namespace attncore {

namespace {

#ifdef ATTNCORE_X86_KERNELS
// `reps` rounds of 12 independent FMA chains (more than the FMA latency times the FMA ports), on one vector
// width; returns a value that depends on every chain so the loop is not optimized away.
__attribute__((target("avx512f"))) float fma_loop_avx512(int64_t reps) {
    __m512 acc[12];
    const __m512 m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-6f);
    for (int j = 0; j < 12; ++j) acc[j] = _mm512_set1_ps(float(j));
    for (int64_t r = 0; r < reps; ++r)
        for (int j = 0; j < 12; ++j) acc[j] = _mm512_fmadd_ps(acc[j], m, a);
    float out = 0;
    for (int j = 0; j < 12; ++j) out += _mm512_reduce_add_ps(acc[j]);
    return out;
}

__attribute__((target("avx2,fma"))) float fma_loop_avx2(int64_t reps) {
    __m256 acc[12];
    const __m256 m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-6f);
    for (int j = 0; j < 12; ++j) acc[j] = _mm256_set1_ps(float(j));
    for (int64_t r = 0; r < reps; ++r)
        for (int j = 0; j < 12; ++j) acc[j] = _mm256_fmadd_ps(acc[j], m, a);
    alignas(32) float lanes[8];
    float out = 0;
    for (int j = 0; j < 12; ++j) {
        _mm256_store_ps(lanes, acc[j]);
        for (float v : lanes) out += v;
    }
    return out;
}
#endif

// A portable loop where no vector kernels are compiled: 12 scalar chains.
float fma_loop_scalar(int64_t reps) {
    float acc[12];
    for (int j = 0; j < 12; ++j) acc[j] = float(j);
    for (int64_t r = 0; r < reps; ++r)
        for (int j = 0; j < 12; ++j) acc[j] = acc[j] * 0.999999f + 1e-6f;
    float out = 0;
    for (float v : acc) out += v;
    return out;
}

Isa detect() {
#ifdef ATTNCORE_X86_KERNELS
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")) return Isa::avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::avx2;
#endif
    return Isa::none;
}

const Isa g_best = detect();
std::atomic<Isa> g_isa{g_best};

}  // namespace

Isa best_isa() { return g_best; }

Isa current_isa() { return g_isa.load(std::memory_order_relaxed); }

const char* isa_name(Isa isa) {
    switch (isa) {
        case Isa::avx512:
            return "avx512";
        case Isa::avx2:
            return "avx2";
        default:
            return "none";
    }
}

bool set_isa(const std::string& name) {
    const Isa wanted = name == "avx512" ? Isa::avx512 : name == "avx2" ? Isa::avx2 : Isa::none;
    if (wanted == Isa::none || g_best == Isa::none || (wanted == Isa::avx512 && g_best != Isa::avx512)) return false;
    g_isa.store(wanted);
    return true;
}

double fma_peak_gflops(double seconds) {
    int lanes = 1;
    float (*loop)(int64_t) = fma_loop_scalar;
#ifdef ATTNCORE_X86_KERNELS
    if (g_best == Isa::avx512)
        loop = fma_loop_avx512, lanes = 16;
    else if (g_best == Isa::avx2)
        loop = fma_loop_avx2, lanes = 8;
#endif
    using clock = std::chrono::steady_clock;
    volatile float sink = loop(1 << 16);  // warm up (and let the clock settle)
    double best = 0;
    const int64_t reps = 1 << 20;
    const auto end = clock::now() + std::chrono::duration<double>(seconds);
    do {  // the fastest of several rounds: the others lost the core to something else for a while
        const auto t0 = clock::now();
        sink = sink + loop(reps);
        const double s = std::chrono::duration<double>(clock::now() - t0).count();
        best = std::max(best, 2.0 * 12 * lanes * double(reps) / s / 1e9);
    } while (clock::now() < end);
    return best;
}

}  // namespace attncore
