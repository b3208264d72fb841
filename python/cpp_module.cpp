// attncore._cpp: the pybind11 binding of the C++ kernels in csrc/.
// Each function checks dtypes and shapes, makes contiguous inputs (copying
// only when needed), allocates the outputs, releases the GIL and calls one
// kernel. No Python object is touched while the GIL is released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "../csrc/attention.hpp"
#include "../csrc/parallel.hpp"
#include "../csrc/softmax.hpp"
#include "checks.hpp"

#ifndef ATTNCORE_CXXFLAGS
#define ATTNCORE_CXXFLAGS "unknown"
#endif

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

// ---------------------------------------------------------------- attention

template <class T>
py::array attention_weight_forward_t(const py::array& hs_, const py::array& h_) {
    auto hs = in<T>(hs_);
    auto h = in<T>(h_);
    const int64_t N = hs.shape(0), Tn = hs.shape(1), H = hs.shape(2);
    carray<T> a({N, Tn});
    {
        py::gil_scoped_release nogil;
        attncore::attention_weight_forward(a.mutable_data(), hs.data(), h.data(), N, Tn, H);
    }
    return std::move(a);
}

py::array attention_weight_forward(const py::array& hs, const py::array& h) {
    const bool dbl = wants_double({{"hs", hs, ""}, {"h", h, ""}});
    auto dims = check_shapes({{"hs", hs, "NTH"}, {"h", h, "NH"}});
    require_positive(dims, 'T', "hs's time axis (T)");
    return dbl ? attention_weight_forward_t<double>(hs, h) : attention_weight_forward_t<float>(hs, h);
}

template <class T>
py::tuple attention_weight_backward_t(const py::array& hs_, const py::array& h_, const py::array& a_,
                                      const py::array& da_) {
    auto hs = in<T>(hs_);
    auto h = in<T>(h_);
    auto a = in<T>(a_);
    auto da = in<T>(da_);
    const int64_t N = hs.shape(0), Tn = hs.shape(1), H = hs.shape(2);
    carray<T> dhs({N, Tn, H});
    carray<T> dh({N, H});
    {
        py::gil_scoped_release nogil;
        attncore::attention_weight_backward(dhs.mutable_data(), dh.mutable_data(), hs.data(), h.data(),
                                            a.data(), da.data(), N, Tn, H);
    }
    return py::make_tuple(dhs, dh);
}

py::tuple attention_weight_backward(const py::array& hs, const py::array& h, const py::array& a,
                                    const py::array& da) {
    const bool dbl = wants_double({{"hs", hs, ""}, {"h", h, ""}, {"a", a, ""}, {"da", da, ""}});
    auto dims = check_shapes({{"hs", hs, "NTH"}, {"h", h, "NH"}, {"a", a, "NT"}, {"da", da, "NT"}});
    require_positive(dims, 'T', "hs's time axis (T)");
    return dbl ? attention_weight_backward_t<double>(hs, h, a, da)
               : attention_weight_backward_t<float>(hs, h, a, da);
}

template <class T>
py::array weight_sum_forward_t(const py::array& hs_, const py::array& a_) {
    auto hs = in<T>(hs_);
    auto a = in<T>(a_);
    const int64_t N = hs.shape(0), Tn = hs.shape(1), H = hs.shape(2);
    carray<T> c({N, H});
    {
        py::gil_scoped_release nogil;
        attncore::weight_sum_forward(c.mutable_data(), hs.data(), a.data(), N, Tn, H);
    }
    return std::move(c);
}

py::array weight_sum_forward(const py::array& hs, const py::array& a) {
    const bool dbl = wants_double({{"hs", hs, ""}, {"a", a, ""}});
    auto dims = check_shapes({{"hs", hs, "NTH"}, {"a", a, "NT"}});
    require_positive(dims, 'T', "hs's time axis (T)");
    return dbl ? weight_sum_forward_t<double>(hs, a) : weight_sum_forward_t<float>(hs, a);
}

template <class T>
py::tuple weight_sum_backward_t(const py::array& hs_, const py::array& a_, const py::array& dc_) {
    auto hs = in<T>(hs_);
    auto a = in<T>(a_);
    auto dc = in<T>(dc_);
    const int64_t N = hs.shape(0), Tn = hs.shape(1), H = hs.shape(2);
    carray<T> dhs({N, Tn, H});
    carray<T> da({N, Tn});
    {
        py::gil_scoped_release nogil;
        attncore::weight_sum_backward(dhs.mutable_data(), da.mutable_data(), hs.data(), a.data(), dc.data(),
                                      N, Tn, H);
    }
    return py::make_tuple(dhs, da);
}

py::tuple weight_sum_backward(const py::array& hs, const py::array& a, const py::array& dc) {
    const bool dbl = wants_double({{"hs", hs, ""}, {"a", a, ""}, {"dc", dc, ""}});
    auto dims = check_shapes({{"hs", hs, "NTH"}, {"a", a, "NT"}, {"dc", dc, "NH"}});
    require_positive(dims, 'T', "hs's time axis (T)");
    return dbl ? weight_sum_backward_t<double>(hs, a, dc) : weight_sum_backward_t<float>(hs, a, dc);
}

template <class T>
py::tuple time_attention_forward_t(const py::array& enc_, const py::array& dec_) {
    auto enc = in<T>(enc_);
    auto dec = in<T>(dec_);
    const int64_t N = enc.shape(0), Tn = enc.shape(1), H = enc.shape(2), Td = dec.shape(1);
    carray<T> out({N, Td, H});
    carray<T> a({N, Td, Tn});
    {
        py::gil_scoped_release nogil;
        attncore::time_attention_forward(out.mutable_data(), a.mutable_data(), enc.data(), dec.data(), N, Tn,
                                         Td, H);
    }
    return py::make_tuple(out, a);
}

py::tuple time_attention_forward(const py::array& hs_enc, const py::array& hs_dec) {
    const bool dbl = wants_double({{"hs_enc", hs_enc, ""}, {"hs_dec", hs_dec, ""}});
    auto dims = check_shapes({{"hs_enc", hs_enc, "NTH"}, {"hs_dec", hs_dec, "NdH"}});
    require_positive(dims, 'T', "hs_enc's time axis (T)");
    return dbl ? time_attention_forward_t<double>(hs_enc, hs_dec) : time_attention_forward_t<float>(hs_enc, hs_dec);
}

template <class T>
py::tuple time_attention_backward_t(const py::array& enc_, const py::array& dec_, const py::array& a_,
                                    const py::array& dout_) {
    auto enc = in<T>(enc_);
    auto dec = in<T>(dec_);
    auto a = in<T>(a_);
    auto dout = in<T>(dout_);
    const int64_t N = enc.shape(0), Tn = enc.shape(1), H = enc.shape(2), Td = dec.shape(1);
    carray<T> denc({N, Tn, H});
    carray<T> ddec({N, Td, H});
    {
        py::gil_scoped_release nogil;
        attncore::time_attention_backward(denc.mutable_data(), ddec.mutable_data(), enc.data(), dec.data(),
                                          a.data(), dout.data(), N, Tn, Td, H);
    }
    return py::make_tuple(denc, ddec);
}

py::tuple time_attention_backward(const py::array& hs_enc, const py::array& hs_dec, const py::array& a,
                                  const py::array& dout) {
    const bool dbl =
        wants_double({{"hs_enc", hs_enc, ""}, {"hs_dec", hs_dec, ""}, {"a", a, ""}, {"dout", dout, ""}});
    auto dims = check_shapes(
        {{"hs_enc", hs_enc, "NTH"}, {"hs_dec", hs_dec, "NdH"}, {"a", a, "NdT"}, {"dout", dout, "NdH"}});
    require_positive(dims, 'T', "hs_enc's time axis (T)");
    return dbl ? time_attention_backward_t<double>(hs_enc, hs_dec, a, dout)
               : time_attention_backward_t<float>(hs_enc, hs_dec, a, dout);
}

}  // namespace

PYBIND11_MODULE(_cpp, m) {
    m.doc() = "attncore C++ kernels (pybind11 binding of csrc/)";

    m.def("set_num_threads", &attncore::set_num_threads, py::arg("n"));
    m.def("get_num_threads", &attncore::get_num_threads);
    m.def("openmp_enabled", &attncore::openmp_enabled);
    m.attr("compile_flags") = ATTNCORE_CXXFLAGS;

    m.def("softmax_forward", &softmax_forward, py::arg("x"));
    m.def("softmax_backward", &softmax_backward, py::arg("y"), py::arg("dy"));
    m.def("attention_weight_forward", &attention_weight_forward, py::arg("hs"), py::arg("h"));
    m.def("attention_weight_backward", &attention_weight_backward, py::arg("hs"), py::arg("h"), py::arg("a"),
          py::arg("da"));
    m.def("weight_sum_forward", &weight_sum_forward, py::arg("hs"), py::arg("a"));
    m.def("weight_sum_backward", &weight_sum_backward, py::arg("hs"), py::arg("a"), py::arg("dc"));
    m.def("time_attention_forward", &time_attention_forward, py::arg("hs_enc"), py::arg("hs_dec"));
    m.def("time_attention_backward", &time_attention_backward, py::arg("hs_enc"), py::arg("hs_dec"), py::arg("a"),
          py::arg("dout"));
}
