// attncore._cpp, the softmax, affine, embedding, loss and optimizer kernels: argument checks, outputs, the
// GIL released around each kernel call (see cpp_module.cpp).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "../csrc/adam.hpp"
#include "../csrc/affine.hpp"
#include "../csrc/embedding.hpp"
#include "../csrc/parallel.hpp"
#include "../csrc/softmax.hpp"
#include "bindings.hpp"
#include "checks.hpp"

namespace py = pybind11;
using namespace attncore_py;

namespace {

// ---------------------------------------------------------------- softmax

template <class T>
py::array softmax_forward_t(const py::array& x_) {
    auto x = in<T>(x_);
    const int64_t C = x.shape(x.ndim() - 1);
    const int64_t R = C ? x.size() / C : 0;
    carray<T> y(std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim()));
    {
        py::gil_scoped_release nogil;
        attncore::softmax_forward(y.mutable_data(), x.data(), R, C);
    }
    return std::move(y);
}

py::array softmax_forward(const py::array& x) {
    const bool dbl = wants_double({{"x", x, ""}});
    if (x.ndim() < 1) throw py::value_error("x must have at least one axis, got a 0-d array");
    if (x.shape(x.ndim() - 1) < 1) throw py::value_error("softmax needs at least one element on the last axis, got 0");
    return dbl ? softmax_forward_t<double>(x) : softmax_forward_t<float>(x);
}

template <class T>
py::array softmax_backward_t(const py::array& y_, const py::array& dy_) {
    auto y = in<T>(y_);
    auto dy = in<T>(dy_);
    const int64_t C = y.shape(y.ndim() - 1);
    const int64_t R = C ? y.size() / C : 0;
    carray<T> dx(std::vector<py::ssize_t>(y.shape(), y.shape() + y.ndim()));
    {
        py::gil_scoped_release nogil;
        attncore::softmax_backward(dx.mutable_data(), y.data(), dy.data(), R, C);
    }
    return std::move(dx);
}

py::array softmax_backward(const py::array& y, const py::array& dy) {
    const bool dbl = wants_double({{"y", y, ""}, {"dy", dy, ""}});
    bool same = y.ndim() == dy.ndim() && y.ndim() >= 1;
    for (py::ssize_t i = 0; same && i < y.ndim(); ++i) same = y.shape(i) == dy.shape(i);
    if (!same)
        throw py::value_error("shape mismatch: y and dy must have the same shape (at least 1-d); got y " +
                              shape_str(y) + ", dy " + shape_str(dy));
    return dbl ? softmax_backward_t<double>(y, dy) : softmax_backward_t<float>(y, dy);
}

// ---------------------------------------------------------------- affine

// x (M,D) is cast to the weights' dtype (float64 if W or b is), as a layer does.
std::map<char, int64_t> affine_dims(const py::array& x, const py::array& W, const py::array* b,
                                    const py::array* dout) {
    require_float("x", x);
    if (dout) require_float("dout", *dout);
    auto d = b ? check_shapes({{"x", x, "MD"}, {"W", W, "DK"}, {"b", *b, "K"}})
               : check_shapes({{"x", x, "MD"}, {"W", W, "DK"}, {"dout", *dout, "MK"}});
    require_blas_size(d['M'] * d['K'], "M*K");
    require_blas_size(d['M'] * d['D'], "M*D");
    require_blas_size(d['D'] * d['K'], "D*K");
    return d;
}

template <class T>
py::array affine_forward_t(const py::array& x_, const py::array& W_, const py::array& b_, int64_t M, int64_t D,
                           int64_t K) {
    auto x = in<T>(x_), W = in<T>(W_), b = in<T>(b_);
    carray<T> out({M, K});
    {
        py::gil_scoped_release nogil;
        attncore::affine_forward(out.mutable_data(), x.data(), W.data(), b.data(), M, D, K);
    }
    return std::move(out);
}

py::array affine_forward(const py::array& x, const py::array& W, const py::array& b) {
    const bool dbl = wants_double({{"W", W, ""}, {"b", b, ""}});
    auto d = affine_dims(x, W, &b, nullptr);
    return dbl ? affine_forward_t<double>(x, W, b, d['M'], d['D'], d['K'])
               : affine_forward_t<float>(x, W, b, d['M'], d['D'], d['K']);
}

template <class T>
py::tuple affine_backward_t(const py::array& x_, const py::array& W_, const py::array& dout_, int64_t M, int64_t D,
                            int64_t K) {
    auto x = in<T>(x_), W = in<T>(W_), dout = in<T>(dout_);
    carray<T> dx({M, D}), dW({D, K}), db({K});
    {
        py::gil_scoped_release nogil;
        attncore::affine_backward(dx.mutable_data(), dW.mutable_data(), db.mutable_data(), x.data(), W.data(),
                                  dout.data(), M, D, K);
    }
    return py::make_tuple(dx, dW, db);
}

py::tuple affine_backward(const py::array& x, const py::array& W, const py::array& dout) {
    const bool dbl = wants_double({{"W", W, ""}});
    auto d = affine_dims(x, W, nullptr, &dout);
    return dbl ? affine_backward_t<double>(x, W, dout, d['M'], d['D'], d['K'])
               : affine_backward_t<float>(x, W, dout, d['M'], d['D'], d['K']);
}

// ---------------------------------------------------------------- embedding and loss

template <class T>
py::array embedding_forward_t(const py::array& W_, const py::array_t<int64_t>& ids) {
    auto W = in<T>(W_);
    const int64_t D = W.shape(1), R = ids.size();
    std::vector<py::ssize_t> shape(ids.shape(), ids.shape() + ids.ndim());
    shape.push_back(D);
    carray<T> out(shape);
    {
        py::gil_scoped_release nogil;
        attncore::embedding_forward(out.mutable_data(), W.data(), ids.data(), R, D);
    }
    return std::move(out);
}

py::array embedding_forward(const py::array& W, const py::array& ids) {
    const bool dbl = wants_double({{"W", W, ""}});
    if (W.ndim() != 2) throw py::value_error("W must have shape (V, D), got " + shape_str(W));
    auto idx = checked_ids("ids", ids, W.shape(0));
    return dbl ? embedding_forward_t<double>(W, idx) : embedding_forward_t<float>(W, idx);
}

template <class T>
py::array embedding_backward_t(const py::array_t<int64_t>& ids, const py::array& dout_, int64_t V) {
    auto dout = in<T>(dout_);
    const int64_t D = dout.shape(dout.ndim() - 1), R = ids.size();
    carray<T> dW({V, D});
    {
        py::gil_scoped_release nogil;
        attncore::embedding_backward(dW.mutable_data(), ids.data(), dout.data(), R, V, D);
    }
    return std::move(dW);
}

py::array embedding_backward(const py::array& ids, const py::array& dout, int64_t V) {
    const bool dbl = wants_double({{"dout", dout, ""}});
    if (V < 0) throw py::value_error("V must be >= 0");
    auto idx = checked_ids("ids", ids, V);
    bool ok = dout.ndim() == idx.ndim() + 1;
    for (py::ssize_t i = 0; ok && i < idx.ndim(); ++i) ok = dout.shape(i) == idx.shape(i);
    if (!ok)
        throw py::value_error("shape mismatch: dout must have shape ids.shape + (D,); got ids " + shape_str(idx) +
                              ", dout " + shape_str(dout));
    return dbl ? embedding_backward_t<double>(idx, dout, V) : embedding_backward_t<float>(idx, dout, V);
}

py::array_t<int64_t> loss_labels(const py::array& xs, const py::array& ts, int64_t ignore) {
    if (xs.ndim() != 2 || xs.shape(1) < 1)
        throw py::value_error("xs must have shape (R, V) with V >= 1, got " + shape_str(xs));
    auto labels = checked_ids("ts", ts, xs.shape(1), true, ignore);
    if (labels.ndim() != 1 || labels.shape(0) != xs.shape(0))
        throw py::value_error("shape mismatch: expected xs (R, V), ts (R,); got xs " + shape_str(xs) + ", ts " +
                              shape_str(labels));
    return labels;
}

template <class T>
double sce_forward_t(const py::array& xs_, const py::array_t<int64_t>& ts, int64_t ignore) {
    auto xs = in<T>(xs_);
    int64_t count = 0;
    double loss;
    {
        py::gil_scoped_release nogil;
        loss = attncore::softmax_cross_entropy_forward(xs.data(), ts.data(), ignore, xs.shape(0), xs.shape(1), &count);
    }
    return count ? loss / double(count) : 0.0;
}

double softmax_cross_entropy_forward(const py::array& xs, const py::array& ts, int64_t ignore_label) {
    const bool dbl = wants_double({{"xs", xs, ""}});
    auto labels = loss_labels(xs, ts, ignore_label);
    return dbl ? sce_forward_t<double>(xs, labels, ignore_label) : sce_forward_t<float>(xs, labels, ignore_label);
}

template <class T>
py::array sce_backward_t(const py::array& xs_, const py::array_t<int64_t>& ts, int64_t ignore, double dout) {
    auto xs = in<T>(xs_);
    const int64_t R = xs.shape(0), V = xs.shape(1);
    int64_t count = 0;
    for (int64_t r = 0; r < R; ++r) count += ts.data()[r] != ignore;
    carray<T> dx({R, V});
    const T scale = count ? T(dout / double(count)) : T(0);
    {
        py::gil_scoped_release nogil;
        attncore::softmax_cross_entropy_backward(dx.mutable_data(), xs.data(), ts.data(), ignore,
                                                 scale, R, V);
    }
    return std::move(dx);
}

py::array softmax_cross_entropy_backward(const py::array& xs, const py::array& ts, int64_t ignore_label,
                                         double dout) {
    const bool dbl = wants_double({{"xs", xs, ""}});
    auto labels = loss_labels(xs, ts, ignore_label);
    return dbl ? sce_backward_t<double>(xs, labels, ignore_label, dout)
               : sce_backward_t<float>(xs, labels, ignore_label, dout);
}

// ---------------------------------------------------------------- optimizer

// param, m, v are written in place, so they must already be C-contiguous,
// writeable and of one float dtype (nothing is cast or copied: a write into a
// copy would be lost); grad is read in that dtype.
// Whether the bytes of two arrays (contiguous: one range each) overlap.
bool overlap(const py::array& a, const py::array& b) {
    const auto *a0 = static_cast<const char*>(a.data()), *b0 = static_cast<const char*>(b.data());
    return a.nbytes() > 0 && b.nbytes() > 0 && a0 < b0 + b.nbytes() && b0 < a0 + a.nbytes();
}

template <class T>
void adam_update_t(py::array& param, py::array& m, py::array& v, const py::array& grad_, double c1, double c2,
                   double lr_t, bool wide) {
    carray<T> grad = in<T>(grad_);
    if (overlap(grad, param) || overlap(grad, m) || overlap(grad, v)) {  // read while the others are written
        carray<T> copy(std::vector<py::ssize_t>(grad.shape(), grad.shape() + grad.ndim()));
        if (grad.size()) std::memcpy(copy.mutable_data(), grad.data(), sizeof(T) * static_cast<size_t>(grad.size()));
        grad = copy;
    }
    T *p = static_cast<T*>(param.mutable_data()), *pm = static_cast<T*>(m.mutable_data()),
      *pv = static_cast<T*>(v.mutable_data());
    const int64_t n = param.size();
    py::gil_scoped_release nogil;
    if (wide || sizeof(T) == sizeof(double))
        attncore::adam_update<T, double>(p, pm, pv, grad.data(), T(c1), T(c2), lr_t, n);
    else
        attncore::adam_update<float, float>(reinterpret_cast<float*>(p), reinterpret_cast<float*>(pm),
                                            reinterpret_cast<float*>(pv), reinterpret_cast<const float*>(grad.data()),
                                            float(c1), float(c2), lr_t, n);
}

void adam_update(py::array param, py::array grad, py::array m, py::array v, double lr_t, double beta1, double beta2,
                 bool wide) {
    const char* names[] = {"param", "m", "v"};
    py::array* arrays[] = {&param, &m, &v};
    for (int i = 0; i < 3; ++i) {
        py::array& a = *arrays[i];
        const std::string str = py::str(a.dtype().attr("str"));
        if (a.dtype().kind() != 'f' || (a.itemsize() != 4 && a.itemsize() != 8) ||
            !py::cast<bool>(a.dtype().attr("isnative")))
            throw py::type_error(std::string(names[i]) + " must be a native float32 or float64 array, got dtype " + str);
        if (a.itemsize() != param.itemsize())
            throw py::type_error(std::string(names[i]) + " must have param's dtype " +
                                 std::string(py::str(param.dtype().attr("str"))) + ", got " + str);
        if (!(a.flags() & py::array::c_style) || !a.writeable() ||
            reinterpret_cast<std::uintptr_t>(a.data()) % a.itemsize() != 0)
            throw py::value_error(std::string(names[i]) +
                                  " must be C-contiguous, aligned and writeable (it is updated in place)");
        if (a.ndim() != param.ndim() || a.size() != param.size())
            throw py::value_error("shape mismatch: " + std::string(names[i]) + " " + shape_str(a) + ", param " +
                                  shape_str(param));
    }
    if (overlap(param, m) || overlap(param, v) || overlap(m, v))
        throw py::value_error("param, m and v must not share memory (each is updated in place)");
    wants_double({{"grad", grad, ""}});
    bool same = grad.ndim() == param.ndim();
    for (py::ssize_t i = 0; same && i < grad.ndim(); ++i) same = grad.shape(i) == param.shape(i);
    if (!same) throw py::value_error("shape mismatch: grad " + shape_str(grad) + ", param " + shape_str(param));
    if (param.itemsize() == 8)
        adam_update_t<double>(param, m, v, grad, 1.0 - beta1, 1.0 - beta2, lr_t, wide);
    else
        adam_update_t<float>(param, m, v, grad, 1.0 - beta1, 1.0 - beta2, lr_t, wide);
}

}  // namespace

namespace attncore_py {

void bind_layers(py::module_& m) {
    m.def("softmax_forward", &softmax_forward, py::arg("x"));
    m.def("softmax_backward", &softmax_backward, py::arg("y"), py::arg("dy"));
    m.def("affine_forward", &affine_forward, py::arg("x"), py::arg("W"), py::arg("b"));
    m.def("affine_backward", &affine_backward, py::arg("x"), py::arg("W"), py::arg("dout"));
    m.def("embedding_forward", &embedding_forward, py::arg("W"), py::arg("ids"));
    m.def("embedding_backward", &embedding_backward, py::arg("ids"), py::arg("dout"), py::arg("V"));
    m.def("softmax_cross_entropy_forward", &softmax_cross_entropy_forward, py::arg("xs"), py::arg("ts"),
          py::arg("ignore_label"));
    m.def("adam_update", &adam_update, py::arg("param"), py::arg("grad"), py::arg("m"), py::arg("v"),
          py::arg("lr_t"), py::arg("beta1"), py::arg("beta2"), py::arg("wide"));
    m.def("softmax_cross_entropy_backward", &softmax_cross_entropy_backward, py::arg("xs"), py::arg("ts"),
          py::arg("ignore_label"), py::arg("dout"));
}

}  // namespace attncore_py
