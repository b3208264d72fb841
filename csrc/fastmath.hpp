// exp, sigmoid and tanh that the compiler can vectorize without -ffast-math.
//
// libm's expf/tanhf are scalar calls (about 15 ns each here), which made the
// LSTM/GRU gate loops cost more than their matrix products. These use the
// classic scheme: x = n*ln2 + r with |r| <= ln2/2 (Cody-Waite split of ln2),
// exp(r) by a Taylor polynomial, 2^n by writing the exponent bits. Relative
// error: a few ulp in float and double; below the underflow threshold the
// result is 0 and above the overflow threshold inf, as libm's.
#pragma once

#include <cstdint>
#include <limits>
#include <type_traits>

#if defined(__GNUC__) || defined(__clang__)
#define ATTNCORE_INLINE inline __attribute__((always_inline))
#else
#define ATTNCORE_INLINE inline
#endif

// Functions marked with this get AVX-512, AVX2 and baseline builds, chosen at
// load time for the CPU at hand (the default build targets plain x86-64, whose
// 4-wide SSE made the LSTM gate loop twice as slow as with -march=native).
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define ATTNCORE_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define ATTNCORE_SIMD_CLONES
#endif

namespace attncore {

namespace detail {

template <class T>
struct ExpTraits;

template <>
struct ExpTraits<float> {
    using Int = int32_t;
    static constexpr float lo = -87.0f, hi = 88.0f;
    static constexpr float magic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
    static constexpr float ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
    static constexpr int mantissa = 23, bias = 127;
    ATTNCORE_INLINE static float poly(float r) {  // exp(r) on |r| <= 0.35, to r^7
        return 1.0f +
               r * (1.0f + r * (0.5f + r * (1.6666667e-1f +
                                            r * (4.1666668e-2f +
                                                 r * (8.3333338e-3f + r * (1.3888889e-3f + r * 1.9841270e-4f))))));
    }
};

template <>
struct ExpTraits<double> {
    using Int = int64_t;
    static constexpr double lo = -708.0, hi = 709.0;
    static constexpr double magic = 6755399441055744.0;  // 1.5 * 2^52
    static constexpr double ln2_hi = 0.693147180369123816490, ln2_lo = 1.90821492927058770002e-10;
    static constexpr int mantissa = 52, bias = 1023;
    ATTNCORE_INLINE static double poly(double r) {  // exp(r) on |r| <= 0.35, to r^13
        double p = 1.0 / 6227020800.0;
        p = p * r + 1.0 / 479001600.0;
        p = p * r + 1.0 / 39916800.0;
        p = p * r + 1.0 / 3628800.0;
        p = p * r + 1.0 / 362880.0;
        p = p * r + 1.0 / 40320.0;
        p = p * r + 1.0 / 5040.0;
        p = p * r + 1.0 / 720.0;
        p = p * r + 1.0 / 120.0;
        p = p * r + 1.0 / 24.0;
        p = p * r + 1.0 / 6.0;
        p = p * r + 0.5;
        p = p * r + 1.0;
        return p * r + 1.0;
    }
};

}  // namespace detail

// Like libm's exp: 0 below the underflow threshold, inf above the overflow
// one (so sigmoid(-1000) is 0 and 0 * inf is NaN, as in NumPy), NaN for NaN.
template <class T>
ATTNCORE_INLINE T fast_exp(T x) {
    using Tr = detail::ExpTraits<T>;
    using UInt = std::make_unsigned_t<typename Tr::Int>;
    const bool underflow = x<Tr::lo, overflow = x> Tr::hi;
    const T xc = underflow ? Tr::lo : (overflow ? Tr::hi : x);  // NaN stays NaN
    const T t = xc * T(1.4426950408889634) + Tr::magic;         // round(x / ln2) + magic
    const T n = t - Tr::magic;
    const T r = (xc - n * Tr::ln2_hi) - n * Tr::ln2_lo;
    // The low bits of t hold n: write n + bias into the exponent field of 2^n. In
    // unsigned arithmetic: for a NaN the bits are garbage (the result is NaN
    // anyway), and shifting them as a signed int would be undefined.
    const UInt n_bits = __builtin_bit_cast(UInt, t) - __builtin_bit_cast(UInt, Tr::magic);
    const T scale = __builtin_bit_cast(T, static_cast<UInt>((n_bits + UInt(Tr::bias)) << Tr::mantissa));
    const T y = Tr::poly(r) * scale;
    return underflow ? T(0) : (overflow ? std::numeric_limits<T>::infinity() : y);
}

template <class T>
ATTNCORE_INLINE T fast_sigmoid(T x) {
    return T(1) / (T(1) + fast_exp(-x));
}

// tanh(x) = 1 - 2 / (1 + exp(2x)): absolute error of a few ulp of 1.
template <class T>
ATTNCORE_INLINE T fast_tanh(T x) {
    return T(1) - T(2) / (T(1) + fast_exp(T(2) * x));
}

}  // namespace attncore
