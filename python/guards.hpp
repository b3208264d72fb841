// The guards of the pybind11 binding: only what memory safety needs when a function of attncore._cpp is
// called directly. attncore.kernels (the dispatcher) checks and casts every argument first and owns every
// message; what it would refuse gets one generic error here (TypeError for dtypes, ValueError for shapes and
// values, IndexError for ids), as in cython_module.pyx. Inputs are made contiguous and aligned, copying
// only when needed; outputs are new arrays.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace attncore_py {

namespace py = pybind11;

template <class T>
using carray = py::array_t<T, py::array::c_style>;
using Shape = std::vector<py::ssize_t>;
using Dims = std::map<char, int64_t>;

// The one error: `fn` got arguments its dispatcher would refuse. `type` is a Python exception class.
[[noreturn]] inline void misuse(const char* fn, PyObject* type = PyExc_ValueError) {
    PyErr_SetString(type, (std::string("attncore._cpp.") + fn + ": arguments attncore.kernels would refuse; call " +
                           "attncore.kernels." + fn + " for its checks and messages")
                              .c_str());
    throw py::error_already_set();
}

inline void require(bool ok, const char* fn, PyObject* type = PyExc_ValueError) {
    if (!ok) misuse(fn, type);
}

inline Shape shape_of(const py::array& a) { return Shape(a.shape(), a.shape() + a.ndim()); }

inline bool native_is(const py::array& a, char kind, py::ssize_t size) {
    return a.dtype().kind() == kind && a.itemsize() == size && a.dtype().attr("isnative").cast<bool>();
}

// body(float{}) or body(double{}): the arrays must all be native float32 or all float64.
template <class F>
py::object floats(const char* fn, const std::vector<const py::array*>& arrays, F&& body) {
    const bool dbl = arrays.front()->itemsize() == 8;
    for (const py::array* a : arrays) require(native_is(*a, 'f', dbl ? 8 : 4), fn, PyExc_TypeError);
    if (dbl) return body(double{});
    return body(float{});
}

// Sizes by letter for (array, dims) pairs, one letter per axis; equal letters must have equal sizes.
using Specs = std::vector<std::pair<const py::array*, const char*>>;
inline Dims agree(const char* fn, const Specs& specs) {
    Dims sizes;
    for (const auto& [a, dims] : specs) {
        require(a->ndim() == static_cast<py::ssize_t>(std::strlen(dims)), fn);
        for (py::ssize_t i = 0; i < a->ndim(); ++i)
            require(sizes.emplace(dims[i], a->shape(i)).first->second == a->shape(i), fn);
    }
    return sizes;
}

template <class T>
carray<T> copied(const carray<T>& c) {
    carray<T> copy(shape_of(c));
    if (c.size()) std::memcpy(copy.mutable_data(), c.data(), sizeof(T) * static_cast<size_t>(c.size()));
    return copy;
}

// A contiguous, aligned view of an input of the checked dtype (a copy only when needed: NumPy allows a
// C-contiguous array at an odd address, where reading a T is undefined behaviour).
template <class T>
carray<T> in(const py::array& a) {
    carray<T> c = carray<T>::ensure(a);
    if (!c) throw py::error_already_set();
    return reinterpret_cast<std::uintptr_t>(c.data()) % alignof(T) == 0 ? c : copied(c);
}

// The inputs of a kernel, contiguous, of one float dtype T: x[i] is the data of the i-th.
template <class T>
struct Inputs {
    using type = T;
    std::vector<carray<T>> arrays;
    const T* operator[](size_t i) const { return arrays[i].data(); }
};

// body(x): the arrays of one native float dtype (floats), as Inputs x in the order given.
template <class F>
py::object with_inputs(const char* fn, const std::vector<const py::array*>& arrays, F&& body) {
    return floats(fn, arrays, [&](auto z) {
        Inputs<decltype(z)> x;
        for (const py::array* a : arrays) x.arrays.push_back(in<decltype(z)>(*a));
        return body(x);
    });
}

// Token ids (int64, each in [0, V) or equal to `ignore` where allowed) as a contiguous, aligned array.
inline carray<int64_t> ids_in(const char* fn, const py::array& ids, int64_t V, const int64_t* ignore = nullptr) {
    require(native_is(ids, 'i', 8), fn, PyExc_TypeError);
    carray<int64_t> out = in<int64_t>(ids);
    for (py::ssize_t r = 0; r < out.size(); ++r) {
        const int64_t v = out.data()[r];
        require((v >= 0 && v < V) || (ignore && v == *ignore), fn, PyExc_IndexError);
    }
    return out;
}

// Per-row source lengths of the attention kernels: None, or (N,) int64 from 1 to T.
struct Lengths {
    carray<int64_t> array;
    const int64_t* data = nullptr;
};

inline Lengths lengths_in(const char* fn, const py::object& lengths, int64_t N, int64_t Tn) {
    Lengths out;
    if (lengths.is_none()) return out;
    require(py::isinstance<py::array>(lengths), fn, PyExc_TypeError);
    const auto a = lengths.cast<py::array>();
    require(native_is(a, 'i', 8), fn, PyExc_TypeError);
    require(a.ndim() == 1 && a.shape(0) == N, fn);
    out.array = in<int64_t>(a);
    for (int64_t n = 0; n < N; ++n) require(out.array.data()[n] >= 1 && out.array.data()[n] <= Tn, fn);
    out.data = out.array.data();
    return out;
}

// kernel(args...) with the GIL released: the arguments are pointers and sizes, no Python object.
template <class K, class... A>
void released(K&& kernel, A... args) {
    py::gil_scoped_release nogil;
    kernel(args...);
}

// The BLAS takes 32-bit sizes and strides.
inline void require_blas_size(int64_t elements, const char* what) {
    if (elements >= (int64_t(1) << 31))
        throw py::value_error(std::string(what) + " is too large for the BLAS (2**31 elements or more)");
}

// The parts of attncore._cpp (cpp_module.cpp): each adds its kernels' functions to the module.
void bind_layers(py::module_& m);     // softmax, affine, embedding, loss, Adam (bind_layers.cpp)
void bind_attention(py::module_& m);  // attention weight and sum, time attention, greedy decoding
void bind_recurrent(py::module_& m);  // LSTM, the book's GRU, the reset-after GRU

}  // namespace attncore_py
