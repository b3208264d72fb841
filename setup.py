"""Build the two extension modules: attncore._cpp (pybind11) and attncore._cython, two bindings of csrc/.

Every translation unit (csrc/*.cpp once, shared by both modules, and each module's own binding files) is
compiled once, in parallel over the machine's cores (ATTNCORE_BUILD_JOBS to choose), always anew (the flags
are not part of setuptools' up-to-date check, so an old object might be another build's); each module then
links its objects.

Flags: -O3, C++17, -fno-math-errno and -fno-trapping-math (they change no
result; they let the compiler vectorize the gate loops), -ffp-contract=off, -g0 (no debug information),
OpenMP when a test compile shows the compiler supports it (else a serial build
and a warning), never fast-math, -march=native only when ATTNCORE_NATIVE=1,
-fsanitize=address,undefined only when ATTNCORE_SANITIZE=1 (for CI). If compiling fails, the install still succeeds with the
NumPy backend and says why, unless ATTNCORE_REQUIRE_EXTENSION=1.
"""

import os
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).parent
REQUIRE = os.environ.get("ATTNCORE_REQUIRE_EXTENSION", "") == "1"
NATIVE = os.environ.get("ATTNCORE_NATIVE", "") == "1"
# ATTNCORE_SANITIZE=1: AddressSanitizer and UndefinedBehaviorSanitizer builds for CI (any UB aborts).
SANITIZE = os.environ.get("ATTNCORE_SANITIZE", "") == "1"
SANITIZE_FLAGS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined", "-fno-omit-frame-pointer", "-g"]


def _compiles(compiler, flags, code="int main(void){return 0;}\n", suffix=".cpp", link=None):
    """True when ``code`` compiles (and links) with ``flags``."""
    tmp = tempfile.mkdtemp()
    try:
        src = os.path.join(tmp, "probe" + suffix)
        with open(src, "w") as f:
            f.write(code)
        objs = compiler.compile([src], output_dir=tmp, extra_postargs=flags)
        compiler.link_executable(objs, "probe", output_dir=tmp, extra_postargs=link or flags)
        return True
    except Exception:
        return False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


OPENMP_PROBE = "#include <omp.h>\nint main(void){int n=0;\n#pragma omp parallel reduction(+:n)\nn+=1;\nreturn n>0?0:1;}\n"


class BuildExt(build_ext):
    def build_extensions(self):
        cc = self.compiler
        if cc.compiler_type == "msvc":
            base, omp = ["/O2", "/std:c++17"], ["/openmp"]
            omp_link = []
        else:
            # -ffp-contract=off: no fused multiply-adds the source does not ask for, so every
            # operation rounds as NumPy's does (an FMA turned a NaN of NumPy's into inf).
            base = ["-O3", "-std=c++17", "-fvisibility=hidden", "-fno-math-errno", "-fno-trapping-math",
                    "-ffp-contract=off"]
            omp, omp_link = ["-fopenmp"], ["-fopenmp"]
            if NATIVE:
                base.append("-march=native")
            # no debug information (Python's own CFLAGS ask for -g): it doubled the compile time and made _cpp
            # 18 MB; it changes no instruction. The sanitizer build keeps it, for its reports.
            base.append("-g0")
            if SANITIZE:
                base += SANITIZE_FLAGS
                omp_link = omp_link + SANITIZE_FLAGS
        if _compiles(cc, base + omp, OPENMP_PROBE, link=omp_link):
            flags, link = base + omp, omp_link
        else:
            self.warn("attncore: the compiler does not support OpenMP; building serial kernels")
            simd = ["-fopenmp-simd"] if _compiles(cc, base + ["-fopenmp-simd"]) else []
            flags, link = base + simd, SANITIZE_FLAGS if SANITIZE else []
        self._compile_once(flags)
        for ext in self.extensions:
            ext.extra_link_args = list(link) + BLAS_LINK
        super().build_extensions()

    def _compile_once(self, flags):
        """Compile every extension's sources, each file once (csrc/ is in both), in parallel, and hand each
        extension its objects to link (its ``sources`` are then empty: build_ext only links)."""
        units = {}  # source -> (include dirs, macros)
        for ext in self.extensions:
            macros = [("ATTNCORE_CXXFLAGS", '"' + " ".join(flags) + '"')] if ext.name == "attncore._cpp" else []
            for src in ext.sources:
                dirs, known = units.setdefault(src, ([], []))
                dirs += [d for d in ext.include_dirs if d not in dirs]
                known += [m for m in macros if m not in known]
        jobs = int(os.environ.get("ATTNCORE_BUILD_JOBS", "0")) or os.cpu_count() or 1

        def compile_one(src):
            dirs, macros = units[src]
            return src, self.compiler.compile([src], output_dir=self.build_temp, include_dirs=dirs, macros=macros,
                                              extra_postargs=flags, debug=self.debug)[0]

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            objects = dict(pool.map(compile_one, sorted(units)))
        for ext in self.extensions:
            ext.extra_objects = [objects[src] for src in ext.sources]
            ext.sources = []

    def run(self):
        try:
            super().run()
        except Exception as exc:
            if REQUIRE:
                raise
            self.warn(f"attncore: building the extensions failed ({exc}); only the NumPy backend will be available")

    def build_extension(self, ext):
        self.force = True  # the objects were compiled just now: always link them
        try:
            super().build_extension(ext)
        except Exception as exc:
            if REQUIRE:
                raise
            self.warn(f"attncore: building {ext.name} failed ({exc}); that backend will be unavailable")


def private_blas():
    """Compile and link options for the C++ backend's own BLAS, the scipy-openblas32 wheel.

    The wheel installs its library in site-packages/scipy_openblas32/lib; the
    module gets an $ORIGIN-relative RUNPATH to it, so the installed _cpp finds
    it next to itself (attncore also loads it by path before importing _cpp,
    which covers editable installs and other layouts).
    """
    import scipy_openblas32 as sob

    return {
        "include_dirs": [sob.get_include_dir()],
        "library_dirs": [sob.get_lib_dir()],
        "libraries": [sob.get_library()],
        "extra_link_args": [] if sys.platform == "win32" else ["-Wl,-rpath,$ORIGIN/../scipy_openblas32/lib"],
    }


BLAS_LINK: list[str] = []
# The csrc/ files the Cython module is built from: its kernels and theirs.
CYTHON_KERNELS = ("attention", "attention_scores", "softmax", "parallel", "blas", "memory", "gemm", "isa", "microkernel_avx512",
                  "microkernel_avx2")


def extensions():
    import pybind11

    blas = private_blas()
    BLAS_LINK[:] = blas["extra_link_args"]
    csrc = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "csrc").glob("*.cpp"))
    bindings = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "python").glob("bind_*.cpp"))
    cpp = Extension(
        "attncore._cpp",
        sources=["python/cpp_module.cpp", *bindings, *csrc],
        include_dirs=[pybind11.get_include(), "csrc", *blas["include_dirs"]],
        library_dirs=blas["library_dirs"],
        libraries=blas["libraries"],
        # Headers too, so that changing one rebuilds the module (setuptools only compares dates).
        depends=sorted(str(p.relative_to(ROOT)) for p in [*(ROOT / "csrc").glob("*.hpp"), *(ROOT / "csrc").glob("*.inc"),
                                                          *(ROOT / "python").glob("*.hpp")]),
        language="c++",
    )
    # The Cython module binds the softmax and attention kernels of csrc/ (and what they call): the same C++
    # as _cpp's, compiled into this module too.
    cy = Extension(
        "attncore._cython",
        sources=["python/cython_module.pyx", *(f"csrc/{name}.cpp" for name in CYTHON_KERNELS)],
        include_dirs=["csrc", *blas["include_dirs"]],
        library_dirs=blas["library_dirs"],
        libraries=blas["libraries"],
        depends=sorted(str(p.relative_to(ROOT)) for p in [*(ROOT / "csrc").glob("*.hpp"), *(ROOT / "csrc").glob("*.inc")]),
        language="c++",
    )
    try:
        from Cython.Build import cythonize
    except ImportError as exc:
        if REQUIRE:
            raise
        print(f"warning: attncore: Cython is unavailable ({exc}); skipping the Cython backend", file=sys.stderr)
        return [cpp]
    return [cpp, *cythonize([cy], compiler_directives={"language_level": 3}, quiet=True)]


setup(ext_modules=extensions(), cmdclass={"build_ext": BuildExt})
