// attncore._cpp: the pybind11 binding of the C++ kernels in csrc/.
// Each function checks dtypes and shapes, makes contiguous inputs (copying
// only when needed), allocates the outputs, releases the GIL and calls one
// kernel. No Python object is touched while the GIL is released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <limits>
#include <string>

#include "../csrc/attention.hpp"
#include "../csrc/blas.hpp"
#include "../csrc/adam.hpp"
#include "../csrc/affine.hpp"
#include "../csrc/embedding.hpp"
#include "../csrc/fused_step.hpp"
#include "../csrc/gru_reset_after.hpp"
#include "../csrc/gru.hpp"
#include "../csrc/lstm.hpp"
#include "../csrc/memory.hpp"
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

// Per-row source lengths of the attention kernels: None, or N integers from 1 to T.
struct Lengths {
    py::array_t<int64_t> array;
    const int64_t* data = nullptr;
};

Lengths checked_lengths(const py::object& lengths, int64_t N, int64_t Tn) {
    Lengths out;
    if (lengths.is_none()) return out;
    py::array a = py::array::ensure(lengths);
    if (!a || (a.dtype().kind() != 'i' && a.dtype().kind() != 'u'))
        throw py::type_error("lengths must be an integer array" +
                             (a ? ", got dtype " + std::string(py::str(a.dtype())) : std::string()));
    if (a.ndim() != 1 || a.shape(0) != N)
        throw py::value_error("lengths must have shape (N,) = (" + std::to_string(N) + ",), got " + shape_str(a));
    out.array = in<int64_t>(a);  // aligned: an int64 array at an odd address is copied
    for (int64_t n = 0; n < N; ++n) {
        const int64_t v = out.array.data()[n];
        if (v < 1 || v > Tn || (a.dtype().kind() == 'u' && v < 0))
            throw py::value_error("lengths must be from 1 to T = " + std::to_string(Tn) + ", got " +
                                  std::string(py::str(a[py::int_(n)])) + " in row " + std::to_string(n));
    }
    out.data = out.array.data();
    return out;
}

template <class T>
py::array attention_weight_forward_t(const py::array& hs_, const py::array& h_, const py::object& lengths_) {
    auto hs = in<T>(hs_);
    auto h = in<T>(h_);
    const int64_t N = hs.shape(0), Tn = hs.shape(1), H = hs.shape(2);
    const Lengths lengths = checked_lengths(lengths_, N, Tn);
    carray<T> a({N, Tn});
    {
        py::gil_scoped_release nogil;
        attncore::attention_weight_forward(a.mutable_data(), hs.data(), h.data(), N, Tn, H, lengths.data);
    }
    return std::move(a);
}

py::array attention_weight_forward(const py::array& hs, const py::array& h, const py::object& lengths) {
    const bool dbl = wants_double({{"hs", hs, ""}, {"h", h, ""}});
    auto dims = check_shapes({{"hs", hs, "NTH"}, {"h", h, "NH"}});
    require_positive(dims, 'T', "hs's time axis (T)");
    return dbl ? attention_weight_forward_t<double>(hs, h, lengths) : attention_weight_forward_t<float>(hs, h, lengths);
}

template <class T>
py::tuple attention_weight_backward_t(const py::array& hs_, const py::array& h_, const py::array& a_,
                                      const py::array& da_, const py::object& lengths_) {
    auto hs = in<T>(hs_);
    auto h = in<T>(h_);
    auto a = in<T>(a_);
    auto da = in<T>(da_);
    const int64_t N = hs.shape(0), Tn = hs.shape(1), H = hs.shape(2);
    const Lengths lengths = checked_lengths(lengths_, N, Tn);
    carray<T> dhs({N, Tn, H});
    carray<T> dh({N, H});
    {
        py::gil_scoped_release nogil;
        attncore::attention_weight_backward(dhs.mutable_data(), dh.mutable_data(), hs.data(), h.data(),
                                            a.data(), da.data(), N, Tn, H, lengths.data);
    }
    return py::make_tuple(dhs, dh);
}

py::tuple attention_weight_backward(const py::array& hs, const py::array& h, const py::array& a,
                                    const py::array& da, const py::object& lengths) {
    const bool dbl = wants_double({{"hs", hs, ""}, {"h", h, ""}, {"a", a, ""}, {"da", da, ""}});
    auto dims = check_shapes({{"hs", hs, "NTH"}, {"h", h, "NH"}, {"a", a, "NT"}, {"da", da, "NT"}});
    require_positive(dims, 'T', "hs's time axis (T)");
    return dbl ? attention_weight_backward_t<double>(hs, h, a, da, lengths)
               : attention_weight_backward_t<float>(hs, h, a, da, lengths);
}

template <class T>
py::array weight_sum_forward_t(const py::array& hs_, const py::array& a_, const py::object& lengths_) {
    auto hs = in<T>(hs_);
    auto a = in<T>(a_);
    const int64_t N = hs.shape(0), Tn = hs.shape(1), H = hs.shape(2);
    const Lengths lengths = checked_lengths(lengths_, N, Tn);
    carray<T> c({N, H});
    {
        py::gil_scoped_release nogil;
        attncore::weight_sum_forward(c.mutable_data(), hs.data(), a.data(), N, Tn, H, lengths.data);
    }
    return std::move(c);
}

py::array weight_sum_forward(const py::array& hs, const py::array& a, const py::object& lengths) {
    const bool dbl = wants_double({{"hs", hs, ""}, {"a", a, ""}});
    auto dims = check_shapes({{"hs", hs, "NTH"}, {"a", a, "NT"}});
    require_positive(dims, 'T', "hs's time axis (T)");
    return dbl ? weight_sum_forward_t<double>(hs, a, lengths) : weight_sum_forward_t<float>(hs, a, lengths);
}

template <class T>
py::tuple weight_sum_backward_t(const py::array& hs_, const py::array& a_, const py::array& dc_,
                                const py::object& lengths_) {
    auto hs = in<T>(hs_);
    auto a = in<T>(a_);
    auto dc = in<T>(dc_);
    const int64_t N = hs.shape(0), Tn = hs.shape(1), H = hs.shape(2);
    const Lengths lengths = checked_lengths(lengths_, N, Tn);
    carray<T> dhs({N, Tn, H});
    carray<T> da({N, Tn});
    {
        py::gil_scoped_release nogil;
        attncore::weight_sum_backward(dhs.mutable_data(), da.mutable_data(), hs.data(), a.data(), dc.data(),
                                      N, Tn, H, lengths.data);
    }
    return py::make_tuple(dhs, da);
}

py::tuple weight_sum_backward(const py::array& hs, const py::array& a, const py::array& dc,
                              const py::object& lengths) {
    const bool dbl = wants_double({{"hs", hs, ""}, {"a", a, ""}, {"dc", dc, ""}});
    auto dims = check_shapes({{"hs", hs, "NTH"}, {"a", a, "NT"}, {"dc", dc, "NH"}});
    require_positive(dims, 'T', "hs's time axis (T)");
    return dbl ? weight_sum_backward_t<double>(hs, a, dc, lengths) : weight_sum_backward_t<float>(hs, a, dc, lengths);
}

template <class T>
py::tuple time_attention_forward_t(const py::array& enc_, const py::array& dec_, const py::object& lengths_) {
    auto enc = in<T>(enc_);
    auto dec = in<T>(dec_);
    const int64_t N = enc.shape(0), Tn = enc.shape(1), H = enc.shape(2), Td = dec.shape(1);
    const Lengths lengths = checked_lengths(lengths_, N, Tn);
    carray<T> out({N, Td, H});
    carray<T> a({N, Td, Tn});
    {
        py::gil_scoped_release nogil;
        attncore::time_attention_forward(out.mutable_data(), a.mutable_data(), enc.data(), dec.data(), N, Tn,
                                         Td, H, lengths.data);
    }
    return py::make_tuple(out, a);
}

py::tuple time_attention_forward(const py::array& hs_enc, const py::array& hs_dec, const py::object& lengths) {
    const bool dbl = wants_double({{"hs_enc", hs_enc, ""}, {"hs_dec", hs_dec, ""}});
    auto dims = check_shapes({{"hs_enc", hs_enc, "NTH"}, {"hs_dec", hs_dec, "NdH"}});
    require_positive(dims, 'T', "hs_enc's time axis (T)");
    return dbl ? time_attention_forward_t<double>(hs_enc, hs_dec, lengths)
               : time_attention_forward_t<float>(hs_enc, hs_dec, lengths);
}

template <class T>
py::tuple time_attention_backward_t(const py::array& enc_, const py::array& dec_, const py::array& a_,
                                    const py::array& dout_, const py::object& lengths_) {
    auto enc = in<T>(enc_);
    auto dec = in<T>(dec_);
    auto a = in<T>(a_);
    auto dout = in<T>(dout_);
    const int64_t N = enc.shape(0), Tn = enc.shape(1), H = enc.shape(2), Td = dec.shape(1);
    const Lengths lengths = checked_lengths(lengths_, N, Tn);
    carray<T> denc({N, Tn, H});
    carray<T> ddec({N, Td, H});
    {
        py::gil_scoped_release nogil;
        attncore::time_attention_backward(denc.mutable_data(), ddec.mutable_data(), enc.data(), dec.data(),
                                          a.data(), dout.data(), N, Tn, Td, H, lengths.data);
    }
    return py::make_tuple(denc, ddec);
}

py::tuple time_attention_backward(const py::array& hs_enc, const py::array& hs_dec, const py::array& a,
                                  const py::array& dout, const py::object& lengths) {
    const bool dbl =
        wants_double({{"hs_enc", hs_enc, ""}, {"hs_dec", hs_dec, ""}, {"a", a, ""}, {"dout", dout, ""}});
    auto dims = check_shapes(
        {{"hs_enc", hs_enc, "NTH"}, {"hs_dec", hs_dec, "NdH"}, {"a", a, "NdT"}, {"dout", dout, "NdH"}});
    require_positive(dims, 'T', "hs_enc's time axis (T)");
    return dbl ? time_attention_backward_t<double>(hs_enc, hs_dec, a, dout, lengths)
               : time_attention_backward_t<float>(hs_enc, hs_dec, a, dout, lengths);
}

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

// Token ids as a contiguous int64 array with negative ids wrapped; IndexError out of range.
py::array_t<int64_t> checked_ids(const char* name, const py::array& ids, int64_t V, bool allow_ignore = false,
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

// ---------------------------------------------------------------- the reset-after GRU

// b (2, 3H) of the reset-after GRU: the input bias, then the recurrent one.
void check_reset_after_bias(const py::array& b, int64_t H) {
    require_float("b", b);
    if (b.ndim() != 2 || b.shape(0) != 2 || b.shape(1) != 3 * H)
        throw py::value_error("shape mismatch: the reset-after GRU's b must have shape (2, " + std::to_string(3 * H) +
                              ") (input bias, recurrent bias), got " + shape_str(b));
}

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

// ---------------------------------------------------------------- greedy decoding

// The attention decoder's greedy decoding in one call (fused_attention_decode), or None where the fused
// kernels do not run it (float64 weights, a CPU without them or with them switched off, N, T, S or H
// zero): the caller then steps in Python. cell: "lstm", "gru" or "gru-reset-after" (b (2,3H)); state_first:
// [h | context] into the Luong layer or the output (Keras's order). -> (ids (N,S) int64, weights (N,S,T),
// h (N,H), c (N,H) or None).
py::object attention_decode(const py::array& enc_hs_, const py::array& start_ids, int64_t S, const py::object& lengths_,
                            const py::array& embed_, const py::array& Wx_, const py::array& Wh_, const py::array& b_,
                            const py::object& Wc_, const py::object& bc_, const py::array& Wa_, const py::array& ba_,
                            const std::string& cell, bool state_first) {
    if (cell != "lstm" && cell != "gru" && cell != "gru-reset-after")
        throw py::value_error("cell must be 'lstm', 'gru' or 'gru-reset-after', got '" + cell + "'");
    const bool reset_after = cell == "gru-reset-after", gru = cell != "lstm";
    if (Wc_.is_none() != bc_.is_none()) throw py::value_error("Wc and bc must be given together");
    const bool luong = !Wc_.is_none();
    const py::array Wc = luong ? py::array::ensure(Wc_) : py::array(), bc = luong ? py::array::ensure(bc_) : py::array();
    if (luong && (!Wc || !bc)) throw py::type_error("Wc and bc must be arrays");
    const bool dbl = luong ? wants_double({{"enc_hs", enc_hs_, ""}, {"embed", embed_, ""}, {"Wx", Wx_, ""},
                                           {"Wh", Wh_, ""}, {"b", b_, ""}, {"Wc", Wc, ""}, {"bc", bc, ""},
                                           {"Wa", Wa_, ""}, {"ba", ba_, ""}})
                           : wants_double({{"enc_hs", enc_hs_, ""}, {"embed", embed_, ""}, {"Wx", Wx_, ""},
                                           {"Wh", Wh_, ""}, {"b", b_, ""}, {"Wa", Wa_, ""}, {"ba", ba_, ""}});
    auto d = check_shapes({{"enc_hs", enc_hs_, "NTH"}, {"embed", embed_, "ED"}, {"Wx", Wx_, "DG"}, {"Wh", Wh_, "HG"},
                           {"Wa", Wa_, "FV"}, {"ba", ba_, "V"}});
    const int64_t N = d['N'], Tn = d['T'], H = d['H'], D = d['D'], V = d['V'], G = (gru ? 3 : 4) * H;
    if (d['G'] != G)
        throw py::value_error("Wh must have shape (H, " + std::string(gru ? "3H" : "4H") + "), got " +
                              shape_str(Wh_));
    if (reset_after)
        check_reset_after_bias(b_, H);
    else
        check_shapes({{"Wx", Wx_, "DG"}, {"b", b_, "G"}});
    if (d['F'] != (luong ? H : 2 * H))
        throw py::value_error("Wa must have " + std::to_string(luong ? H : 2 * H) + " rows, got " + shape_str(Wa_));
    if (luong) check_shapes({{"Wc", Wc, "CH"}, {"bc", bc, "H"}, {"enc_hs", enc_hs_, "NTH"}});
    if (luong && Wc.shape(0) != 2 * H)
        throw py::value_error("Wc must have shape (2H, H), got " + shape_str(Wc));
    if (V < 1 || V > d['E'])
        throw py::value_error("the output's " + std::to_string(V) + " tokens must be ids of the embedding's " +
                              std::to_string(d['E']) + " rows");
    if (start_ids.ndim() != 1 || start_ids.shape(0) != N)
        throw py::value_error("start_ids must have shape (N,) = (" + std::to_string(N) + ",), got " +
                              shape_str(start_ids));
    auto start = checked_ids("start_ids", start_ids, d['E']);
    if (S < 0) throw py::value_error("sample_size must be >= 0, got " + std::to_string(S));
    const Lengths lengths = checked_lengths(lengths_, N, Tn);
    if (dbl || N < 1 || Tn < 1 || S < 1 || H < 1 || !attncore::fused_available()) return py::none();
    auto enc_hs = in<float>(enc_hs_), embed = in<float>(embed_), Wx = in<float>(Wx_), Wh = in<float>(Wh_),
         b = in<float>(b_), Wa = in<float>(Wa_), ba = in<float>(ba_);
    carray<float> Wc_in, bc_in;
    if (luong) Wc_in = in<float>(Wc), bc_in = in<float>(bc);
    py::array_t<int64_t> ids({N, S});
    carray<float> weights({N, S, Tn}), h({N, H});
    carray<float> c(std::vector<py::ssize_t>{gru ? 0 : N, H});
    const attncore::DecoderWeights W{embed.data(), Wx.data(),  Wh.data(), b.data(), luong ? Wc_in.data() : nullptr,
                                     luong ? bc_in.data() : nullptr, Wa.data(), ba.data(), D, H, V, gru, reset_after,
                                     state_first};
    {
        py::gil_scoped_release nogil;
        attncore::fused_attention_decode(ids.mutable_data(), weights.mutable_data(), h.mutable_data(),
                                         c.mutable_data(), enc_hs.data(), lengths.data, start.data(), W, N, Tn, S);
    }
    return py::make_tuple(ids, weights, h, gru ? py::object(py::none()) : py::object(c));
}

}  // namespace

PYBIND11_MODULE(_cpp, m) {
    m.doc() = "attncore C++ kernels (pybind11 binding of csrc/)";

    m.def("set_num_threads", &attncore::set_num_threads, py::arg("n"),
          "Threads of every kernel (>= 1); RuntimeError above 1 in a child forked after the pool started.");
    m.def("get_num_threads", &attncore::get_num_threads);
    m.def("after_fork_in_child", &attncore::after_fork_in_child);
    m.def("pool_started", &attncore::pool_started);
    m.def("forked_from_pool", &attncore::forked_from_pool);
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
    attncore::blas_init();
    m.def("blas_name", []() { return std::string(attncore::blas_config()); });
    m.def("blas_num_threads", &attncore::blas_num_threads);
    m.def("fused_isa", []() { return std::string(attncore::fused_isa()); },
          "The instruction set of the fused recurrent step on this CPU: avx512, avx2 or none.");
    m.def("set_fused", &attncore::set_fused_enabled, py::arg("enabled"),
          "Run the fused recurrent step (True, the default where the CPU has it) or the BLAS path (False).");
    m.def("fused_enabled", &attncore::fused_enabled);
    m.def("fma_peak_gflops", [](double seconds) {
              py::gil_scoped_release nogil;
              return attncore::fma_peak_gflops(seconds);
          }, py::arg("seconds") = 0.2,
          "One core's peak float32 multiply-add rate (GFLOP/s), measured now by a tight FMA loop.");
    m.def("set_fused_isa", &attncore::set_fused_isa, py::arg("name"),
          "Use the fused kernels of another instruction set the CPU has ('avx512', 'avx2'); False if it lacks it.");

    m.def("softmax_forward", &softmax_forward, py::arg("x"));
    m.def("softmax_backward", &softmax_backward, py::arg("y"), py::arg("dy"));
    const auto no_lengths = py::arg("lengths") = py::none();
    m.def("attention_weight_forward", &attention_weight_forward, py::arg("hs"), py::arg("h"), no_lengths);
    m.def("attention_weight_backward", &attention_weight_backward, py::arg("hs"), py::arg("h"), py::arg("a"),
          py::arg("da"), no_lengths);
    m.def("weight_sum_forward", &weight_sum_forward, py::arg("hs"), py::arg("a"), no_lengths);
    m.def("weight_sum_backward", &weight_sum_backward, py::arg("hs"), py::arg("a"), py::arg("dc"), no_lengths);
    m.def("time_attention_forward", &time_attention_forward, py::arg("hs_enc"), py::arg("hs_dec"), no_lengths);
    m.def("time_attention_backward", &time_attention_backward, py::arg("hs_enc"), py::arg("hs_dec"), py::arg("a"),
          py::arg("dout"), no_lengths);
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
    m.def("affine_forward", &affine_forward, py::arg("x"), py::arg("W"), py::arg("b"));
    m.def("affine_backward", &affine_backward, py::arg("x"), py::arg("W"), py::arg("dout"));
    m.def("attention_decode", &attention_decode, py::arg("enc_hs"), py::arg("start_ids"), py::arg("sample_size"),
          py::arg("lengths"), py::arg("embed"), py::arg("Wx"), py::arg("Wh"), py::arg("b"), py::arg("Wc"),
          py::arg("bc"), py::arg("Wa"), py::arg("ba"), py::arg("cell"), py::arg("state_first") = false);
    m.def("embedding_forward", &embedding_forward, py::arg("W"), py::arg("ids"));
    m.def("embedding_backward", &embedding_backward, py::arg("ids"), py::arg("dout"), py::arg("V"));
    m.def("softmax_cross_entropy_forward", &softmax_cross_entropy_forward, py::arg("xs"), py::arg("ts"),
          py::arg("ignore_label"));
    m.def("adam_update", &adam_update, py::arg("param"), py::arg("grad"), py::arg("m"), py::arg("v"),
          py::arg("lr_t"), py::arg("beta1"), py::arg("beta2"), py::arg("wide"));
    m.def("softmax_cross_entropy_backward", &softmax_cross_entropy_backward, py::arg("xs"), py::arg("ts"),
          py::arg("ignore_label"), py::arg("dout"));
}
