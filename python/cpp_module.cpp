// attncore._cpp: the pybind11 binding of the C++ kernels in csrc/. This file holds the module and its
// runtime settings (threads, scratch memory, the fused step's instruction set); the kernels' functions,
// thin over guards.hpp (attncore.kernels checks every argument first), are in python/bind_*.cpp.
#include <pybind11/pybind11.h>

#include <string>

#include "../csrc/blas.hpp"
#include "../csrc/fused_step.hpp"
#include "../csrc/gemm.hpp"
#include "../csrc/isa.hpp"
#include "../csrc/memory.hpp"
#include "../csrc/parallel.hpp"
#include "guards.hpp"

#ifndef ATTNCORE_CXXFLAGS
#define ATTNCORE_CXXFLAGS "unknown"
#endif

// The compiler that built the module, for `attncore info`.
#if defined(__clang__)
#define ATTNCORE_COMPILER "clang " __clang_version__
#elif defined(__GNUC__)
#define ATTNCORE_COMPILER "gcc " __VERSION__
#elif defined(_MSC_VER)
#define ATTNCORE_COMPILER "msvc"
#else
#define ATTNCORE_COMPILER "unknown"
#endif

namespace py = pybind11;

PYBIND11_MODULE(_cpp, m) {
    m.doc() = "attncore C++ kernels (pybind11 binding of csrc/)";
    m.def("set_num_threads", &attncore::set_num_threads, py::arg("n"),
          "Threads of every kernel (>= 1); RuntimeError above 1 in a child forked after the pool started.");
    m.def("get_num_threads", &attncore::get_num_threads);
    m.def("after_fork_in_child", &attncore::after_fork_in_child);
    m.def("pool_started", &attncore::pool_started);
    m.def("openmp_enabled", &attncore::openmp_enabled);
    m.def("set_hugepages", &attncore::set_hugepages, py::arg("enabled"),
          "Ask for transparent huge pages for scratch of 4 MiB or more (madvise), as NumPy does for its arrays.");
    m.def("hugepages", &attncore::hugepages);
    m.def("set_scratch_cache_limit", &attncore::set_scratch_cache_limit, py::arg("nbytes"),
          "Most bytes of freed kernel scratch kept for the next calls (0: none); the excess is freed now.");
    m.def("scratch_cache_limit", &attncore::scratch_cache_limit);
    m.def("scratch_cached_bytes", &attncore::scratch_cached_bytes);
    m.def("release_scratch", &attncore::release_scratch, "Free the kernel scratch kept for the next calls.");
    m.attr("compile_flags") = ATTNCORE_CXXFLAGS;
    m.attr("compiler") = ATTNCORE_COMPILER;
#ifdef ATTNCORE_X86_KERNELS
    m.attr("kernels_compiled") = "avx512, avx2, portable";  // chosen at load by the CPU (isa.hpp)
#else
    m.attr("kernels_compiled") = "portable";
#endif
    attncore::blas_init();
    m.def("blas_name", []() { return std::string(attncore::blas_config()); });
    m.def("blas_num_threads", &attncore::blas_num_threads);
    m.def(
        "fused_isa", []() { return std::string(attncore::fused_isa()); },
        "The instruction set of the fused recurrent step on this CPU: avx512, avx2 or none.");
    m.def("set_fused", &attncore::set_fused_enabled, py::arg("enabled"),
          "Run the fused recurrent step (True, the default where the CPU has it) or the BLAS path (False).");
    m.def("fused_enabled", &attncore::fused_enabled);
    m.def("set_packed_gemm", &attncore::set_packed_gemm_enabled, py::arg("enabled"), py::arg("everywhere") = false,
          "Run the float32 products on attncore's packed GEMM where it is the faster (True, the default where the "
          "CPU has it), on it for every product (everywhere) or on OpenBLAS (False).");
    m.def("packed_gemm_enabled", &attncore::packed_gemm_enabled);
    m.def("packed_gemm_suits", &attncore::packed_gemm_suits, py::arg("trans_a"), py::arg("trans_b"), py::arg("M"),
          py::arg("N"), py::arg("K"), "Whether the packed GEMM takes this float32 product (else OpenBLAS does).");
    m.def(
        "fma_peak_gflops",
        [](double seconds) {
            py::gil_scoped_release nogil;
            return attncore::fma_peak_gflops(seconds);
        },
        py::arg("seconds") = 0.2,
        "One core's peak float32 multiply-add rate (GFLOP/s), measured now by a tight FMA loop.");
    m.def("set_fused_isa", &attncore::set_fused_isa, py::arg("name"),
          "Use the fused kernels of another instruction set the CPU has ('avx512', 'avx2'); False if it lacks it.");

    attncore_py::bind_layers(m);
    attncore_py::bind_attention(m);
    attncore_py::bind_recurrent(m);
}
