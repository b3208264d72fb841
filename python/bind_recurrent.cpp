// attncore._cpp, the recurrent kernels (LSTM, the book's GRU, the reset-after GRU): guards (guards.hpp),
// outputs, the GIL released around each kernel call.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "../csrc/gru.hpp"
#include "../csrc/gru_reset_after.hpp"
#include "../csrc/lstm.hpp"
#include "guards.hpp"

namespace py = pybind11;
using namespace attncore_py;

namespace {

struct Sizes {
    int64_t N, Tn, D, H;
};

// xs (N,T,D), Wx (D,G), Wh (H,G) with G = gates * H; b (G,), or (2,G) for the reset-after GRU, when given;
// every state (N,H), every sequence (N,T,H), and the saved gates (N,T,width * H) when given.
Sizes recurrent_sizes(const char* fn, int gates, const py::array& xs, const py::array& Wx, const py::array& Wh,
                      const py::array* b, bool two_biases, std::vector<const py::array*> states,
                      std::vector<const py::array*> sequences, const py::array* saved = nullptr, int width = 0) {
    const Dims d = agree(fn, {{&xs, "NTD"}, {&Wx, "DG"}, {&Wh, "HG"}});
    const int64_t N = d.at('N'), Tn = d.at('T'), D = d.at('D'), H = d.at('H'), G = d.at('G');
    require(G == gates * H, fn);
    if (b) require(two_biases ? b->ndim() == 2 && b->shape(0) == 2 && b->shape(1) == G : shape_of(*b) == Shape{G}, fn);
    for (const py::array* s : states) require(shape_of(*s) == Shape{N, H}, fn);
    for (const py::array* s : sequences) require(shape_of(*s) == Shape{N, Tn, H}, fn);
    if (saved) require(shape_of(*saved) == Shape{N, Tn, width * H}, fn);
    require_blas_size(N * Tn * 4 * H, "N*T*4H");
    require_blas_size(N * Tn * D, "N*T*D");
    return {N, Tn, D, H};
}

// xs (N,T,D), Wx (D,4H), Wh (H,4H), b (4H,), h0 and c0 (N,H) -> (hs, gates (N,T,4H), cs), or with
// `inference` (hs, c (N,H) the last cell state)
template <bool inference>
py::object lstm_forward(const py::array& xs, const py::array& Wx, const py::array& Wh, const py::array& b,
                        const py::array& h0, const py::array& c0) {
    const char* fn = inference ? "lstm_inference_forward" : "lstm_forward";
    const Sizes s = recurrent_sizes(fn, 4, xs, Wx, Wh, &b, false, {&h0, &c0}, {});
    return with_inputs(fn, {&xs, &Wx, &Wh, &b, &h0, &c0}, [&](const auto& x) {
        using T = typename std::decay_t<decltype(x)>::type;
        carray<T> hs({s.N, s.Tn, s.H}), c({s.N, s.H}), gates(Shape{s.N, s.Tn, inference ? 0 : 4 * s.H}),
            cs(Shape{s.N, s.Tn, inference ? 0 : s.H});
        if (inference)
            released(attncore::lstm_inference_forward<T>, hs.mutable_data(), c.mutable_data(), x[0], x[1], x[2], x[3],
                     x[4], x[5], s.N, s.Tn, s.D, s.H);
        else
            released(attncore::lstm_forward<T>, hs.mutable_data(), gates.mutable_data(), cs.mutable_data(), x[0], x[1],
                     x[2], x[3], x[4], x[5], s.N, s.Tn, s.D, s.H);
        return inference ? py::object(py::make_tuple(hs, c)) : py::object(py::make_tuple(hs, gates, cs));
    });
}

// -> (dxs (N,T,D), dWx, dWh, db, dh0 (N,H), dc0 (N,H))
py::object lstm_backward(const py::array& xs, const py::array& Wx, const py::array& Wh, const py::array& h0,
                         const py::array& c0, const py::array& hs, const py::array& gates, const py::array& cs,
                         const py::array& dhs, const py::array& dh, const py::array& dc) {
    const char* fn = "lstm_backward";
    const Sizes s =
        recurrent_sizes(fn, 4, xs, Wx, Wh, nullptr, false, {&h0, &c0, &dh, &dc}, {&hs, &cs, &dhs}, &gates, 4);
    return with_inputs(fn, {&xs, &Wx, &Wh, &h0, &c0, &hs, &gates, &cs, &dhs, &dh, &dc}, [&](const auto& x) {
        using T = typename std::decay_t<decltype(x)>::type;
        carray<T> dxs({s.N, s.Tn, s.D}), dWx({s.D, 4 * s.H}), dWh({s.H, 4 * s.H}), db({4 * s.H}), dh0({s.N, s.H}),
            dc0({s.N, s.H});
        released(attncore::lstm_backward<T>, dxs.mutable_data(), dWx.mutable_data(), dWh.mutable_data(),
                 db.mutable_data(), dh0.mutable_data(), dc0.mutable_data(), x[5], x[6], x[7], x[0], x[1], x[2], x[3],
                 x[4], x[8], x[9], x[10], s.N, s.Tn, s.D, s.H);
        return py::object(py::make_tuple(dxs, dWx, dWh, db, dh0, dc0));
    });
}

// The book's GRU (gates z, r, h~) and the reset-after GRU (b (2,3H); gates z, r, n and h Wh_n + bh_n, 4H wide):
// xs (N,T,D), Wx (D,3H), Wh (H,3H), b, h0 (N,H) -> (hs (N,T,H), gates)
template <bool reset_after>
py::object gru_forward(const py::array& xs, const py::array& Wx, const py::array& Wh, const py::array& b,
                       const py::array& h0) {
    const char* fn = reset_after ? "gru_reset_after_forward" : "gru_forward";
    const Sizes s = recurrent_sizes(fn, 3, xs, Wx, Wh, &b, reset_after, {&h0}, {});
    return with_inputs(fn, {&xs, &Wx, &Wh, &b, &h0}, [&](const auto& x) {
        using T = typename std::decay_t<decltype(x)>::type;
        carray<T> hs({s.N, s.Tn, s.H}), gates({s.N, s.Tn, (reset_after ? 4 : 3) * s.H});
        released(reset_after ? attncore::gru_reset_after_forward<T> : attncore::gru_forward<T>, hs.mutable_data(),
                 gates.mutable_data(), x[0], x[1], x[2], x[3], x[4], s.N, s.Tn, s.D, s.H);
        return py::object(py::make_tuple(hs, gates));
    });
}

// -> (dxs (N,T,D), dWx, dWh, db (3H,) or the reset-after GRU's (2,3H), dh0 (N,H))
template <bool reset_after>
py::object gru_backward(const py::array& xs, const py::array& Wx, const py::array& Wh, const py::array& h0,
                        const py::array& hs, const py::array& gates, const py::array& dhs, const py::array& dh) {
    const char* fn = reset_after ? "gru_reset_after_backward" : "gru_backward";
    const Sizes s =
        recurrent_sizes(fn, 3, xs, Wx, Wh, nullptr, false, {&h0, &dh}, {&hs, &dhs}, &gates, reset_after ? 4 : 3);
    return with_inputs(fn, {&xs, &Wx, &Wh, &h0, &hs, &gates, &dhs, &dh}, [&](const auto& x) {
        using T = typename std::decay_t<decltype(x)>::type;
        carray<T> dxs({s.N, s.Tn, s.D}), dWx({s.D, 3 * s.H}), dWh({s.H, 3 * s.H}), dh0({s.N, s.H});
        carray<T> db(reset_after ? Shape{2, 3 * s.H} : Shape{3 * s.H});
        released(reset_after ? attncore::gru_reset_after_backward<T> : attncore::gru_backward<T>, dxs.mutable_data(),
                 dWx.mutable_data(), dWh.mutable_data(), db.mutable_data(), dh0.mutable_data(), x[4], x[5], x[0], x[1],
                 x[2], x[3], x[6], x[7], s.N, s.Tn, s.D, s.H);
        return py::object(py::make_tuple(dxs, dWx, dWh, db, dh0));
    });
}

}  // namespace

namespace attncore_py {

void bind_recurrent(py::module_& m) {
    m.def("lstm_forward", &lstm_forward<false>, py::arg("xs"), py::arg("Wx"), py::arg("Wh"), py::arg("b"),
          py::arg("h0"), py::arg("c0"));
    m.def("lstm_inference_forward", &lstm_forward<true>, py::arg("xs"), py::arg("Wx"), py::arg("Wh"), py::arg("b"),
          py::arg("h0"), py::arg("c0"));
    m.def("lstm_backward", &lstm_backward, py::arg("xs"), py::arg("Wx"), py::arg("Wh"), py::arg("h0"), py::arg("c0"),
          py::arg("hs"), py::arg("gates"), py::arg("cs"), py::arg("dhs"), py::arg("dh_next"), py::arg("dc_next"));
    for (const bool ra : {false, true}) {
        m.def(ra ? "gru_reset_after_forward" : "gru_forward", ra ? &gru_forward<true> : &gru_forward<false>,
              py::arg("xs"), py::arg("Wx"), py::arg("Wh"), py::arg("b"), py::arg("h0"));
        m.def(ra ? "gru_reset_after_backward" : "gru_backward", ra ? &gru_backward<true> : &gru_backward<false>,
              py::arg("xs"), py::arg("Wx"), py::arg("Wh"), py::arg("h0"), py::arg("hs"), py::arg("gates"),
              py::arg("dhs"), py::arg("dh_next"));
    }
}

}  // namespace attncore_py
