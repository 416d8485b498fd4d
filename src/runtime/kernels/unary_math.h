// Branch-free float32 exp, sigmoid, tanh and erf that GCC vectorizes with plain SSE2.
//
// libm's expf / tanhf / erff are scalar calls, and -ffast-math (which would let GCC use libmvec) is
// not allowed, so a loop `y[i] = std::exp(x[i])` runs one element at a time. These inline versions
// use only +, *, /, min/max, compares, selects and integer bit tricks, so a loop over them
// vectorizes. Accuracy against the correctly rounded result (checked in tests/kernels_math):
//   exp_approx      relative error <= 4e-7 over [-87, 88]; +-inf, NaN, overflow and underflow right
//   sigmoid_approx  absolute error <= 1e-7
//   tanh_approx     relative error <= 1e-6
//   erf_approx      absolute error <= 3e-7
//
//   for (int64_t i = 0; i < n; ++i) y[i] = exp_approx(x[i]);
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

// The functions below are small enough, but GCC's early inliner refuses them (and the loops that
// call them then stay scalar), so they are forced inline.
#if defined(__GNUC__)
#define QUENCH_MATH_INLINE inline __attribute__((always_inline))
#else
#define QUENCH_MATH_INLINE inline
#endif

namespace quench {

QUENCH_MATH_INLINE float bits_to_float(int32_t i) {
  float f;
  std::memcpy(&f, &i, sizeof f);
  return f;
}
QUENCH_MATH_INLINE int32_t float_to_bits(float f) {
  int32_t i;
  std::memcpy(&i, &f, sizeof i);
  return i;
}

// cond ? a : b without a branch. GCC (with the default -ftrapping-math) will not if-convert a
// float `?:` whose arms may raise FP exceptions, so a plain `x > 0 ? x : a * x` stops the loop from
// vectorizing; this bit blend of two computed values does not.
QUENCH_MATH_INLINE float select(bool cond, float a, float b) {
  int32_t m = -static_cast<int32_t>(cond);
  return bits_to_float((float_to_bits(a) & m) | (float_to_bits(b) & ~m));
}

QUENCH_MATH_INLINE double select(bool cond, double a, double b) {
  int64_t m = -static_cast<int64_t>(cond);
  int64_t ia, ib;
  std::memcpy(&ia, &a, sizeof ia);
  std::memcpy(&ib, &b, sizeof ib);
  int64_t r = (ia & m) | (ib & ~m);
  double d;
  std::memcpy(&d, &r, sizeof d);
  return d;
}
// Integers: a plain ?: (integer arms cannot trap, so GCC if-converts it).
template <class T>
QUENCH_MATH_INLINE T select(bool cond, T a, T b) {
  return cond ? a : b;
}

// min(max(x, lo), hi) with NaN passed through. std::min / std::max on float are not MIN/MAX_EXPR
// for GCC without -ffinite-math-only, and in a longer loop body they end up as branches.
QUENCH_MATH_INLINE float clamp_select(float x, float lo, float hi) {
  return select(x < lo, lo, select(x > hi, hi, x));
}

// exp(x) = 2^k * exp(r), k = round(x / ln2), |r| <= ln2 / 2, exp(r) by a degree-7 Taylor polynomial.
// 2^k is applied as two factors so that results down to 2^-150 (denormals) come out right.
QUENCH_MATH_INLINE float exp_approx(float x) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693359375f;        // ln 2 split so that k * kLn2Hi is exact
  constexpr float kLn2Lo = -2.12194440e-4f;
  constexpr float kRound = 12582912.0f;          // 1.5 * 2^23: adding it rounds to an integer
  float xc = clamp_select(x, -104.0f, 88.8f);
  float t = xc * kLog2e + kRound;
  float kf = t - kRound;
  int32_t k = float_to_bits(t) - float_to_bits(kRound);
  float r = xc - kf * kLn2Hi;
  r = r - kf * kLn2Lo;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  int32_t k1 = k >> 1;
  int32_t k2 = k - k1;
  // Shifted as unsigned: for NaN input k is garbage and a signed shift could overflow.
  float s1 = bits_to_float(static_cast<int32_t>(static_cast<uint32_t>(k1 + 127) << 23));
  float s2 = bits_to_float(static_cast<int32_t>(static_cast<uint32_t>(k2 + 127) << 23));
  return p * s1 * s2;
}

// exp(x) - 1 without the cancellation near 0 (Taylor polynomial below |x| = 0.25).
QUENCH_MATH_INLINE float expm1_approx(float x) {
  float p = 1.0f / 5040.0f;
  p = p * x + 1.0f / 720.0f;
  p = p * x + 1.0f / 120.0f;
  p = p * x + 1.0f / 24.0f;
  p = p * x + 1.0f / 6.0f;
  p = p * x + 0.5f;
  float small = x + x * x * p;
  return select(std::fabs(x) < 0.25f, small, exp_approx(x) - 1.0f);
}

// Round half to even, floor and ceil for float without SSE4.1's roundps: adding and subtracting
// 2^23 rounds to an integer in the current (nearest-even) mode; |x| >= 2^23 is already integral.
QUENCH_MATH_INLINE float round_even_approx(float x) {
  float ax = std::fabs(x);
  float r = std::copysign((ax + 8388608.0f) - 8388608.0f, x);
  return select(ax < 8388608.0f, r, x);
}
QUENCH_MATH_INLINE float floor_approx(float x) {
  float r = round_even_approx(x);
  return r - select(r > x, 1.0f, 0.0f);
}
QUENCH_MATH_INLINE float ceil_approx(float x) {
  float r = round_even_approx(x);
  return r + select(r < x, 1.0f, 0.0f);
}

QUENCH_MATH_INLINE float sigmoid_approx(float x) { return 1.0f / (1.0f + exp_approx(-x)); }

// tanh(|x|) = (1 - e) / (1 + e) with e = exp(-2|x|); below 0.25 an odd Taylor polynomial avoids
// the cancellation in 1 - e.
QUENCH_MATH_INLINE float tanh_approx(float x) {
  float ax = std::fabs(x);
  float e = exp_approx(-2.0f * ax);
  float big = std::copysign((1.0f - e) / (1.0f + e), x);
  float z = x * x;
  float p = -1382.0f / 155925.0f;
  p = p * z + 62.0f / 2835.0f;
  p = p * z - 17.0f / 315.0f;
  p = p * z + 2.0f / 15.0f;
  p = p * z - 1.0f / 3.0f;
  float small = x + x * z * p;
  return select(ax < 0.25f, small, big);
}

// erf: Taylor series below |x| = 0.5 (keeps the relative error small near 0), Abramowitz & Stegun
// 7.1.26 above (absolute error 1.5e-7).
QUENCH_MATH_INLINE float erf_approx(float x) {
  float ax = std::fabs(x);
  float z = x * x;
  float p = 1.0f / 9360.0f;
  p = p * z - 1.0f / 1320.0f;
  p = p * z + 1.0f / 216.0f;
  p = p * z - 1.0f / 42.0f;
  p = p * z + 1.0f / 10.0f;
  p = p * z - 1.0f / 3.0f;
  p = p * z + 1.0f;
  float small = 1.12837916709551257f * x * p;
  float t = 1.0f / (1.0f + 0.3275911f * ax);
  float q = 1.061405429f;
  q = q * t - 1.453152027f;
  q = q * t + 1.421413741f;
  q = q * t - 0.284496736f;
  q = q * t + 0.254829592f;
  float big = std::copysign(1.0f - q * t * exp_approx(-z), x);
  return select(ax < 0.5f, small, big);
}

}  // namespace quench
