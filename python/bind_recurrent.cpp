// attncore._cpp, the recurrent kernels (LSTM, the book's GRU, the reset-after GRU): argument checks,
// outputs, the GIL released around each kernel call (see cpp_module.cpp).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "../csrc/fused_step.hpp"
#include "../csrc/gru_reset_after.hpp"
#include "../csrc/gru.hpp"
#include "../csrc/lstm.hpp"
#include "../csrc/parallel.hpp"
#include "bindings.hpp"
#include "checks.hpp"

namespace py = pybind11;
using namespace attncore_py;

namespace {

// ---------------------------------------------------------------- recurrent

struct RecurrentDims {
    int64_t N, Tn, D, H;
};

// Checks xs (N,T,D), Wx (D,G), Wh (H,G) with G = gates * H, b (G) when given,
// and every (N,H) state; all dtypes floating.
RecurrentDims recurrent_dims(int gates, const py::array& xs, const py::array& Wx, const py::array& Wh,
                             const py::array* b, std::initializer_list<Arg> states,
                             std::initializer_list<Arg> sequences) {
    require_float("xs", xs);
    for (const Arg& a : states) require_float(a.name, a.arr);
    for (const Arg& a : sequences) require_float(a.name, a.arr);
    auto d = b ? check_shapes({{"xs", xs, "NTD"}, {"Wx", Wx, "DG"}, {"Wh", Wh, "HG"}, {"b", *b, "G"}})
               : check_shapes({{"xs", xs, "NTD"}, {"Wx", Wx, "DG"}, {"Wh", Wh, "HG"}});
    if (d['G'] != gates * d['H'])
        throw py::value_error("Wh has shape " + shape_str(Wh) + ": its second axis must be " +
                              std::to_string(gates) + " x its first");
    for (const Arg& a : states)
        if (a.arr.ndim() != 2 || a.arr.shape(0) != d['N'] || a.arr.shape(1) != d['H'])
            throw py::value_error(std::string("shape mismatch: ") + a.name + " must be (N, H) = (" +
                                  std::to_string(d['N']) + ", " + std::to_string(d['H']) + "), got " +
                                  shape_str(a.arr));
    for (const Arg& a : sequences) {
        const int64_t last = a.dims[0] == 'G' ? d['G'] : d['H'];
        if (a.arr.ndim() != 3 || a.arr.shape(0) != d['N'] || a.arr.shape(1) != d['T'] || a.arr.shape(2) != last)
            throw py::value_error(std::string("shape mismatch: ") + a.name + " must be (" + std::to_string(d['N']) +
                                  ", " + std::to_string(d['T']) + ", " + std::to_string(last) + "), got " +
                                  shape_str(a.arr));
    }
    require_blas_size(d['N'] * d['T'] * d['G'], "N*T*gates");
    require_blas_size(d['N'] * d['T'] * d['D'], "N*T*D");
    return {d['N'], d['T'], d['D'], d['H']};
}

template <class T>
py::tuple lstm_forward_t(const py::array& xs_, const py::array& Wx_, const py::array& Wh_, const py::array& b_,
                         const py::array& h0_, const py::array& c0_, RecurrentDims s) {
    auto xs = in<T>(xs_), Wx = in<T>(Wx_), Wh = in<T>(Wh_), b = in<T>(b_), h0 = in<T>(h0_), c0 = in<T>(c0_);
    carray<T> hs({s.N, s.Tn, s.H}), gates({s.N, s.Tn, 4 * s.H}), cs({s.N, s.Tn, s.H});
    {
        py::gil_scoped_release nogil;
        attncore::lstm_forward(hs.mutable_data(), gates.mutable_data(), cs.mutable_data(), xs.data(), Wx.data(),
                               Wh.data(), b.data(), h0.data(), c0.data(), s.N, s.Tn, s.D, s.H);
    }
    return py::make_tuple(hs, gates, cs);
}

py::tuple lstm_forward(const py::array& xs, const py::array& Wx, const py::array& Wh, const py::array& b,
                       const py::array& h0, const py::array& c0) {
    const bool dbl = wants_double({{"Wx", Wx, ""}, {"Wh", Wh, ""}, {"b", b, ""}});
    auto s = recurrent_dims(4, xs, Wx, Wh, &b, {{"h0", h0, ""}, {"c0", c0, ""}}, {});
    return dbl ? lstm_forward_t<double>(xs, Wx, Wh, b, h0, c0, s) : lstm_forward_t<float>(xs, Wx, Wh, b, h0, c0, s);
}

template <class T>
py::tuple lstm_inference_forward_t(const py::array& xs_, const py::array& Wx_, const py::array& Wh_,
                                   const py::array& b_, const py::array& h0_, const py::array& c0_, RecurrentDims s) {
    auto xs = in<T>(xs_), Wx = in<T>(Wx_), Wh = in<T>(Wh_), b = in<T>(b_), h0 = in<T>(h0_), c0 = in<T>(c0_);
    carray<T> hs({s.N, s.Tn, s.H}), c({s.N, s.H});
    {
        py::gil_scoped_release nogil;
        attncore::lstm_inference_forward(hs.mutable_data(), c.mutable_data(), xs.data(), Wx.data(), Wh.data(),
                                         b.data(), h0.data(), c0.data(), s.N, s.Tn, s.D, s.H);
    }
    return py::make_tuple(hs, c);
}

py::tuple lstm_inference_forward(const py::array& xs, const py::array& Wx, const py::array& Wh, const py::array& b,
                                 const py::array& h0, const py::array& c0) {
    const bool dbl = wants_double({{"Wx", Wx, ""}, {"Wh", Wh, ""}, {"b", b, ""}});
    auto s = recurrent_dims(4, xs, Wx, Wh, &b, {{"h0", h0, ""}, {"c0", c0, ""}}, {});
    return dbl ? lstm_inference_forward_t<double>(xs, Wx, Wh, b, h0, c0, s)
               : lstm_inference_forward_t<float>(xs, Wx, Wh, b, h0, c0, s);
}

template <class T>
py::tuple lstm_backward_t(const py::array& xs_, const py::array& Wx_, const py::array& Wh_, const py::array& h0_,
                          const py::array& c0_, const py::array& hs_, const py::array& gates_, const py::array& cs_,
                          const py::array& dhs_, const py::array& dh_, const py::array& dc_, RecurrentDims s) {
    auto xs = in<T>(xs_), Wx = in<T>(Wx_), Wh = in<T>(Wh_), h0 = in<T>(h0_), c0 = in<T>(c0_);
    auto hs = in<T>(hs_), gates = in<T>(gates_), cs = in<T>(cs_), dhs = in<T>(dhs_), dh = in<T>(dh_),
         dc = in<T>(dc_);
    carray<T> dxs({s.N, s.Tn, s.D}), dWx({s.D, 4 * s.H}), dWh({s.H, 4 * s.H}), db({4 * s.H});
    carray<T> dh0({s.N, s.H}), dc0({s.N, s.H});
    {
        py::gil_scoped_release nogil;
        attncore::lstm_backward(dxs.mutable_data(), dWx.mutable_data(), dWh.mutable_data(), db.mutable_data(),
                                dh0.mutable_data(), dc0.mutable_data(), hs.data(), gates.data(), cs.data(),
                                xs.data(), Wx.data(), Wh.data(), h0.data(), c0.data(), dhs.data(), dh.data(),
                                dc.data(), s.N, s.Tn, s.D, s.H);
    }
    return py::make_tuple(dxs, dWx, dWh, db, dh0, dc0);
}

py::tuple lstm_backward(const py::array& xs, const py::array& Wx, const py::array& Wh, const py::array& h0,
                        const py::array& c0, const py::array& hs, const py::array& gates, const py::array& cs,
                        const py::array& dhs, const py::array& dh_next, const py::array& dc_next) {
    const bool dbl = wants_double({{"Wx", Wx, ""}, {"Wh", Wh, ""}});
    auto s = recurrent_dims(4, xs, Wx, Wh, nullptr,
                            {{"h0", h0, ""}, {"c0", c0, ""}, {"dh_next", dh_next, ""}, {"dc_next", dc_next, ""}},
                            {{"hs", hs, "H"}, {"gates", gates, "G"}, {"cs", cs, "H"}, {"dhs", dhs, "H"}});
    return dbl ? lstm_backward_t<double>(xs, Wx, Wh, h0, c0, hs, gates, cs, dhs, dh_next, dc_next, s)
               : lstm_backward_t<float>(xs, Wx, Wh, h0, c0, hs, gates, cs, dhs, dh_next, dc_next, s);
}

template <class T>
py::tuple gru_forward_t(const py::array& xs_, const py::array& Wx_, const py::array& Wh_, const py::array& b_,
                        const py::array& h0_, RecurrentDims s) {
    auto xs = in<T>(xs_), Wx = in<T>(Wx_), Wh = in<T>(Wh_), b = in<T>(b_), h0 = in<T>(h0_);
    carray<T> hs({s.N, s.Tn, s.H}), gates({s.N, s.Tn, 3 * s.H});
    {
        py::gil_scoped_release nogil;
        attncore::gru_forward(hs.mutable_data(), gates.mutable_data(), xs.data(), Wx.data(), Wh.data(), b.data(),
                              h0.data(), s.N, s.Tn, s.D, s.H);
    }
    return py::make_tuple(hs, gates);
}

py::tuple gru_forward(const py::array& xs, const py::array& Wx, const py::array& Wh, const py::array& b,
                      const py::array& h0) {
    const bool dbl = wants_double({{"Wx", Wx, ""}, {"Wh", Wh, ""}, {"b", b, ""}});
    auto s = recurrent_dims(3, xs, Wx, Wh, &b, {{"h0", h0, ""}}, {});
    return dbl ? gru_forward_t<double>(xs, Wx, Wh, b, h0, s) : gru_forward_t<float>(xs, Wx, Wh, b, h0, s);
}

template <class T>
py::tuple gru_backward_t(const py::array& xs_, const py::array& Wx_, const py::array& Wh_, const py::array& h0_,
                         const py::array& hs_, const py::array& gates_, const py::array& dhs_, const py::array& dh_,
                         RecurrentDims s) {
    auto xs = in<T>(xs_), Wx = in<T>(Wx_), Wh = in<T>(Wh_), h0 = in<T>(h0_);
    auto hs = in<T>(hs_), gates = in<T>(gates_), dhs = in<T>(dhs_), dh = in<T>(dh_);
    carray<T> dxs({s.N, s.Tn, s.D}), dWx({s.D, 3 * s.H}), dWh({s.H, 3 * s.H}), db({3 * s.H}), dh0({s.N, s.H});
    {
        py::gil_scoped_release nogil;
        attncore::gru_backward(dxs.mutable_data(), dWx.mutable_data(), dWh.mutable_data(), db.mutable_data(),
                               dh0.mutable_data(), hs.data(), gates.data(), xs.data(), Wx.data(), Wh.data(),
                               h0.data(), dhs.data(), dh.data(), s.N, s.Tn, s.D, s.H);
    }
    return py::make_tuple(dxs, dWx, dWh, db, dh0);
}

py::tuple gru_backward(const py::array& xs, const py::array& Wx, const py::array& Wh, const py::array& h0,
                       const py::array& hs, const py::array& gates, const py::array& dhs, const py::array& dh_next) {
    const bool dbl = wants_double({{"Wx", Wx, ""}, {"Wh", Wh, ""}});
    auto s = recurrent_dims(3, xs, Wx, Wh, nullptr, {{"h0", h0, ""}, {"dh_next", dh_next, ""}},
                            {{"hs", hs, "H"}, {"gates", gates, "G"}, {"dhs", dhs, "H"}});
    return dbl ? gru_backward_t<double>(xs, Wx, Wh, h0, hs, gates, dhs, dh_next, s)
               : gru_backward_t<float>(xs, Wx, Wh, h0, hs, gates, dhs, dh_next, s);
}

// ---------------------------------------------------------------- the reset-after GRU

// The reset-after GRU forward on the fused step (gru_reset_after_forward) -> (hs (N,T,H), gates (N,T,4H)), or
// None where it does not run (float64, a CPU without the fused step or with it off, a small call): the
// caller then runs attncore/reset_after.py's loop, the reference.
py::object gru_reset_after_forward(const py::array& xs_, const py::array& Wx_, const py::array& Wh_,
                                   const py::array& b_, const py::array& h0_) {
    const bool dbl = wants_double({{"Wx", Wx_, ""}, {"Wh", Wh_, ""}, {"b", b_, ""}});
    auto s = recurrent_dims(3, xs_, Wx_, Wh_, nullptr, {{"h0", h0_, ""}}, {});
    check_reset_after_bias(b_, s.H);
    require_blas_size(s.N * s.Tn * 4 * s.H, "N*T*4H");
    if (dbl || !attncore::gru_reset_after_applies(s.N, s.Tn, s.H)) return py::none();
    auto xs = in<float>(xs_), Wx = in<float>(Wx_), Wh = in<float>(Wh_), b = in<float>(b_), h0 = in<float>(h0_);
    carray<float> hs({s.N, s.Tn, s.H}), gates({s.N, s.Tn, 4 * s.H});
    {
        py::gil_scoped_release nogil;
        attncore::gru_reset_after_forward(hs.mutable_data(), gates.mutable_data(), xs.data(), Wx.data(), Wh.data(),
                                          b.data(), h0.data(), s.N, s.Tn, s.D, s.H);
    }
    return py::make_tuple(hs, gates);
}

// Its backward (gru_reset_after_backward) -> (dxs, dWx, dWh, db (2,3H), dh0), or None as above.
py::object gru_reset_after_backward(const py::array& xs_, const py::array& Wx_, const py::array& Wh_,
                                    const py::array& h0_, const py::array& hs_, const py::array& gates_,
                                    const py::array& dhs_, const py::array& dh_) {
    const bool dbl = wants_double({{"Wx", Wx_, ""}, {"Wh", Wh_, ""}});
    auto s = recurrent_dims(3, xs_, Wx_, Wh_, nullptr, {{"h0", h0_, ""}, {"dh_next", dh_, ""}},
                            {{"hs", hs_, "H"}, {"dhs", dhs_, "H"}});
    require_float("gates", gates_);
    if (gates_.ndim() != 3 || gates_.shape(0) != s.N || gates_.shape(1) != s.Tn || gates_.shape(2) != 4 * s.H)
        throw py::value_error("shape mismatch: gates must be (" + std::to_string(s.N) + ", " + std::to_string(s.Tn) +
                              ", " + std::to_string(4 * s.H) + "), got " + shape_str(gates_));
    require_blas_size(s.N * s.Tn * 4 * s.H, "N*T*4H");
    if (dbl || !attncore::gru_reset_after_applies(s.N, s.Tn, s.H)) return py::none();
    auto xs = in<float>(xs_), Wx = in<float>(Wx_), Wh = in<float>(Wh_), h0 = in<float>(h0_);
    auto hs = in<float>(hs_), gates = in<float>(gates_), dhs = in<float>(dhs_), dh = in<float>(dh_);
    carray<float> dxs({s.N, s.Tn, s.D}), dWx({s.D, 3 * s.H}), dWh({s.H, 3 * s.H}), db({int64_t(2), 3 * s.H}),
        dh0({s.N, s.H});
    {
        py::gil_scoped_release nogil;
        attncore::gru_reset_after_backward(dxs.mutable_data(), dWx.mutable_data(), dWh.mutable_data(),
                                           db.mutable_data(), dh0.mutable_data(), hs.data(), gates.data(), xs.data(),
                                           Wx.data(), Wh.data(), h0.data(), dhs.data(), dh.data(), s.N, s.Tn, s.D,
                                           s.H);
    }
    return py::make_tuple(dxs, dWx, dWh, db, dh0);
}

}  // namespace

namespace attncore_py {

void bind_recurrent(py::module_& m) {
    m.def("lstm_forward", &lstm_forward, py::arg("xs"), py::arg("Wx"), py::arg("Wh"), py::arg("b"), py::arg("h0"),
          py::arg("c0"));
    m.def("lstm_inference_forward", &lstm_inference_forward, py::arg("xs"), py::arg("Wx"), py::arg("Wh"),
          py::arg("b"), py::arg("h0"), py::arg("c0"));
    m.def("lstm_backward", &lstm_backward, py::arg("xs"), py::arg("Wx"), py::arg("Wh"), py::arg("h0"), py::arg("c0"),
          py::arg("hs"), py::arg("gates"), py::arg("cs"), py::arg("dhs"), py::arg("dh_next"), py::arg("dc_next"));
    m.def("gru_forward", &gru_forward, py::arg("xs"), py::arg("Wx"), py::arg("Wh"), py::arg("b"), py::arg("h0"));
    m.def("gru_backward", &gru_backward, py::arg("xs"), py::arg("Wx"), py::arg("Wh"), py::arg("h0"), py::arg("hs"),
          py::arg("gates"), py::arg("dhs"), py::arg("dh_next"));
    m.def("gru_reset_after_forward", &gru_reset_after_forward, py::arg("xs"), py::arg("Wx"), py::arg("Wh"),
          py::arg("b"), py::arg("h0"));
    m.def("gru_reset_after_backward", &gru_reset_after_backward, py::arg("xs"), py::arg("Wx"), py::arg("Wh"),
          py::arg("h0"), py::arg("hs"), py::arg("gates"), py::arg("dhs"), py::arg("dh_next"));
}

}  // namespace attncore_py
