// Argument checks shared by the pybind11 bindings: dtype, ndim and shapes are
// checked before any data is touched, with the same exception types as the
// NumPy backend (TypeError for dtypes, ValueError for shapes).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>
#include <initializer_list>
#include <map>
#include <string>
#include <utility>

namespace attncore_py {

namespace py = pybind11;

template <class T>
using carray = py::array_t<T, py::array::c_style | py::array::forcecast>;

struct Arg {
    const char* name;
    const py::array& arr;
    const char* dims;  // one letter per axis, e.g. "NTH"; equal letters must have equal sizes
};

inline std::string shape_str(const py::array& a) {
    std::string s = "(";
    for (py::ssize_t i = 0; i < a.ndim(); ++i) {
        if (i) s += ", ";
        s += std::to_string(a.shape(i));
    }
    if (a.ndim() == 1) s += ",";
    return s + ")";
}

inline std::string dims_str(const char* dims) {
    std::string s = "(";
    for (const char* p = dims; *p; ++p) {
        if (p != dims) s += ", ";
        s += *p == 'd' ? std::string("Td") : std::string(1, *p);
    }
    if (dims[0] && !dims[1]) s += ",";
    return s + ")";
}

// Floating inputs of any width are accepted; the result type is float64 when
// any input is float64, else float32. Anything else is a TypeError.
inline bool wants_double(std::initializer_list<Arg> args) {
    bool dbl = false;
    for (const Arg& a : args) {
        const char kind = a.arr.dtype().kind();
        const auto size = a.arr.itemsize();
        if (kind != 'f' || size > 8)
            throw py::type_error(std::string(a.name) + " must be a float32 or float64 array, got dtype " +
                                 std::string(py::str(a.arr.dtype())));
        dbl = dbl || size == 8;
    }
    return dbl;
}

// Inputs cast to the weights' dtype must still be floating point.
inline void require_float(const char* name, const py::array& a) {
    if (a.dtype().kind() != 'f' || a.itemsize() > 8)
        throw py::type_error(std::string(name) + " must be a float32 or float64 array, got dtype " +
                             std::string(py::str(a.dtype())));
}

// The BLAS takes 32-bit sizes and strides.
inline void require_blas_size(int64_t elements, const char* what) {
    if (elements >= (int64_t(1) << 31))
        throw py::value_error(std::string(what) + " is too large for the BLAS (2**31 elements or more)");
}

// Binds each dimension letter to a size; throws ValueError quoting every shape.
inline std::map<char, int64_t> check_shapes(std::initializer_list<Arg> args) {
    std::map<char, int64_t> sizes;
    bool ok = true;
    for (const Arg& a : args) {
        const auto nd = static_cast<py::ssize_t>(std::char_traits<char>::length(a.dims));
        if (a.arr.ndim() != nd) {
            ok = false;
            break;
        }
        for (py::ssize_t i = 0; i < nd; ++i) {
            auto it = sizes.find(a.dims[i]);
            if (it == sizes.end())
                sizes[a.dims[i]] = a.arr.shape(i);
            else if (it->second != a.arr.shape(i))
                ok = false;
        }
    }
    if (!ok) {
        std::string expected, got;
        for (const Arg& a : args) {
            if (!expected.empty()) {
                expected += ", ";
                got += ", ";
            }
            expected += std::string(a.name) + " " + dims_str(a.dims);
            got += std::string(a.name) + " " + shape_str(a.arr);
        }
        throw py::value_error("shape mismatch: expected " + expected + "; got " + got);
    }
    return sizes;
}

inline void require_positive(const std::map<char, int64_t>& sizes, char dim, const char* what) {
    if (sizes.at(dim) < 1)
        throw py::value_error(std::string(what) + " must have at least one element, got 0");
}

// Contiguous, aligned view of the right dtype (floats, and the integer ids,
// labels and lengths); copies only when needed. Only for inputs. (NumPy allows
// a C-contiguous array at an odd address, e.g. over a bytearray with offset 1;
// reading a T there is undefined behaviour.)
template <class T>
inline carray<T> in(const py::array& a) {
    carray<T> c = carray<T>::ensure(a);
    if (!c) throw py::error_already_set();
    if (reinterpret_cast<std::uintptr_t>(c.data()) % alignof(T) == 0) return c;
    carray<T> copy(std::vector<py::ssize_t>(c.shape(), c.shape() + c.ndim()));
    if (c.size()) std::memcpy(copy.mutable_data(), c.data(), sizeof(T) * static_cast<size_t>(c.size()));
    return copy;
}

// Token ids as a contiguous int64 array with negative ids wrapped; IndexError out of range.
inline py::array_t<int64_t> checked_ids(const char* name, const py::array& ids, int64_t V, bool allow_ignore = false,
                                        int64_t ignore = 0) {
    const char kind = ids.dtype().kind();
    if (kind != 'i' && kind != 'u')
        throw py::type_error(std::string(name) + " must be an integer array, got dtype " +
                             std::string(py::str(ids.dtype())));
    if (kind == 'u' && ids.itemsize() == 8) {  // values past int64's range must not wrap to negative ids
        auto u = in<uint64_t>(ids);
        for (py::ssize_t r = 0; r < u.size(); ++r)
            if (u.data()[r] > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
                throw py::index_error(std::string(name) + ": id " + std::to_string(u.data()[r]) +
                                      " is out of range for size " + std::to_string(V));
    }
    auto raw = in<int64_t>(ids);  // aligned, as the floats are
    py::array_t<int64_t> out(std::vector<py::ssize_t>(raw.shape(), raw.shape() + raw.ndim()));
    const int64_t* src = raw.data();
    int64_t* dst = out.mutable_data();
    for (py::ssize_t r = 0; r < raw.size(); ++r) {
        int64_t v = src[r];
        if (allow_ignore && v == ignore) {
            dst[r] = v;
            continue;
        }
        if (!allow_ignore && v < 0 && v >= -V) v += V;
        if (v < 0 || v >= V)
            throw py::index_error(std::string(name) + ": id " + std::to_string(src[r]) + " is out of range for size " +
                                  std::to_string(V));
        dst[r] = v;
    }
    return out;
}

// b (2, 3H) of the reset-after GRU: the input bias, then the recurrent one.
inline void check_reset_after_bias(const py::array& b, int64_t H) {
    require_float("b", b);
    if (b.ndim() != 2 || b.shape(0) != 2 || b.shape(1) != 3 * H)
        throw py::value_error("shape mismatch: the reset-after GRU's b must have shape (2, " + std::to_string(3 * H) +
                              ") (input bias, recurrent bias), got " + shape_str(b));
}

}  // namespace attncore_py
