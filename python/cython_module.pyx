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

cdef extern from "attention_scores.hpp" namespace "attncore" nogil:
    void scaled_attention_forward_k "attncore::scaled_attention_forward"[T](
        T* out, T* a, const T* q, const T* k, const T* values, T scale, int64_t N, int64_t Tn, int64_t Td,
        int64_t K, int64_t V, const int64_t* lengths)
    void scaled_attention_backward_k "attncore::scaled_attention_backward"[T](
        T* dq, T* dk, T* dvalues, T* dscale, const T* q, const T* k, const T* values, const T* a, const T* dout,
        T scale, int64_t N, int64_t Tn, int64_t Td, int64_t K, int64_t V, const int64_t* lengths)
    void additive_attention_forward_k "attncore::additive_attention_forward"[T](
        T* out, T* a, const T* qp, const T* kp, const T* w, const T* values, int64_t N, int64_t Tn, int64_t Td,
        int64_t A, int64_t V, const int64_t* lengths)
    void additive_attention_backward_k "attncore::additive_attention_backward"[T](
        T* dqp, T* dkp, T* dw, T* dvalues, const T* qp, const T* kp, const T* w, const T* values, const T* a,
        const T* dout, int64_t N, int64_t Tn, int64_t Td, int64_t A, int64_t V, const int64_t* lengths)

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


cdef str _misuse(str what):
    """The one message of a direct call that attncore.kernels would refuse (as attncore._cpp's)."""
    return f"attncore._cython.{what}: arguments attncore.kernels would refuse; call attncore.kernels.{what} for its " \
           "checks and messages"


cdef int _agree(str what, bint ok) except -1:
    if not ok:
        raise ValueError(_misuse(what))
    return 0


cdef int _floats(str what, tuple arrays) except -1:
    """TypeError unless the arrays are all float32 or all float64 (the dispatcher casts them so)."""
    if not all(x.dtype == arrays[0].dtype and x.dtype in (np.float32, np.float64) for x in arrays):
        raise TypeError(_misuse(what))
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


# ---------------------------------------------------------------- softmax

def _softmax(real[::1] y, const real[::1] x, const real[::1] dy, Py_ssize_t R, Py_ssize_t C, bint backward):
    with nogil:
        if backward:
            softmax_backward_k(_p(y), _p(x), _p(dy), R, C)
        else:
            softmax_forward_k(_p(y), _p(x), R, C)


cdef object _softmax_call(str what, x, dy, bint backward):
    x, dy = _c(x), _c(dy)
    _floats(what, (x, dy))
    _agree(what, x.shape == dy.shape and x.ndim >= 1 and (backward or x.shape[x.ndim - 1] >= 1))
    y = np.empty_like(x)
    C = x.shape[x.ndim - 1]
    _softmax(y.reshape(-1), x.reshape(-1), dy.reshape(-1), x.size // C if C else 0, C, backward)
    return y


def softmax_forward(x):
    """Softmax over the last axis of ``x`` (..., C), C >= 1."""
    return _softmax_call("softmax_forward", x, x, False)


def softmax_backward(y, dy):
    """Gradient of the softmax from its output ``y`` and ``dy`` (same shape and dtype)."""
    return _softmax_call("softmax_backward", y, dy, True)


# ---------------------------------------------------------------- attention
# lengths: None, or (N,) integers from 1 to T: row n attends over its first lengths[n] encoder steps; the
# other steps get zero weights and zero gradients.

# The attention kernels by name: their number in _run, the inputs' and the outputs' shapes, one letter per
# axis (d: the decoder's Td; K key, A additive and V value widths; "": a scalar).
_ATTENTION = {
    "attention_weight_forward": (0, ("NTH", "NH"), ("NT",)),
    "attention_weight_backward": (1, ("NTH", "NH", "NT", "NT"), ("NTH", "NH")),
    "weight_sum_forward": (2, ("NTH", "NT"), ("NH",)),
    "weight_sum_backward": (3, ("NTH", "NT", "NH"), ("NTH", "NT")),
    "time_attention_forward": (4, ("NTH", "NdH"), ("NdH", "NdT")),
    "time_attention_backward": (5, ("NTH", "NdH", "NdT", "NdH"), ("NTH", "NdH")),
    "scaled_attention_forward": (6, ("NdK", "NTK", "NTV"), ("NdV", "NdT")),
    "scaled_attention_backward": (7, ("NdK", "NTK", "NTV", "NdT", "NdV"), ("NdK", "NTK", "NTV", "")),
    "additive_attention_forward": (8, ("NdA", "NTA", "A", "NTV"), ("NdV", "NdT")),
    "additive_attention_backward": (9, ("NdA", "NTA", "A", "NTV", "NdT", "NdV"), ("NdA", "NTA", "A", "NTV")),
}


def _run(int kernel, real[::1] o0, real[::1] o1, real[::1] o2, real[::1] o3, const real[::1] i0,
         const real[::1] i1, const real[::1] i2, const real[::1] i3, const real[::1] i4, const real[::1] i5,
         dict z, double scale, lengths):
    """Attention kernel number ``kernel`` on flat, C-contiguous arrays of one dtype (outputs first; unused
    ones empty), dispatched on that dtype; ``z`` the sizes by letter; ``lengths`` kept alive by the caller."""
    cdef Py_ssize_t N = z["N"], T = z["T"], Td = z.get("d", 0), H = z.get("H", 0)
    cdef Py_ssize_t K = z.get("K", 0), A = z.get("A", 0), V = z.get("V", 0)
    cdef const int64_t* lens = _lens(lengths, N, T)
    cdef real s = <real>scale
    with nogil:
        if kernel == 0:
            attention_weight_forward_k(_p(o0), _p(i0), _p(i1), N, T, H, lens)
        elif kernel == 1:
            attention_weight_backward_k(_p(o0), _p(o1), _p(i0), _p(i1), _p(i2), _p(i3), N, T, H, lens)
        elif kernel == 2:
            weight_sum_forward_k(_p(o0), _p(i0), _p(i1), N, T, H, lens)
        elif kernel == 3:
            weight_sum_backward_k(_p(o0), _p(o1), _p(i0), _p(i1), _p(i2), N, T, H, lens)
        elif kernel == 4:
            time_attention_forward_k(_p(o0), _p(o1), _p(i0), _p(i1), N, T, Td, H, lens)
        elif kernel == 5:
            time_attention_backward_k(_p(o0), _p(o1), _p(i0), _p(i1), _p(i2), _p(i3), N, T, Td, H, lens)
        elif kernel == 6:
            scaled_attention_forward_k(_p(o0), _p(o1), _p(i0), _p(i1), _p(i2), s, N, T, Td, K, V, lens)
        elif kernel == 7:
            scaled_attention_backward_k(_p(o0), _p(o1), _p(o2), _p(o3), _p(i0), _p(i1), _p(i2), _p(i3), _p(i4), s,
                                        N, T, Td, K, V, lens)
        elif kernel == 8:
            additive_attention_forward_k(_p(o0), _p(o1), _p(i0), _p(i1), _p(i2), _p(i3), N, T, Td, A, V, lens)
        else:
            additive_attention_backward_k(_p(o0), _p(o1), _p(o2), _p(o3), _p(i0), _p(i1), _p(i2), _p(i3), _p(i4),
                                          _p(i5), N, T, Td, A, V, lens)


cdef object _attention(str name, tuple inputs, lengths, double scale=1.0):
    """The attention kernel ``name`` on ``inputs``: made C-contiguous, of one float dtype, their shapes agreeing
    with the kernel's (equal letters, equal sizes) and T >= 1; returns its output or outputs."""
    kernel, dims, outs = _ATTENTION[name]
    arrays = tuple(_c(x) for x in inputs)
    _floats(name, arrays)
    sizes = {}
    ok = True
    for x, d in zip(arrays, dims):
        ok = ok and x.ndim == len(d)
        if ok:
            for letter, n in zip(d, x.shape):
                ok = ok and sizes.setdefault(letter, n) == n
    _agree(name, ok and sizes.get("T", 0) >= 1)
    # an int64 array at an odd address is copied: reading it there is undefined
    lengths = None if lengths is None else np.require(lengths, np.int64, ["C", "A"])
    outputs = [np.empty(tuple(sizes[letter] for letter in o), arrays[0].dtype) for o in outs]
    none = np.empty(0, arrays[0].dtype)
    o = [x.reshape(-1) for x in outputs] + [none] * (4 - len(outputs))
    i = [x.reshape(-1) for x in arrays] + [none] * (6 - len(arrays))
    _run(kernel, o[0], o[1], o[2], o[3], i[0], i[1], i[2], i[3], i[4], i[5], sizes, scale, lengths)
    return outputs[0] if len(outputs) == 1 else tuple(outputs)


def attention_weight_forward(hs, h, lengths=None):
    """``a[n,t] = softmax_t(hs[n,t] . h[n])``; hs (N,T,H), h (N,H) -> a (N,T)."""
    return _attention("attention_weight_forward", (hs, h), lengths)


def attention_weight_backward(hs, h, a, da, lengths=None):
    """hs (N,T,H), h (N,H), a and da (N,T) -> (dhs (N,T,H), dh (N,H))."""
    return _attention("attention_weight_backward", (hs, h, a, da), lengths)


def weight_sum_forward(hs, a, lengths=None):
    """``c[n] = sum_t a[n,t] hs[n,t]``; hs (N,T,H), a (N,T) -> c (N,H)."""
    return _attention("weight_sum_forward", (hs, a), lengths)


def weight_sum_backward(hs, a, dc, lengths=None):
    """hs (N,T,H), a (N,T), dc (N,H) -> (dhs (N,T,H), da (N,T))."""
    return _attention("weight_sum_backward", (hs, a, dc), lengths)


def time_attention_forward(hs_enc, hs_dec, lengths=None):
    """One attention per decoder step: hs_enc (N,T,H), hs_dec (N,Td,H) -> (out (N,Td,H), a (N,Td,T))."""
    return _attention("time_attention_forward", (hs_enc, hs_dec), lengths)


def time_attention_backward(hs_enc, hs_dec, a, dout, lengths=None):
    """hs_enc (N,T,H), hs_dec (N,Td,H), a (N,Td,T), dout (N,Td,H) -> (dhs_enc (N,T,H), dhs_dec (N,Td,H))."""
    return _attention("time_attention_backward", (hs_enc, hs_dec, a, dout), lengths)


def scaled_attention_forward(q, k, values, double scale, lengths=None):
    """q (N,Td,K), k (N,T,K), values (N,T,V) -> (out (N,Td,V), a (N,Td,T)); scores scale * q . k."""
    return _attention("scaled_attention_forward", (q, k, values), lengths, scale)


def scaled_attention_backward(q, k, values, a, dout, double scale, lengths=None):
    """-> (dq (N,Td,K), dk (N,T,K), dvalues (N,T,V), dscale (0-d))."""
    return _attention("scaled_attention_backward", (q, k, values, a, dout), lengths, scale)


def additive_attention_forward(qp, kp, w, values, lengths=None):
    """qp (N,Td,A), kp (N,T,A), w (A,), values (N,T,V) -> (out (N,Td,V), a (N,Td,T)); scores w . tanh(qp + kp)."""
    return _attention("additive_attention_forward", (qp, kp, w, values), lengths)


def additive_attention_backward(qp, kp, w, values, a, dout, lengths=None):
    """-> (dqp (N,Td,A), dkp (N,T,A), dw (A,), dvalues (N,T,V))."""
    return _attention("additive_attention_backward", (qp, kp, w, values, a, dout), lengths)
