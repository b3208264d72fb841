# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
# distutils: language = c++
"""attncore._cython: the Cython binding of the softmax and attention kernels in csrc/.

A second binding of the same C++ kernels as attncore._cpp (``cdef extern``),
not a second implementation: each op has one C++ implementation, two bindings
and the NumPy reference. Arguments are checked once, by the dispatcher in
:mod:`attncore.kernels` (dtypes cast to one float type, shapes, lengths), whose
messages every backend shares; this module trusts those checks and keeps only
what memory safety needs when it is called directly: typed memoryviews (dtype,
ndim, C order) and shapes that agree (``ValueError``).

Legend: N batch, T encoder time steps, Td decoder time steps, H hidden size.
"""

import numpy as np

from libc.stdint cimport int64_t
from libcpp cimport bool as cbool

cdef extern from "parallel.hpp" namespace "attncore":
    int c_get_num_threads "attncore::get_num_threads"()
    void c_set_num_threads "attncore::set_num_threads"(int n) except +
    void c_after_fork_in_child "attncore::after_fork_in_child"()
    cbool c_pool_started "attncore::pool_started"()
    cbool c_openmp_enabled "attncore::openmp_enabled"()

cdef extern from "blas.hpp" namespace "attncore":
    void c_blas_init "attncore::blas_init"()

cdef extern from "softmax.hpp" namespace "attncore" nogil:
    void softmax_forward_k "attncore::softmax_forward"[T](T* y, const T* x, int64_t R, int64_t C)
    void softmax_backward_k "attncore::softmax_backward"[T](T* dx, const T* y, const T* dy, int64_t R, int64_t C)

cdef extern from "attention.hpp" namespace "attncore" nogil:
    void attention_weight_forward_k "attncore::attention_weight_forward"[T](
        T* a, const T* hs, const T* h, int64_t N, int64_t Tn, int64_t H, const int64_t* lengths)
    void attention_weight_backward_k "attncore::attention_weight_backward"[T](
        T* dhs, T* dh, const T* hs, const T* h, const T* a, const T* da, int64_t N, int64_t Tn, int64_t H,
        const int64_t* lengths)
    void weight_sum_forward_k "attncore::weight_sum_forward"[T](
        T* c, const T* hs, const T* a, int64_t N, int64_t Tn, int64_t H, const int64_t* lengths)
    void weight_sum_backward_k "attncore::weight_sum_backward"[T](
        T* dhs, T* da, const T* hs, const T* a, const T* dc, int64_t N, int64_t Tn, int64_t H,
        const int64_t* lengths)
    void time_attention_forward_k "attncore::time_attention_forward"[T](
        T* out, T* a, const T* hs_enc, const T* hs_dec, int64_t N, int64_t Tn, int64_t Td, int64_t H,
        const int64_t* lengths)
    void time_attention_backward_k "attncore::time_attention_backward"[T](
        T* dhs_enc, T* dhs_dec, const T* hs_enc, const T* hs_dec, const T* a, const T* dout, int64_t N, int64_t Tn,
        int64_t Td, int64_t H, const int64_t* lengths)

ctypedef fused real:
    float
    double

c_blas_init()


def set_num_threads(int n):
    """Threads of every kernel of this module (>= 1); RuntimeError above 1 in a child forked after the pool
    started."""
    c_set_num_threads(n)


def get_num_threads():
    return c_get_num_threads()


def after_fork_in_child():
    c_after_fork_in_child()


def pool_started():
    """True once a kernel has run with more than one thread (OpenMP's pool exists)."""
    return c_pool_started()


def openmp_enabled():
    return c_openmp_enabled()


# ---------------------------------------------------------------- helpers

cdef object _c(object x):
    """``x`` as a C-contiguous array (no copy when it is one already)."""
    return np.ascontiguousarray(x)


cdef int _agree(str what, bint ok) except -1:
    if not ok:
        raise ValueError(f"shape mismatch in {what}: call it through attncore.kernels for the full checks")
    return 0


cdef int _floats(str what, tuple arrays) except -1:
    """TypeError unless the arrays are all float32 or all float64 (the dispatcher casts them so)."""
    if not all(x.dtype == arrays[0].dtype and x.dtype in (np.float32, np.float64) for x in arrays):
        raise TypeError(f"{what} takes float32 or float64 arrays of one dtype, got "
                        f"{', '.join(str(x.dtype) for x in arrays)}: call it through attncore.kernels, which casts")
    return 0


# Pointers to the data of contiguous arrays (the caller keeps the arrays alive). An empty array gives
# NULL, which the kernels never dereference.
cdef inline real* _p(const real[::1] v) noexcept nogil:
    return <real*>&v[0] if v.shape[0] else NULL


cdef inline const int64_t* _lens(object lengths, Py_ssize_t N, Py_ssize_t T) except? NULL:
    """The data of the dispatcher's lengths array ((N,) int64 from 1 to T), or NULL for none."""
    if lengths is None:
        return NULL
    cdef const int64_t[::1] v = lengths
    _agree("lengths", v.shape[0] == N)
    cdef Py_ssize_t n
    for n in range(N):
        _agree("lengths", 1 <= v[n] <= T)
    return &v[0] if N else NULL


cdef object _lengths_array(object lengths):
    # contiguous and aligned: an int64 array at an odd address is copied (reading it there is undefined)
    return None if lengths is None else np.require(lengths, np.int64, ["C", "A"])


# ---------------------------------------------------------------- softmax

cdef void _softmax_fwd(real[::1] y, const real[::1] x, Py_ssize_t R, Py_ssize_t C):
    with nogil:
        softmax_forward_k(_p(y), _p(x), R, C)


cdef void _softmax_bwd(real[::1] dx, const real[::1] y, const real[::1] dy, Py_ssize_t R, Py_ssize_t C):
    with nogil:
        softmax_backward_k(_p(dx), _p(y), _p(dy), R, C)


def softmax_forward(x):
    """Softmax over the last axis of ``x`` (..., C), C >= 1."""
    x = _c(x)
    _floats("softmax_forward", (x,))
    _agree("softmax_forward", x.ndim >= 1 and x.shape[x.ndim - 1] >= 1)
    y = np.empty_like(x)
    C = x.shape[x.ndim - 1]
    if x.dtype == np.float64:
        _softmax_fwd[double](y.reshape(-1), x.reshape(-1), x.size // C, C)
    else:
        _softmax_fwd[float](y.reshape(-1), x.reshape(-1), x.size // C, C)
    return y


def softmax_backward(y, dy):
    """Gradient of the softmax from its output ``y`` and ``dy`` (same shape and dtype)."""
    y, dy = _c(y), _c(dy)
    _floats("softmax_backward", (y, dy))
    _agree("softmax_backward", y.shape == dy.shape and y.ndim >= 1)
    dx = np.empty_like(y)
    C = y.shape[y.ndim - 1]
    R = y.size // C if C else 0
    if y.dtype == np.float64:
        _softmax_bwd[double](dx.reshape(-1), y.reshape(-1), dy.reshape(-1), R, C)
    else:
        _softmax_bwd[float](dx.reshape(-1), y.reshape(-1), dy.reshape(-1), R, C)
    return dx


# ---------------------------------------------------------------- attention
# lengths: None, or (N,) integers from 1 to T: row n attends over its first lengths[n] encoder steps; the
# other steps get zero weights and zero gradients.

cdef void _aw_fwd(real[::1] a, const real[::1] hs, const real[::1] h, Py_ssize_t N, Py_ssize_t T, Py_ssize_t H,
                  const int64_t* lens):
    with nogil:
        attention_weight_forward_k(_p(a), _p(hs), _p(h), N, T, H, lens)


cdef void _aw_bwd(real[::1] dhs, real[::1] dh, const real[::1] hs, const real[::1] h, const real[::1] a,
                  const real[::1] da, Py_ssize_t N, Py_ssize_t T, Py_ssize_t H, const int64_t* lens):
    with nogil:
        attention_weight_backward_k(_p(dhs), _p(dh), _p(hs), _p(h), _p(a), _p(da), N, T, H, lens)


cdef void _ws_fwd(real[::1] c, const real[::1] hs, const real[::1] a, Py_ssize_t N, Py_ssize_t T, Py_ssize_t H,
                  const int64_t* lens):
    with nogil:
        weight_sum_forward_k(_p(c), _p(hs), _p(a), N, T, H, lens)


cdef void _ws_bwd(real[::1] dhs, real[::1] da, const real[::1] hs, const real[::1] a, const real[::1] dc,
                  Py_ssize_t N, Py_ssize_t T, Py_ssize_t H, const int64_t* lens):
    with nogil:
        weight_sum_backward_k(_p(dhs), _p(da), _p(hs), _p(a), _p(dc), N, T, H, lens)


cdef void _ta_fwd(real[::1] out, real[::1] a, const real[::1] enc, const real[::1] dec, Py_ssize_t N,
                  Py_ssize_t T, Py_ssize_t Td, Py_ssize_t H, const int64_t* lens):
    with nogil:
        time_attention_forward_k(_p(out), _p(a), _p(enc), _p(dec), N, T, Td, H, lens)


cdef void _ta_bwd(real[::1] denc, real[::1] ddec, const real[::1] enc, const real[::1] dec, const real[::1] a,
                  const real[::1] dout, Py_ssize_t N, Py_ssize_t T, Py_ssize_t Td, Py_ssize_t H,
                  const int64_t* lens):
    with nogil:
        time_attention_backward_k(_p(denc), _p(ddec), _p(enc), _p(dec), _p(a), _p(dout), N, T, Td, H, lens)


cdef tuple _attention_inputs(str what, tuple arrays, tuple dims):
    """The arrays C-contiguous, of one float dtype, their shapes agreeing with ``dims`` (one letter per axis)
    and T >= 1; returns (arrays, sizes by letter)."""
    arrays = tuple(_c(x) for x in arrays)
    _floats(what, arrays)
    sizes = {}
    ok = True
    for x, d in zip(arrays, dims):
        ok = ok and x.ndim == len(d)
        if ok:
            for letter, n in zip(d, x.shape):
                ok = ok and sizes.setdefault(letter, n) == n
    _agree(what, ok and sizes.get("T", 0) >= 1)
    return arrays, sizes


def attention_weight_forward(hs, h, lengths=None):
    """``a[n,t] = softmax_t(hs[n,t] . h[n])``; hs (N,T,H), h (N,H) -> a (N,T)."""
    (hs, h), d = _attention_inputs("attention_weight_forward", (hs, h), ("NTH", "NH"))
    lengths = _lengths_array(lengths)
    N, T, H = d["N"], d["T"], d["H"]
    a = np.empty((N, T), dtype=hs.dtype)
    if hs.dtype == np.float64:
        _aw_fwd[double](a.reshape(-1), hs.reshape(-1), h.reshape(-1), N, T, H, _lens(lengths, N, T))
    else:
        _aw_fwd[float](a.reshape(-1), hs.reshape(-1), h.reshape(-1), N, T, H, _lens(lengths, N, T))
    return a


def attention_weight_backward(hs, h, a, da, lengths=None):
    """hs (N,T,H), h (N,H), a and da (N,T) -> (dhs (N,T,H), dh (N,H))."""
    (hs, h, a, da), d = _attention_inputs("attention_weight_backward", (hs, h, a, da), ("NTH", "NH", "NT", "NT"))
    lengths = _lengths_array(lengths)
    N, T, H = d["N"], d["T"], d["H"]
    dhs, dh = np.empty_like(hs), np.empty_like(h)
    if hs.dtype == np.float64:
        _aw_bwd[double](dhs.reshape(-1), dh.reshape(-1), hs.reshape(-1), h.reshape(-1), a.reshape(-1),
                        da.reshape(-1), N, T, H, _lens(lengths, N, T))
    else:
        _aw_bwd[float](dhs.reshape(-1), dh.reshape(-1), hs.reshape(-1), h.reshape(-1), a.reshape(-1),
                       da.reshape(-1), N, T, H, _lens(lengths, N, T))
    return dhs, dh


def weight_sum_forward(hs, a, lengths=None):
    """``c[n] = sum_t a[n,t] hs[n,t]``; hs (N,T,H), a (N,T) -> c (N,H)."""
    (hs, a), d = _attention_inputs("weight_sum_forward", (hs, a), ("NTH", "NT"))
    lengths = _lengths_array(lengths)
    N, T, H = d["N"], d["T"], d["H"]
    c = np.empty((N, H), dtype=hs.dtype)
    if hs.dtype == np.float64:
        _ws_fwd[double](c.reshape(-1), hs.reshape(-1), a.reshape(-1), N, T, H, _lens(lengths, N, T))
    else:
        _ws_fwd[float](c.reshape(-1), hs.reshape(-1), a.reshape(-1), N, T, H, _lens(lengths, N, T))
    return c


def weight_sum_backward(hs, a, dc, lengths=None):
    """hs (N,T,H), a (N,T), dc (N,H) -> (dhs (N,T,H), da (N,T))."""
    (hs, a, dc), d = _attention_inputs("weight_sum_backward", (hs, a, dc), ("NTH", "NT", "NH"))
    lengths = _lengths_array(lengths)
    N, T, H = d["N"], d["T"], d["H"]
    dhs, da = np.empty_like(hs), np.empty_like(a)
    if hs.dtype == np.float64:
        _ws_bwd[double](dhs.reshape(-1), da.reshape(-1), hs.reshape(-1), a.reshape(-1), dc.reshape(-1), N, T, H,
                        _lens(lengths, N, T))
    else:
        _ws_bwd[float](dhs.reshape(-1), da.reshape(-1), hs.reshape(-1), a.reshape(-1), dc.reshape(-1), N, T, H,
                       _lens(lengths, N, T))
    return dhs, da


def time_attention_forward(hs_enc, hs_dec, lengths=None):
    """One attention per decoder step: hs_enc (N,T,H), hs_dec (N,Td,H) -> (out (N,Td,H), a (N,Td,T))."""
    (enc, dec), d = _attention_inputs("time_attention_forward", (hs_enc, hs_dec), ("NTH", "NdH"))
    lengths = _lengths_array(lengths)
    N, T, Td, H = d["N"], d["T"], d["d"], d["H"]
    out, a = np.empty_like(dec), np.empty((N, Td, T), dtype=enc.dtype)
    if enc.dtype == np.float64:
        _ta_fwd[double](out.reshape(-1), a.reshape(-1), enc.reshape(-1), dec.reshape(-1), N, T, Td, H,
                        _lens(lengths, N, T))
    else:
        _ta_fwd[float](out.reshape(-1), a.reshape(-1), enc.reshape(-1), dec.reshape(-1), N, T, Td, H,
                       _lens(lengths, N, T))
    return out, a


def time_attention_backward(hs_enc, hs_dec, a, dout, lengths=None):
    """hs_enc (N,T,H), hs_dec (N,Td,H), a (N,Td,T), dout (N,Td,H) -> (dhs_enc (N,T,H), dhs_dec (N,Td,H))."""
    (enc, dec, a, dout), d = _attention_inputs("time_attention_backward", (hs_enc, hs_dec, a, dout),
                                               ("NTH", "NdH", "NdT", "NdH"))
    lengths = _lengths_array(lengths)
    N, T, Td, H = d["N"], d["T"], d["d"], d["H"]
    denc, ddec = np.empty_like(enc), np.empty_like(dec)
    if enc.dtype == np.float64:
        _ta_bwd[double](denc.reshape(-1), ddec.reshape(-1), enc.reshape(-1), dec.reshape(-1), a.reshape(-1),
                        dout.reshape(-1), N, T, Td, H, _lens(lengths, N, T))
    else:
        _ta_bwd[float](denc.reshape(-1), ddec.reshape(-1), enc.reshape(-1), dec.reshape(-1), a.reshape(-1),
                       dout.reshape(-1), N, T, Td, H, _lens(lengths, N, T))
    return denc, ddec
