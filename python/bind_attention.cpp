// attncore._cpp, the attention kernels and greedy decoding: argument checks, outputs, the GIL released
// around each kernel call (see cpp_module.cpp).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "../csrc/attention.hpp"
#include "../csrc/fused_step.hpp"
#include "../csrc/parallel.hpp"
#include "bindings.hpp"
#include "checks.hpp"

namespace py = pybind11;
using namespace attncore_py;

namespace {

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
    m.def("attention_decode", &attention_decode, py::arg("enc_hs"), py::arg("start_ids"), py::arg("sample_size"),
          py::arg("lengths"), py::arg("embed"), py::arg("Wx"), py::arg("Wh"), py::arg("b"), py::arg("Wc"),
          py::arg("bc"), py::arg("Wa"), py::arg("ba"), py::arg("cell"), py::arg("state_first") = false);
}

}  // namespace attncore_py
