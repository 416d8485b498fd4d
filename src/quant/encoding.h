// quench quant: the encoding, one value type for every quantization scheme.
//
// A QuantSpec says how a tensor is to be quantized (number format, bit width, signedness, symmetry,
// granularity, scale type, rounding); an Encoding is a QuantSpec plus the parameters calibration
// found (scales and zero points, one per tensor, per channel or per block). The integer grid is
// always derived from the spec (qmin()/qmax()), never written as a literal.
//
// Conventions (those of ONNX QuantizeLinear):
//   q  = clamp(round(x / scale) + zero_point, qmin, qmax)        round = spec.round_mode
//   x' = (q - zero_point) * scale
// AIMET writes offset = -zero_point; vai_q DPU writes fix_pos with scale = 2^-fix_pos.
//
//   QuantSpec s;                       // int8, signed, symmetric, per-tensor, half-even
//   s.bits = 4;
//   Result<Encoding> e = encoding_from_range(s, {-1.5f}, {2.0f});
//   // e->scale[0] == 2.0f / 7, e->zero_point[0] == 0, e->spec.qmin() == -8
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"

namespace quench {

enum class NumberFormat {
  kInt,        // integer grid with a scale and zero point (bits 2..16)
  kFloat16,    // IEEE half: fake-quantization rounds to the nearest half (no scale)
  kBFloat16,   // bfloat16 (no scale)
  kFloat8E4M3, // float8 e4m3fn, scaled (stretch goal)
  kFloat8E5M2, // float8 e5m2, scaled (stretch goal)
  kFloat32,    // no quantization (a "float" layer in a mixed-precision config)
};

enum class RoundMode {
  kHalfEven,          // banker's rounding (ONNX, numpy)
  kHalfUp,            // floor(v + 0.5) (vai_q activations)
  kHalfDown,          // ties toward zero
  kHalfAwayFromZero,  // std::round (vai_q "std_round", AIMET)
  kFloor,
  kCeil,
};

enum class Granularity { kPerTensor, kPerChannel, kPerBlock };
enum class ScaleType { kFloat, kPowerOfTwo };

struct QuantSpec {
  NumberFormat format = NumberFormat::kInt;
  int bits = 8;                 // 2..16 for kInt (32 only for int32 biases: signed symmetric);
                                // 16 for half/bfloat16, 8 for float8
  bool is_signed = true;
  bool symmetric = true;        // zero_point fixed (0 signed, 2^(b-1) never: unsigned symmetric uses 0)
  bool narrow_range = false;    // signed: qmin = -2^(b-1) + 1 (vai_q narrow_range, int8 [-127, 127])
  bool strict_symmetric = false;    // AIMET: symmetric grid [-(2^(b-1)-1), 2^(b-1)-1] (same as narrow)
  bool unsigned_symmetric = false;  // AIMET: a symmetric tensor with no negative values uses the
                                    // unsigned grid [0, 2^b-1] with zero_point 0
  Granularity granularity = Granularity::kPerTensor;
  int axis = 0;                 // channel axis (per-channel) or blocked axis (per-block); may be < 0
  int block_size = 0;           // per-block: elements per block along axis
  ScaleType scale_type = ScaleType::kFloat;
  RoundMode round_mode = RoundMode::kHalfEven;

  bool is_int() const { return format == NumberFormat::kInt; }
  // Integer grid bounds, from bits / is_signed / narrow_range / strict_symmetric.
  int64_t qmin() const;
  int64_t qmax() const;
  // Checks ranges (bits 2..16, block_size > 0 for per-block, bits match the float formats) and
  // returns kInvalid with the rule broken.
  Status validate() const;
  std::string describe() const;  // "int8 sym per-channel(axis 0) pow2 half_even"
};

bool operator==(const QuantSpec& a, const QuantSpec& b);

struct Encoding {
  QuantSpec spec;
  // Shape of the parameter tensors, as ONNX QuantizeLinear wants them: {} per-tensor, {C} per-channel
  // (C = dim(axis)), and for per-block the data shape with dim(axis) replaced by
  // ceil(dim(axis) / block_size).
  Shape param_shape;
  std::vector<float> scale;         // > 0, one per parameter element (row-major over param_shape)
  std::vector<int32_t> zero_point;  // same size as scale; within [qmin, qmax]
  // Power-of-two scales: scale[i] == 2^-fix_pos[i]. Empty for float scales.
  std::vector<int32_t> fix_pos;

  int64_t num_params() const { return static_cast<int64_t>(scale.size()); }
  // The float range the grid covers for parameter i: (qmin - zp) * scale, (qmax - zp) * scale.
  float range_min(int64_t i = 0) const;
  float range_max(int64_t i = 0) const;
  // Checks sizes, positive finite scales, zero points within the grid, param_shape consistent with
  // the spec, and (when `data_shape` is given) with the tensor it is applied to.
  Status validate(const Shape* data_shape = nullptr) const;
  std::string describe() const;
};

// The encoding an observer reports for ranges [min_i, max_i] (one entry per parameter element), by
// the common rules (AIMET, ONNX Runtime, PyTorch):
// - the range is widened to contain 0;
// - symmetric: scale = max(|min|, |max|) / qmax_pos, zero_point = 0, where qmax_pos = 2^(b-1) - 1
//   (signed) or qmax (unsigned, and unsigned_symmetric when min >= 0);
// - asymmetric: scale = (max - min) / (qmax - qmin), zero_point = round(qmin - min / scale) clamped;
// - power-of-two: scale rounded up to 2^ceil(log2(scale)) and fix_pos filled;
// - a zero range gives scale 1 (AMCT's degenerate rule; no division by zero downstream), zp as above.
// NaN or Inf in min/max is kInvalid. `param_shape` defaults to {} for one range and {n} for n.
Result<Encoding> encoding_from_range(const QuantSpec& spec, const std::vector<float>& min,
                                     const std::vector<float>& max, Shape param_shape = {});

// Encoding of a power-of-two scale: scale = 2^-fix_pos, zero_point 0.
Result<Encoding> encoding_from_fix_pos(const QuantSpec& spec, const std::vector<int32_t>& fix_pos,
                                       Shape param_shape = {});

// Names used in config files and messages.
const char* round_mode_name(RoundMode m);       // "half_even", "half_up", "half_down", "std_round", ...
Result<RoundMode> parse_round_mode(std::string_view s);
const char* number_format_name(NumberFormat f); // "int", "float16", "bfloat16", ...

}  // namespace quench
