// The instruction sets of attncore's own float32 kernels: the one place that knows them. Detection, names,
// the override (tests run the AVX2 kernels on an AVX-512 CPU), and the peak multiply-add rate. Adding an
// instruction set touches this pair, its microkernel file (microkernel_<isa>.cpp, listed in
// microkernel_avx2.cpp's table), the fused kernels' dispatch (ATTNCORE_DISPATCH in fused_blocks.hpp) and
// their per-ISA blocks (fused_per_isa.inc).
#pragma once

#include <cstdint>
#include <string>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define ATTNCORE_X86_KERNELS 1  // the AVX-512 and AVX2 kernels are compiled (GCC's target pragmas)
#endif

namespace attncore {

enum class Isa { none, avx2, avx512 };

// The best instruction set this CPU has among those compiled in (none: the portable path everywhere).
Isa best_isa();
// The one the kernels use now: best_isa() unless set_isa chose another.
Isa current_isa();
const char* isa_name(Isa isa);
// Use the kernels of another instruction set this CPU has ("avx512", "avx2"); false, changing nothing, for one
// it lacks or an unknown name.
bool set_isa(const std::string& name);

// One core's peak float32 multiply-add rate in GFLOP/s (2 per multiply-add), measured now by a tight loop of
// independent FMAs on the widest vectors the kernels use, for about `seconds`.
double fma_peak_gflops(double seconds);

}  // namespace attncore
