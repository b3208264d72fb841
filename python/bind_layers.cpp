// attncore._cpp, the softmax, affine, embedding, loss and optimizer kernels: guards (guards.hpp), outputs,
// the GIL released around each kernel call.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>

#include "../csrc/adam.hpp"
#include "../csrc/affine.hpp"
#include "../csrc/blas.hpp"
#include "../csrc/embedding.hpp"
#include "../csrc/softmax.hpp"
#include "guards.hpp"

namespace py = pybind11;
using namespace attncore_py;

namespace {

// x (..., C), C >= 1 -> y; or with `backward` y, dy (..., C) -> dx
template <bool backward>
py::object softmax(const py::array& y, const py::array& dy) {
    const char* fn = backward ? "softmax_backward" : "softmax_forward";
    require(y.ndim() >= 1 && (backward || y.shape(y.ndim() - 1) >= 1) && shape_of(y) == shape_of(dy), fn);
    const int64_t C = y.shape(y.ndim() - 1), R = C ? y.size() / C : 0;
    return with_inputs(fn, {&y, &dy}, [&](const auto& x) {
        using T = typename std::decay_t<decltype(x)>::type;
        carray<T> out(shape_of(y));
        if constexpr (backward)
            released(attncore::softmax_backward<T>, out.mutable_data(), x[0], x[1], R, C);
        else
            released(attncore::softmax_forward<T>, out.mutable_data(), x[0], R, C);
        return py::object(out);
    });
}

// x (M,D), W (D,K), then b (K,) -> x @ W + b (M,K), or dout (M,K) -> (dx (M,D), dW (D,K), db (K,))
template <bool backward>
py::object affine(const py::array& x_, const py::array& W_, const py::array& v_) {
    const char* fn = backward ? "affine_backward" : "affine_forward";
    const Dims d = agree(fn, {{&x_, "MD"}, {&W_, "DK"}, {&v_, backward ? "MK" : "K"}});
    const int64_t M = d.at('M'), D = d.at('D'), K = d.at('K');
    require_blas_size(M * std::max(D, K), "M*max(D,K)");
    require_blas_size(D * K, "D*K");
    return with_inputs(fn, {&x_, &W_, &v_}, [&](const auto& x) {
        using T = typename std::decay_t<decltype(x)>::type;
        if constexpr (backward) {
            carray<T> dx({M, D}), dW({D, K}), db({K});
            released(attncore::affine_backward<T>, dx.mutable_data(), dW.mutable_data(), db.mutable_data(), x[0], x[1],
                     x[2], M, D, K);
            return py::object(py::make_tuple(dx, dW, db));
        } else {
            carray<T> out({M, K});
            released(attncore::affine_forward<T>, out.mutable_data(), x[0], x[1], x[2], M, D, K);
            return py::object(out);
        }
    });
}

// W (V,D), ids int64 (...) in [0, V) -> W[ids] (..., D)
py::object embedding_forward(const py::array& W_, const py::array& ids_) {
    return floats("embedding_forward", {&W_}, [&](auto z) {
        using T = decltype(z);
        require(W_.ndim() == 2, "embedding_forward");
        auto ids = ids_in("embedding_forward", ids_, W_.shape(0));
        auto W = in<T>(W_);
        Shape shape = shape_of(ids);
        shape.push_back(W.shape(1));
        carray<T> out(shape);
        const int64_t R = ids.size(), D = W.shape(1);
        released(attncore::embedding_forward<T>, out.mutable_data(), W.data(), ids.data(), R, D);
        return py::object(out);
    });
}

// ids int64 (...) in [0, V), dout (..., D) -> dW (V,D)
py::object embedding_backward(const py::array& ids_, const py::array& dout_, int64_t V) {
    return floats("embedding_backward", {&dout_}, [&](auto z) {
        using T = decltype(z);
        require(V >= 0 && dout_.ndim() == ids_.ndim() + 1, "embedding_backward");
        auto ids = ids_in("embedding_backward", ids_, V);
        Shape want = shape_of(ids);
        want.push_back(dout_.shape(dout_.ndim() - 1));
        require(shape_of(dout_) == want, "embedding_backward");
        auto dout = in<T>(dout_);
        const int64_t D = want.back();
        carray<T> dW({V, D});
        released(attncore::embedding_backward<T>, dW.mutable_data(), ids.data(), dout.data(), ids.size(), V, D);
        return py::object(dW);
    });
}

// xs (R,V), ts (R,) int64 in [0, V) or ignore_label -> the mean loss over the kept rows, or with `backward`
// its gradient dxs (R,V) scaled by dout
template <bool backward>
py::object softmax_cross_entropy(const py::array& xs_, const py::array& ts_, int64_t ignore, double dout) {
    const char* fn = backward ? "softmax_cross_entropy_backward" : "softmax_cross_entropy_forward";
    return floats(fn, {&xs_}, [&](auto z) {
        using T = decltype(z);
        require(xs_.ndim() == 2 && xs_.shape(1) >= 1 && ts_.ndim() == 1 && ts_.shape(0) == xs_.shape(0), fn);
        auto ts = ids_in(fn, ts_, xs_.shape(1), &ignore);
        auto xs = in<T>(xs_);
        const int64_t R = xs.shape(0), V = xs.shape(1);
        int64_t count = 0;
        if constexpr (backward) {
            for (int64_t r = 0; r < R; ++r) count += ts.data()[r] != ignore;
            carray<T> dx({R, V});
            const T scale = count ? T(dout / double(count)) : T(0);
            released(attncore::softmax_cross_entropy_backward<T>, dx.mutable_data(), xs.data(), ts.data(), ignore,
                     scale, R, V);
            return py::object(dx);
        } else {
            double loss = 0;
            released(
                [&] { loss = attncore::softmax_cross_entropy_forward(xs.data(), ts.data(), ignore, R, V, &count); });
            return py::object(py::float_(count ? loss / double(count) : 0.0));
        }
    });
}

// Whether the bytes of two contiguous arrays overlap.
bool overlap(const py::array& a, const py::array& b) {
    const auto *a0 = static_cast<const char*>(a.data()), *b0 = static_cast<const char*>(b.data());
    return a.nbytes() > 0 && b.nbytes() > 0 && a0 < b0 + b.nbytes() && b0 < a0 + a.nbytes();
}

// One Adam step in place: param, m, v C-contiguous, aligned, writeable, one native float dtype, no shared
// memory (nothing is cast or copied: a write into a copy would be lost); grad of their dtype and size, read
// from a copy where it overlaps them. wide: NumPy computes the step in float64 (its NEP 50 rules).
void adam_update(py::array param, py::array grad_, py::array m, py::array v, double lr_t, double beta1, double beta2,
                 bool wide) {
    const char* fn = "adam_update";
    floats(fn, {&param, &m, &v, &grad_}, [&](auto z) {
        using T = decltype(z);
        for (py::array* a : {&param, &m, &v})
            require((a->flags() & py::array::c_style) && a->writeable() && a->size() == param.size() &&
                        reinterpret_cast<std::uintptr_t>(a->data()) % sizeof(T) == 0,
                    fn);
        require(grad_.size() == param.size() && !overlap(param, m) && !overlap(param, v) && !overlap(m, v), fn);
        carray<T> grad = in<T>(grad_);
        if (overlap(grad, param) || overlap(grad, m) || overlap(grad, v)) grad = copied(grad);
        T *p = static_cast<T*>(param.mutable_data()), *pm = static_cast<T*>(m.mutable_data()),
          *pv = static_cast<T*>(v.mutable_data());
        const T c1 = T(1.0 - beta1), c2 = T(1.0 - beta2);
        released([&] {
            if (wide || sizeof(T) == sizeof(double))
                attncore::adam_update<T, double>(p, pm, pv, grad.data(), c1, c2, lr_t, param.size());
            else
                attncore::adam_update<T, T>(p, pm, pv, grad.data(), c1, c2, lr_t, param.size());
        });
        return py::object(py::none());
    });
}

// op(A) (M,K) @ op(B) (K,N) -> C (M,N): the product every float32 kernel calls (the packed GEMM, or OpenBLAS
// after set_packed_gemm(False)), on attncore's threads.
py::object gemm(const py::array& A, const py::array& B, bool trans_a, bool trans_b) {
    return with_inputs("gemm", {&A, &B}, [&](const auto& x) {
        using T = typename std::decay_t<decltype(x)>::type;
        const Dims d = agree("gemm", {{&A, trans_a ? "KM" : "MK"}, {&B, trans_b ? "NK" : "KN"}});
        const int64_t M = d.at('M'), N = d.at('N'), K = d.at('K');
        carray<T> C({M, N});
        released(attncore::gemm_parallel<T>, trans_a, trans_b, M, N, K, T(1), x[0], trans_a ? M : K, x[1],
                 trans_b ? K : N, T(0), C.mutable_data(), N);
        return py::object(C);
    });
}

}  // namespace

namespace attncore_py {

void bind_layers(py::module_& m) {
    m.def("softmax_forward", [](const py::array& x) { return softmax<false>(x, x); }, py::arg("x"));
    m.def("softmax_backward", &softmax<true>, py::arg("y"), py::arg("dy"));
    m.def("affine_forward", &affine<false>, py::arg("x"), py::arg("W"), py::arg("b"));
    m.def("affine_backward", &affine<true>, py::arg("x"), py::arg("W"), py::arg("dout"));
    m.def("embedding_forward", &embedding_forward, py::arg("W"), py::arg("ids"));
    m.def("embedding_backward", &embedding_backward, py::arg("ids"), py::arg("dout"), py::arg("V"));
    m.def("softmax_cross_entropy_forward", &softmax_cross_entropy<false>, py::arg("xs"), py::arg("ts"),
          py::arg("ignore_label"), py::arg("dout") = 1.0);
    m.def("softmax_cross_entropy_backward", &softmax_cross_entropy<true>, py::arg("xs"), py::arg("ts"),
          py::arg("ignore_label"), py::arg("dout"));
    m.def("gemm", &gemm, py::arg("a"), py::arg("b"), py::arg("trans_a"), py::arg("trans_b"));
    m.def("adam_update", &adam_update, py::arg("param"), py::arg("grad"), py::arg("m"), py::arg("v"), py::arg("lr_t"),
          py::arg("beta1"), py::arg("beta2"), py::arg("wide"));
}

}  // namespace attncore_py
