// Deterministic calibration data for the generic observer tests. gen() is reproduced exactly by
// the Python snippets quoted in the tests (IEEE double arithmetic, then a cast to float32).
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "core/tensor.h"

namespace quench::testing {

// x_i = 4 v^3 + 1 with v = 2u - 1, u = ((i * 7919 + seed * 104729) mod 10007 + 0.5) / 10007.
//   def gen(n, seed):
//       u = (((i * 7919 + seed * 104729) % 10007) + 0.5) / 10007.0; v = 2.0 * u - 1.0
//       return float32(4.0 * v * v * v + 1.0)
inline std::vector<float> gen(int n, int64_t seed) {
  std::vector<float> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const double u = static_cast<double>((i * 7919 + seed * 104729) % 10007) + 0.5;
    const double v = 2.0 * (u / 10007.0) - 1.0;
    out[static_cast<size_t>(i)] = static_cast<float>(4.0 * v * v * v + 1.0);
  }
  return out;
}

inline Tensor tensor_of(const std::vector<float>& v, Shape shape = {}) {
  if (shape.empty()) shape = {static_cast<int64_t>(v.size())};
  return Tensor::from_vector<float>(shape, v);
}

// N(mean, std) samples (std::mt19937 + Box-Muller, deterministic for a seed).
inline std::vector<float> gaussian(int n, uint32_t seed, double mean = 0.0, double std = 1.0) {
  std::mt19937 rng(seed);
  std::vector<float> out(static_cast<size_t>(n));
  for (int i = 0; i < n; i += 2) {
    const double u1 = (static_cast<double>(rng()) + 1.0) / 4294967297.0;
    const double u2 = static_cast<double>(rng()) / 4294967296.0;
    const double r = std::sqrt(-2.0 * std::log(u1));
    out[static_cast<size_t>(i)] = static_cast<float>(mean + std * r * std::cos(6.283185307179586 * u2));
    if (i + 1 < n)
      out[static_cast<size_t>(i + 1)] =
          static_cast<float>(mean + std * r * std::sin(6.283185307179586 * u2));
  }
  return out;
}

}  // namespace quench::testing
