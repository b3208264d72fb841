// attncore._cpp, the attention kernels and greedy decoding: guards (guards.hpp), outputs, the GIL released
// around each kernel call.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <string>

#include "../csrc/attention.hpp"
#include "../csrc/attention_scores.hpp"
#include "../csrc/fused_step.hpp"
#include "guards.hpp"

namespace py = pybind11;
using namespace attncore_py;

namespace {

// The sizes of an attention call and its lengths (null, or (N,)).
struct Sizes {
    int64_t N, Tn, H, Td;
    const int64_t* lengths;
};

// The attention kernels' guards: the shapes by letter, T >= 1, the lengths, one float dtype; then kernel(x, s)
// with the inputs x (Inputs, in the order given) makes the outputs and calls the kernel.
template <class K>
py::object attention(const char* fn, const Specs& specs, const py::object& lengths_, K&& kernel) {
    std::vector<const py::array*> arrays;
    for (const auto& spec : specs) arrays.push_back(spec.first);
    const Dims d = agree(fn, specs);
    require(d.at('T') >= 1, fn);
    const Lengths lengths = lengths_in(fn, lengths_, d.at('N'), d.at('T'));
    const Sizes s{d.at('N'), d.at('T'), d.at('H'), d.count('d') ? d.at('d') : 0, lengths.data};
    return with_inputs(fn, arrays, [&](const auto& x) { return kernel(x, s); });
}

// hs (N,T,H), h (N,H) -> a (N,T)
py::object attention_weight_forward(const py::array& hs, const py::array& h, const py::object& lengths) {
    return attention(
        "attention_weight_forward", {{&hs, "NTH"}, {&h, "NH"}}, lengths, [](const auto& x, const Sizes& s) {
            using T = typename std::decay_t<decltype(x)>::type;
            carray<T> a({s.N, s.Tn});
            released(attncore::attention_weight_forward<T>, a.mutable_data(), x[0], x[1], s.N, s.Tn, s.H, s.lengths);
            return py::object(a);
        });
}

// hs (N,T,H), h (N,H), a and da (N,T) -> (dhs (N,T,H), dh (N,H))
py::object attention_weight_backward(const py::array& hs, const py::array& h, const py::array& a, const py::array& da,
                                     const py::object& lengths) {
    return attention("attention_weight_backward", {{&hs, "NTH"}, {&h, "NH"}, {&a, "NT"}, {&da, "NT"}}, lengths,
                     [](const auto& x, const Sizes& s) {
                         using T = typename std::decay_t<decltype(x)>::type;
                         carray<T> dhs({s.N, s.Tn, s.H}), dh({s.N, s.H});
                         released(attncore::attention_weight_backward<T>, dhs.mutable_data(), dh.mutable_data(), x[0],
                                  x[1], x[2], x[3], s.N, s.Tn, s.H, s.lengths);
                         return py::object(py::make_tuple(dhs, dh));
                     });
}

// hs (N,T,H), a (N,T) -> c (N,H)
py::object weight_sum_forward(const py::array& hs, const py::array& a, const py::object& lengths) {
    return attention("weight_sum_forward", {{&hs, "NTH"}, {&a, "NT"}}, lengths, [](const auto& x, const Sizes& s) {
        using T = typename std::decay_t<decltype(x)>::type;
        carray<T> c({s.N, s.H});
        released(attncore::weight_sum_forward<T>, c.mutable_data(), x[0], x[1], s.N, s.Tn, s.H, s.lengths);
        return py::object(c);
    });
}

// hs (N,T,H), a (N,T), dc (N,H) -> (dhs (N,T,H), da (N,T))
py::object weight_sum_backward(const py::array& hs, const py::array& a, const py::array& dc,
                               const py::object& lengths) {
    return attention("weight_sum_backward", {{&hs, "NTH"}, {&a, "NT"}, {&dc, "NH"}}, lengths,
                     [](const auto& x, const Sizes& s) {
                         using T = typename std::decay_t<decltype(x)>::type;
                         carray<T> dhs({s.N, s.Tn, s.H}), da({s.N, s.Tn});
                         released(attncore::weight_sum_backward<T>, dhs.mutable_data(), da.mutable_data(), x[0], x[1],
                                  x[2], s.N, s.Tn, s.H, s.lengths);
                         return py::object(py::make_tuple(dhs, da));
                     });
}

// hs_enc (N,T,H), hs_dec (N,Td,H) -> (out (N,Td,H), a (N,Td,T))
py::object time_attention_forward(const py::array& enc, const py::array& dec, const py::object& lengths) {
    return attention("time_attention_forward", {{&enc, "NTH"}, {&dec, "NdH"}}, lengths,
                     [](const auto& x, const Sizes& s) {
                         using T = typename std::decay_t<decltype(x)>::type;
                         carray<T> out({s.N, s.Td, s.H}), a({s.N, s.Td, s.Tn});
                         released(attncore::time_attention_forward<T>, out.mutable_data(), a.mutable_data(), x[0], x[1],
                                  s.N, s.Tn, s.Td, s.H, s.lengths);
                         return py::object(py::make_tuple(out, a));
                     });
}

// hs_enc (N,T,H), hs_dec (N,Td,H), a (N,Td,T), dout (N,Td,H) -> (dhs_enc (N,T,H), dhs_dec (N,Td,H))
py::object time_attention_backward(const py::array& enc, const py::array& dec, const py::array& a,
                                   const py::array& dout, const py::object& lengths) {
    return attention("time_attention_backward", {{&enc, "NTH"}, {&dec, "NdH"}, {&a, "NdT"}, {&dout, "NdH"}}, lengths,
                     [](const auto& x, const Sizes& s) {
                         using T = typename std::decay_t<decltype(x)>::type;
                         carray<T> denc({s.N, s.Tn, s.H}), ddec({s.N, s.Td, s.H});
                         released(attncore::time_attention_backward<T>, denc.mutable_data(), ddec.mutable_data(), x[0],
                                  x[1], x[2], x[3], s.N, s.Tn, s.Td, s.H, s.lengths);
                         return py::object(py::make_tuple(denc, ddec));
                     });
}

// The guards of the attention kernels with other scores (attention_scores.hpp): the shapes by letter (N, T,
// d = Td, K key width, A additive width, V value width), T >= 1, the products' sizes, the lengths; then
// kernel(x, d, lengths) with the inputs x in the order given.
template <class K>
py::object scored(const char* fn, const Specs& specs, const py::object& lengths_, K&& kernel) {
    std::vector<const py::array*> arrays;
    for (const auto& spec : specs) arrays.push_back(spec.first);
    Dims d = agree(fn, specs);
    require(d.at('T') >= 1, fn);
    for (char c : {'K', 'A'}) d.emplace(c, 0);
    const int64_t Tn = d['T'], Td = d['d'], width = std::max({d['K'], d['A'], d['V'], Tn});
    require_blas_size(std::max(Tn, Td) * width, "max(T,Td)*max(T,K,A,V)");
    const Lengths lengths = lengths_in(fn, lengths_, d['N'], Tn);
    return with_inputs(fn, arrays, [&](const auto& x) { return kernel(x, d, lengths.data); });
}

// q (N,Td,K), k (N,T,K), values (N,T,V), scale -> (out (N,Td,V), a (N,Td,T))
py::object scaled_attention_forward(const py::array& q, const py::array& k, const py::array& values, double scale,
                                    const py::object& lengths) {
    return scored("scaled_attention_forward", {{&q, "NdK"}, {&k, "NTK"}, {&values, "NTV"}}, lengths,
                  [&](const auto& x, Dims& d, const int64_t* lens) {
                      using T = typename std::decay_t<decltype(x)>::type;
                      carray<T> out({d['N'], d['d'], d['V']}), a({d['N'], d['d'], d['T']});
                      released(attncore::scaled_attention_forward<T>, out.mutable_data(), a.mutable_data(), x[0], x[1],
                               x[2], T(scale), d['N'], d['T'], d['d'], d['K'], d['V'], lens);
                      return py::object(py::make_tuple(out, a));
                  });
}

// q, k, values, a (N,Td,T), dout (N,Td,V), scale -> (dq, dk, dvalues, dscale (0-d))
py::object scaled_attention_backward(const py::array& q, const py::array& k, const py::array& values,
                                     const py::array& a, const py::array& dout, double scale,
                                     const py::object& lengths) {
    return scored(
        "scaled_attention_backward", {{&q, "NdK"}, {&k, "NTK"}, {&values, "NTV"}, {&a, "NdT"}, {&dout, "NdV"}}, lengths,
        [&](const auto& x, Dims& d, const int64_t* lens) {
            using T = typename std::decay_t<decltype(x)>::type;
            carray<T> dq({d['N'], d['d'], d['K']}), dk({d['N'], d['T'], d['K']}), dv({d['N'], d['T'], d['V']});
            carray<T> dscale(Shape{});
            released(attncore::scaled_attention_backward<T>, dq.mutable_data(), dk.mutable_data(), dv.mutable_data(),
                     dscale.mutable_data(), x[0], x[1], x[2], x[3], x[4], T(scale), d['N'], d['T'], d['d'], d['K'],
                     d['V'], lens);
            return py::object(py::make_tuple(dq, dk, dv, dscale));
        });
}

// qp (N,Td,A), kp (N,T,A), w (A), values (N,T,V) -> (out (N,Td,V), a (N,Td,T))
py::object additive_attention_forward(const py::array& qp, const py::array& kp, const py::array& w,
                                      const py::array& values, const py::object& lengths) {
    return scored("additive_attention_forward", {{&qp, "NdA"}, {&kp, "NTA"}, {&w, "A"}, {&values, "NTV"}}, lengths,
                  [&](const auto& x, Dims& d, const int64_t* lens) {
                      using T = typename std::decay_t<decltype(x)>::type;
                      carray<T> out({d['N'], d['d'], d['V']}), a({d['N'], d['d'], d['T']});
                      released(attncore::additive_attention_forward<T>, out.mutable_data(), a.mutable_data(), x[0],
                               x[1], x[2], x[3], d['N'], d['T'], d['d'], d['A'], d['V'], lens);
                      return py::object(py::make_tuple(out, a));
                  });
}

// qp, kp, w, values, a (N,Td,T), dout (N,Td,V) -> (dqp, dkp, dw, dvalues)
py::object additive_attention_backward(const py::array& qp, const py::array& kp, const py::array& w,
                                       const py::array& values, const py::array& a, const py::array& dout,
                                       const py::object& lengths) {
    return scored("additive_attention_backward",
                  {{&qp, "NdA"}, {&kp, "NTA"}, {&w, "A"}, {&values, "NTV"}, {&a, "NdT"}, {&dout, "NdV"}}, lengths,
                  [&](const auto& x, Dims& d, const int64_t* lens) {
                      using T = typename std::decay_t<decltype(x)>::type;
                      carray<T> dqp({d['N'], d['d'], d['A']}), dkp({d['N'], d['T'], d['A']}), dw({d['A']});
                      carray<T> dv({d['N'], d['T'], d['V']});
                      released(attncore::additive_attention_backward<T>, dqp.mutable_data(), dkp.mutable_data(),
                               dw.mutable_data(), dv.mutable_data(), x[0], x[1], x[2], x[3], x[4], x[5], d['N'], d['T'],
                               d['d'], d['A'], d['V'], lens);
                      return py::object(py::make_tuple(dqp, dkp, dw, dv));
                  });
}

// Greedy decoding of the attention decoder in one call (fused_attention_decode), or None where the fused
// kernels do not run it (float64, a CPU without them or with them off, N, T, S or H zero): the dispatcher
// then runs the NumPy twin, the step loop. cell: "lstm", "gru" or "gru-reset-after" (b (2,3H));
// state_first: [h | context] into the Luong layer or the output (Keras's order); h0: the start state (N,H)
// or None (enc_hs[:, T-1]). -> (ids (N,S) int64, weights (N,S,T), h (N,H), c (N,H) or None).
py::object attention_decode(const py::array& enc_hs_, const py::array& start_ids, int64_t S, const py::object& lengths_,
                            const py::array& embed_, const py::array& Wx_, const py::array& Wh_, const py::array& b_,
                            const py::object& Wc_, const py::object& bc_, const py::array& Wa_, const py::array& ba_,
                            const std::string& cell, bool state_first, const py::object& h0_) {
    const char* fn = "attention_decode";
    const bool reset_after = cell == "gru-reset-after", gru = cell != "lstm", luong = !Wc_.is_none();
    require((cell == "lstm" || cell == "gru" || reset_after) && Wc_.is_none() == bc_.is_none(), fn);
    const py::array Wc = luong ? Wc_.cast<py::array>() : Wa_, bc = luong ? bc_.cast<py::array>() : ba_;
    const bool given_h0 = !h0_.is_none();
    const py::array h0 = given_h0 ? h0_.cast<py::array>() : enc_hs_;
    return floats(fn, {&enc_hs_, &embed_, &Wx_, &Wh_, &b_, &Wc, &bc, &Wa_, &ba_, &h0}, [&](auto z) -> py::object {
        Dims d = agree(fn, {{&enc_hs_, "NTH"},
                            {&embed_, "ED"},
                            {&Wx_, "DG"},
                            {&Wh_, "HG"},
                            {&Wa_, "FV"},
                            {&ba_, "V"},
                            {&start_ids, "N"}});
        const int64_t N = d['N'], Tn = d['T'], H = d['H'], G = (gru ? 3 : 4) * H;
        require(d['G'] == G && d['F'] == (luong ? H : 2 * H) && d['V'] >= 1 && d['V'] <= d['E'] && S >= 0, fn);
        agree(fn, {{&b_, reset_after ? "2G" : "G"}, {&Wh_, "HG"}});
        if (luong) agree(fn, {{&Wc, "CH"}, {&bc, "H"}, {&Wh_, "HG"}});
        if (given_h0) agree(fn, {{&h0, "NH"}, {&enc_hs_, "NTH"}});
        require((!reset_after || b_.shape(0) == 2) && (!luong || Wc.shape(0) == 2 * H), fn);
        auto start = ids_in(fn, start_ids, d['E']);
        const Lengths lengths = lengths_in(fn, lengths_, N, Tn);
        if (std::is_same_v<decltype(z), double> || N < 1 || Tn < 1 || S < 1 || H < 1 || !attncore::fused_available())
            return py::none();
        auto enc_hs = in<float>(enc_hs_), embed = in<float>(embed_), Wx = in<float>(Wx_), Wh = in<float>(Wh_),
             b = in<float>(b_), Wa = in<float>(Wa_), ba = in<float>(ba_), Wc_in = in<float>(Wc), bc_in = in<float>(bc),
             h0_in = in<float>(h0);
        py::array_t<int64_t> ids({N, S});
        carray<float> weights({N, S, Tn}), h({N, H}), c(Shape{gru ? 0 : N, H});
        const attncore::DecoderWeights W{embed.data(),
                                         Wx.data(),
                                         Wh.data(),
                                         b.data(),
                                         luong ? Wc_in.data() : nullptr,
                                         luong ? bc_in.data() : nullptr,
                                         Wa.data(),
                                         ba.data(),
                                         d['D'],
                                         H,
                                         d['V'],
                                         gru,
                                         reset_after,
                                         state_first};
        released(attncore::fused_attention_decode, ids.mutable_data(), weights.mutable_data(), h.mutable_data(),
                 c.mutable_data(), enc_hs.data(), lengths.data, start.data(), W, N, Tn, S,
                 given_h0 ? h0_in.data() : nullptr);
        return py::make_tuple(ids, weights, h, gru ? py::object(py::none()) : py::object(c));
    });
}

}  // namespace

namespace attncore_py {

void bind_attention(py::module_& m) {
    const auto no_lengths = py::arg("lengths") = py::none();
    m.def("attention_weight_forward", &attention_weight_forward, py::arg("hs"), py::arg("h"), no_lengths);
    m.def("attention_weight_backward", &attention_weight_backward, py::arg("hs"), py::arg("h"), py::arg("a"),
          py::arg("da"), no_lengths);
    m.def("weight_sum_forward", &weight_sum_forward, py::arg("hs"), py::arg("a"), no_lengths);
    m.def("weight_sum_backward", &weight_sum_backward, py::arg("hs"), py::arg("a"), py::arg("dc"), no_lengths);
    m.def("time_attention_forward", &time_attention_forward, py::arg("hs_enc"), py::arg("hs_dec"), no_lengths);
    m.def("time_attention_backward", &time_attention_backward, py::arg("hs_enc"), py::arg("hs_dec"), py::arg("a"),
          py::arg("dout"), no_lengths);
    m.def("scaled_attention_forward", &scaled_attention_forward, py::arg("q"), py::arg("k"), py::arg("values"),
          py::arg("scale"), no_lengths);
    m.def("scaled_attention_backward", &scaled_attention_backward, py::arg("q"), py::arg("k"), py::arg("values"),
          py::arg("a"), py::arg("dout"), py::arg("scale"), no_lengths);
    m.def("additive_attention_forward", &additive_attention_forward, py::arg("qp"), py::arg("kp"), py::arg("w"),
          py::arg("values"), no_lengths);
    m.def("additive_attention_backward", &additive_attention_backward, py::arg("qp"), py::arg("kp"), py::arg("w"),
          py::arg("values"), py::arg("a"), py::arg("dout"), no_lengths);
    m.def("attention_decode", &attention_decode, py::arg("enc_hs"), py::arg("start_ids"), py::arg("sample_size"),
          py::arg("lengths"), py::arg("embed"), py::arg("Wx"), py::arg("Wh"), py::arg("b"), py::arg("Wc"),
          py::arg("bc"), py::arg("Wa"), py::arg("ba"), py::arg("cell"), py::arg("state_first") = false,
          py::arg("h0") = py::none());
}

}  // namespace attncore_py
