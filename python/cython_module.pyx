# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""attncore._cython: the Cython backend (softmax and attention kernels).

An independent implementation of the same kernel functions as the C++ backend,
with OpenMP through ``prange``. Arguments are checked with the same helpers as
the NumPy backend, so the same bad input raises the same exception.

Legend: N batch, T encoder time steps, Td decoder time steps, H hidden size.
"""

import numpy as np

from cython.parallel cimport prange
from libc.math cimport exp
from libc.stdint cimport int64_t
from libc.stdlib cimport free, malloc

from attncore._checks import as_floats, as_lengths, check_same_shape, check_shapes, require_positive

ctypedef fused real:
    float
    double

cdef int _num_threads = 1
cdef bint _pool_started = False


def set_num_threads(int n):
    global _num_threads
    _num_threads = n if n > 0 else 1


def get_num_threads():
    return _num_threads


def pool_started():
    """True once a kernel has run with more than one thread (OpenMP's pool exists)."""
    return _pool_started


cdef int _team_size():
    """Threads for the next prange; notes that OpenMP's pool has started when above 1."""
    global _pool_started
    if _num_threads > 1:
        _pool_started = True
    return _num_threads


cdef extern from *:
    """
    #ifdef _OPENMP
    #define ATTNCORE_CY_OPENMP 1
    #else
    #define ATTNCORE_CY_OPENMP 0
    #endif
    """
    int ATTNCORE_CY_OPENMP



def openmp_enabled():
    return bool(ATTNCORE_CY_OPENMP)


# ---------------------------------------------------------------- row helpers

cdef inline void _softmax_row(real* y, const real* x, Py_ssize_t C) noexcept nogil:
    cdef real m = x[0]
    cdef real s = 0
    cdef Py_ssize_t c
    for c in range(1, C):
        if x[c] > m:
            m = x[c]
    for c in range(C):
        y[c] = exp(x[c] - m)
        s = s + y[c]
    for c in range(C):
        y[c] = y[c] / s


cdef inline void _softmax_backward_row(real* dx, const real* y, const real* dy, Py_ssize_t C) noexcept nogil:
    cdef real s = 0
    cdef Py_ssize_t c
    for c in range(C):
        s = s + y[c] * dy[c]
    for c in range(C):
        dx[c] = y[c] * dy[c] - y[c] * s  # as NumPy computes it: inf - inf gives NaN there too


cdef inline real _dot(const real* a, const real* b, Py_ssize_t n) noexcept nogil:
    cdef real s = 0
    cdef Py_ssize_t i
    for i in range(n):
        s = s + a[i] * b[i]
    return s


cdef inline void _axpy(real* y, real alpha, const real* x, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        y[i] = y[i] + alpha * x[i]


cdef inline void _scale(real* y, real alpha, const real* x, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        y[i] = alpha * x[i]


cdef inline void _zero(real* y, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        y[i] = 0


# ---------------------------------------------------------------- kernels on pointers
# lens (N) or NULL: row n attends over its first lens[n] encoder steps; the other steps get zero weights
# and zero gradients.

cdef inline Py_ssize_t _len(const int64_t* lens, Py_ssize_t n, Py_ssize_t T) noexcept nogil:
    return lens[n] if lens != NULL else T


cdef void _softmax_fwd(real* y, const real* x, Py_ssize_t R, Py_ssize_t C, int nt) noexcept nogil:
    cdef Py_ssize_t r
    for r in prange(R, num_threads=nt, schedule="static"):
        _softmax_row(y + r * C, x + r * C, C)


cdef void _softmax_bwd(real* dx, const real* y, const real* dy, Py_ssize_t R, Py_ssize_t C, int nt) noexcept nogil:
    cdef Py_ssize_t r
    for r in prange(R, num_threads=nt, schedule="static"):
        _softmax_backward_row(dx + r * C, y + r * C, dy + r * C, C)


cdef void _aw_fwd(real* a, const real* hs, const real* h, Py_ssize_t N, Py_ssize_t T, Py_ssize_t H,
                  const int64_t* lens, int nt) noexcept nogil:
    # a is (N,T); hs is (N,T,H), h is (N,H)
    cdef Py_ssize_t n, t, L
    for n in prange(N, num_threads=nt, schedule="static"):
        L = _len(lens, n, T)
        for t in range(L):
            a[n * T + t] = _dot(hs + (n * T + t) * H, h + n * H, H)
        _softmax_row(a + n * T, a + n * T, L)
        _zero(a + n * T + L, T - L)


cdef void _aw_bwd(real* dhs, real* dh, real* ds, const real* hs, const real* h, const real* a, const real* da,
                  Py_ssize_t N, Py_ssize_t T, Py_ssize_t H, const int64_t* lens, int nt) noexcept nogil:
    # dhs is (N,T,H), dh is (N,H), ds is (N,T) scratch
    cdef Py_ssize_t n, t, L
    for n in prange(N, num_threads=nt, schedule="static"):
        L = _len(lens, n, T)
        _softmax_backward_row(ds + n * T, a + n * T, da + n * T, L)
        _zero(dh + n * H, H)
        for t in range(L):
            _scale(dhs + (n * T + t) * H, ds[n * T + t], h + n * H, H)
            _axpy(dh + n * H, ds[n * T + t], hs + (n * T + t) * H, H)
        _zero(dhs + (n * T + L) * H, (T - L) * H)


cdef void _ws_fwd(real* c, const real* hs, const real* a, Py_ssize_t N, Py_ssize_t T, Py_ssize_t H,
                  const int64_t* lens, int nt) noexcept nogil:
    # c is (N,H); hs is (N,T,H), a is (N,T)
    cdef Py_ssize_t n, t
    for n in prange(N, num_threads=nt, schedule="static"):
        _scale(c + n * H, a[n * T], hs + n * T * H, H)
        for t in range(1, _len(lens, n, T)):
            _axpy(c + n * H, a[n * T + t], hs + (n * T + t) * H, H)


cdef void _ws_bwd(real* dhs, real* da, const real* hs, const real* a, const real* dc,
                  Py_ssize_t N, Py_ssize_t T, Py_ssize_t H, const int64_t* lens, int nt) noexcept nogil:
    cdef Py_ssize_t n, t, L
    for n in prange(N, num_threads=nt, schedule="static"):
        L = _len(lens, n, T)
        for t in range(L):
            _scale(dhs + (n * T + t) * H, a[n * T + t], dc + n * H, H)
            da[n * T + t] = _dot(dc + n * H, hs + (n * T + t) * H, H)
        _zero(dhs + (n * T + L) * H, (T - L) * H)
        _zero(da + n * T + L, T - L)


cdef void _ta_fwd(real* out, real* a, const real* enc, const real* dec,
                  Py_ssize_t N, Py_ssize_t T, Py_ssize_t Td, Py_ssize_t H, const int64_t* lens, int nt) noexcept nogil:
    # out is (N,Td,H), a is (N,Td,T); each (n, j) row is owned by one iteration
    cdef Py_ssize_t nj, n, t, L
    for nj in prange(N * Td, num_threads=nt, schedule="static"):
        n = nj // Td
        L = _len(lens, n, T)
        for t in range(L):
            a[nj * T + t] = _dot(enc + (n * T + t) * H, dec + nj * H, H)
        _softmax_row(a + nj * T, a + nj * T, L)
        _zero(a + nj * T + L, T - L)
        _scale(out + nj * H, a[nj * T], enc + n * T * H, H)
        for t in range(1, L):
            _axpy(out + nj * H, a[nj * T + t], enc + (n * T + t) * H, H)


cdef void _ta_bwd(real* denc, real* ddec, real* ds, const real* enc, const real* dec, const real* a,
                  const real* dout, Py_ssize_t N, Py_ssize_t T, Py_ssize_t Td, Py_ssize_t H, const int64_t* lens,
                  int nt) noexcept nogil:
    # each n owns denc[n] (summed over decoder steps) and ddec[n]
    cdef Py_ssize_t n, j, t, nj, L
    for n in prange(N, num_threads=nt, schedule="static"):
        L = _len(lens, n, T)
        _zero(denc + n * T * H, T * H)
        for j in range(Td):
            nj = n * Td + j
            for t in range(L):
                ds[n * T + t] = _dot(dout + nj * H, enc + (n * T + t) * H, H)
                _axpy(denc + (n * T + t) * H, a[nj * T + t], dout + nj * H, H)
            _softmax_backward_row(ds + n * T, a + nj * T, ds + n * T, L)
            _zero(ddec + nj * H, H)
            for t in range(L):
                _axpy(denc + (n * T + t) * H, ds[n * T + t], dec + nj * H, H)
                _axpy(ddec + nj * H, ds[n * T + t], enc + (n * T + t) * H, H)


# ---------------------------------------------------------------- Python entry points

cdef inline object _contig(object x):
    return np.ascontiguousarray(x)


def softmax_forward(x):
    (x,) = as_floats(("x", x))
    if x.ndim < 1:
        raise ValueError("x must have at least one axis, got a 0-d array")
    if x.shape[x.ndim - 1] < 1:
        raise ValueError("softmax needs at least one element on the last axis, got 0")
    x = _contig(x)
    y = np.empty_like(x)
    cdef Py_ssize_t C = x.shape[x.ndim - 1]
    cdef Py_ssize_t R = x.size // C
    cdef int nt = _team_size()
    if x.dtype == np.float64:
        _softmax_fwd[double](_dptr(y), _dptr(x), R, C, nt)
    else:
        _softmax_fwd[float](_fptr(y), _fptr(x), R, C, nt)
    return y


def softmax_backward(y, dy):
    y, dy = as_floats(("y", y), ("dy", dy))
    check_same_shape(("y", "dy"), (y, dy))
    y = _contig(y)
    dy = _contig(dy)
    dx = np.empty_like(y)
    cdef Py_ssize_t C = y.shape[y.ndim - 1]
    cdef Py_ssize_t R = y.size // C if C else 0
    cdef int nt = _team_size()
    if y.dtype == np.float64:
        _softmax_bwd[double](_dptr(dx), _dptr(y), _dptr(dy), R, C, nt)
    else:
        _softmax_bwd[float](_fptr(dx), _fptr(y), _fptr(dy), R, C, nt)
    return dx


def attention_weight_forward(hs, h, lengths=None):
    hs, h = as_floats(("hs", hs), ("h", h))
    d = check_shapes(("hs", hs, "NTH"), ("h", h, "NH"))
    require_positive(d, "T", "hs's time axis (T)")
    hs = _contig(hs)
    h = _contig(h)
    a = np.empty((d["N"], d["T"]), dtype=hs.dtype)
    cdef Py_ssize_t N = d["N"], T = d["T"], H = d["H"]
    lengths = as_lengths(lengths, N, T)
    cdef const int64_t* lens = _lptr(lengths)
    cdef int nt = _team_size()
    if hs.dtype == np.float64:
        _aw_fwd[double](_dptr(a), _dptr(hs), _dptr(h), N, T, H, lens, nt)
    else:
        _aw_fwd[float](_fptr(a), _fptr(hs), _fptr(h), N, T, H, lens, nt)
    return a


def attention_weight_backward(hs, h, a, da, lengths=None):
    hs, h, a, da = as_floats(("hs", hs), ("h", h), ("a", a), ("da", da))
    d = check_shapes(("hs", hs, "NTH"), ("h", h, "NH"), ("a", a, "NT"), ("da", da, "NT"))
    require_positive(d, "T", "hs's time axis (T)")
    hs, h, a, da = _contig(hs), _contig(h), _contig(a), _contig(da)
    dhs = np.empty_like(hs)
    dh = np.empty_like(h)
    ds = np.empty_like(a)
    cdef Py_ssize_t N = d["N"], T = d["T"], H = d["H"]
    lengths = as_lengths(lengths, N, T)
    cdef const int64_t* lens = _lptr(lengths)
    cdef int nt = _team_size()
    if hs.dtype == np.float64:
        _aw_bwd[double](_dptr(dhs), _dptr(dh), _dptr(ds), _dptr(hs), _dptr(h), _dptr(a), _dptr(da), N, T, H, lens, nt)
    else:
        _aw_bwd[float](_fptr(dhs), _fptr(dh), _fptr(ds), _fptr(hs), _fptr(h), _fptr(a), _fptr(da), N, T, H, lens, nt)
    return dhs, dh


def weight_sum_forward(hs, a, lengths=None):
    hs, a = as_floats(("hs", hs), ("a", a))
    d = check_shapes(("hs", hs, "NTH"), ("a", a, "NT"))
    require_positive(d, "T", "hs's time axis (T)")
    hs, a = _contig(hs), _contig(a)
    c = np.empty((d["N"], d["H"]), dtype=hs.dtype)
    cdef Py_ssize_t N = d["N"], T = d["T"], H = d["H"]
    lengths = as_lengths(lengths, N, T)
    cdef const int64_t* lens = _lptr(lengths)
    cdef int nt = _team_size()
    if hs.dtype == np.float64:
        _ws_fwd[double](_dptr(c), _dptr(hs), _dptr(a), N, T, H, lens, nt)
    else:
        _ws_fwd[float](_fptr(c), _fptr(hs), _fptr(a), N, T, H, lens, nt)
    return c


def weight_sum_backward(hs, a, dc, lengths=None):
    hs, a, dc = as_floats(("hs", hs), ("a", a), ("dc", dc))
    d = check_shapes(("hs", hs, "NTH"), ("a", a, "NT"), ("dc", dc, "NH"))
    require_positive(d, "T", "hs's time axis (T)")
    hs, a, dc = _contig(hs), _contig(a), _contig(dc)
    dhs = np.empty_like(hs)
    da = np.empty_like(a)
    cdef Py_ssize_t N = d["N"], T = d["T"], H = d["H"]
    lengths = as_lengths(lengths, N, T)
    cdef const int64_t* lens = _lptr(lengths)
    cdef int nt = _team_size()
    if hs.dtype == np.float64:
        _ws_bwd[double](_dptr(dhs), _dptr(da), _dptr(hs), _dptr(a), _dptr(dc), N, T, H, lens, nt)
    else:
        _ws_bwd[float](_fptr(dhs), _fptr(da), _fptr(hs), _fptr(a), _fptr(dc), N, T, H, lens, nt)
    return dhs, da


def time_attention_forward(hs_enc, hs_dec, lengths=None):
    enc, dec = as_floats(("hs_enc", hs_enc), ("hs_dec", hs_dec))
    d = check_shapes(("hs_enc", enc, "NTH"), ("hs_dec", dec, "NdH"))
    require_positive(d, "T", "hs_enc's time axis (T)")
    enc, dec = _contig(enc), _contig(dec)
    out = np.empty_like(dec)
    a = np.empty((d["N"], d["d"], d["T"]), dtype=enc.dtype)
    cdef Py_ssize_t N = d["N"], T = d["T"], Td = d["d"], H = d["H"]
    lengths = as_lengths(lengths, N, T)
    cdef const int64_t* lens = _lptr(lengths)
    cdef int nt = _team_size()
    if enc.dtype == np.float64:
        _ta_fwd[double](_dptr(out), _dptr(a), _dptr(enc), _dptr(dec), N, T, Td, H, lens, nt)
    else:
        _ta_fwd[float](_fptr(out), _fptr(a), _fptr(enc), _fptr(dec), N, T, Td, H, lens, nt)
    return out, a


def time_attention_backward(hs_enc, hs_dec, a, dout, lengths=None):
    enc, dec, a, dout = as_floats(("hs_enc", hs_enc), ("hs_dec", hs_dec), ("a", a), ("dout", dout))
    d = check_shapes(("hs_enc", enc, "NTH"), ("hs_dec", dec, "NdH"), ("a", a, "NdT"), ("dout", dout, "NdH"))
    require_positive(d, "T", "hs_enc's time axis (T)")
    enc, dec, a, dout = _contig(enc), _contig(dec), _contig(a), _contig(dout)
    denc = np.empty_like(enc)
    ddec = np.empty_like(dec)
    ds = np.empty((d["N"], d["T"]), dtype=enc.dtype)
    cdef Py_ssize_t N = d["N"], T = d["T"], Td = d["d"], H = d["H"]
    lengths = as_lengths(lengths, N, T)
    cdef const int64_t* lens = _lptr(lengths)
    cdef int nt = _team_size()
    if enc.dtype == np.float64:
        _ta_bwd[double](_dptr(denc), _dptr(ddec), _dptr(ds), _dptr(enc), _dptr(dec), _dptr(a), _dptr(dout),
                        N, T, Td, H, lens, nt)
    else:
        _ta_bwd[float](_fptr(denc), _fptr(ddec), _fptr(ds), _fptr(enc), _fptr(dec), _fptr(a), _fptr(dout),
                       N, T, Td, H, lens, nt)
    return denc, ddec


cdef inline const int64_t* _lptr(object lengths):
    """The data of as_lengths' array, or NULL for no lengths (the array outlives the kernel call)."""
    if lengths is None:
        return NULL
    cdef const int64_t[::1] v = lengths
    return &v[0]


# Pointers to the data of contiguous arrays of the checked dtype. An empty
# array gives a valid pointer that the kernels never dereference.
cdef inline float* _fptr(object arr):
    cdef const float[::1] v = arr.reshape(-1)
    return <float*>&v[0] if v.shape[0] else <float*>0


cdef inline double* _dptr(object arr):
    cdef const double[::1] v = arr.reshape(-1)
    return <double*>&v[0] if v.shape[0] else <double*>0
