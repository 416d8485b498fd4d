// quench quant: QuantSpec grid bounds and checks, Encoding checks, and the range -> encoding rules.
//
// Grid rules (QuantSpec::qmin / qmax):
//   signed   [-2^(b-1), 2^(b-1) - 1]; narrow_range, or strict_symmetric on a symmetric spec, raises
//            qmin by one (AIMET ignores strict_symmetric for asymmetric quantizers, so do we);
//   unsigned [0, 2^b - 1] (narrow_range does not apply to unsigned grids).
//
// Range rules (encoding_from_range), beyond those in encoding.h:
//   - unsigned symmetric (is_signed = false, symmetric): zero point 0 and scale max(|min|, |max|) /
//     (2^b - 1), so negative values clamp to 0 (vai_q signed=false, SPEC B maxmin);
//   - AIMET unsigned_symmetric switches the whole quantizer to the unsigned grid only when every
//     range has min >= 0 (one grid per encoding, as AIMET decides per quantizer);
//   - a positive scale below the smallest normal float is raised to it (no denormal scales);
//   - power-of-two scales round up, at most to 2^127 (2^128 is Inf);
//   - float8 scales map max(|min|, |max|) to the format's largest finite value.
#include "quant/encoding.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "quant/float_formats.h"

namespace quench {
namespace {

bool is_float8(NumberFormat f) {
  return f == NumberFormat::kFloat8E4M3 || f == NumberFormat::kFloat8E5M2;
}

const char* granularity_name(Granularity g) {
  switch (g) {
    case Granularity::kPerTensor:
      return "per-tensor";
    case Granularity::kPerChannel:
      return "per-channel";
    case Granularity::kPerBlock:
      return "per-block";
  }
  return "?";
}

std::string float_str(float v) {
  std::ostringstream os;
  os.precision(9);
  os << v;
  return os.str();
}

// 2^ceil(log2(s)) for a positive finite s, exactly (frexp, no log rounding). Returns the exponent.
int pow2_ceil_exponent(double s) {
  int e = 0;
  double m = std::frexp(s, &e);  // s = m * 2^e, m in [0.5, 1)
  return m == 0.5 ? e - 1 : e;
}

}  // namespace

// Meaningful for a valid spec only; the clamp keeps an unvalidated bit width from shifting out of
// range (undefined behaviour) before validate() reports it.
int64_t QuantSpec::qmin() const {
  if (!is_signed) return 0;
  const int b = std::clamp(bits, 1, 62);
  int64_t lo = -(int64_t{1} << (b - 1));
  if (narrow_range || (strict_symmetric && symmetric)) lo += 1;
  return lo;
}

int64_t QuantSpec::qmax() const {
  const int b = std::clamp(bits, 1, 62);
  if (!is_signed) return (int64_t{1} << b) - 1;
  return (int64_t{1} << (b - 1)) - 1;
}

Status QuantSpec::validate() const {
  switch (format) {
    case NumberFormat::kInt:
      if (bits == 32) {
        if (!is_signed || !symmetric)
          return Status::invalid(
              "bits: 32 is allowed only for signed symmetric int32 biases (got " +
              std::string(is_signed ? "signed" : "unsigned") + " " +
              (symmetric ? "symmetric" : "asymmetric") + ")");
      } else if (bits < 2 || bits > 16) {
        return Status::invalid("bits: " + std::to_string(bits) +
                               " is out of range: integer encodings take 2..16 bits (32 only for "
                               "signed symmetric int32 biases)");
      }
      break;
    case NumberFormat::kFloat16:
    case NumberFormat::kBFloat16:
      if (bits != 16)
        return Status::invalid("bits: " + std::to_string(bits) + " does not match format " +
                               number_format_name(format) + ", which takes 16 bits");
      break;
    case NumberFormat::kFloat8E4M3:
    case NumberFormat::kFloat8E5M2:
      if (bits != 8)
        return Status::invalid("bits: " + std::to_string(bits) + " does not match format " +
                               number_format_name(format) + ", which takes 8 bits");
      break;
    case NumberFormat::kFloat32:
      break;  // bits are not used: the tensor stays float32
  }
  if (granularity == Granularity::kPerBlock && block_size <= 0)
    return Status::invalid("block_size: " + std::to_string(block_size) +
                           " must be > 0 for per-block quantization");
  return Status::ok_status();
}

std::string QuantSpec::describe() const {
  std::string s;
  if (format != NumberFormat::kInt) {
    s = number_format_name(format);
    if (!is_float8(format)) return s;
  } else {
    s = (is_signed ? "int" : "uint") + std::to_string(bits);
    s += symmetric ? " sym" : " asym";
    if (narrow_range) s += " narrow";
    if (strict_symmetric) s += " strict";
    if (unsigned_symmetric) s += " unsigned_sym";
  }
  s += " ";
  s += granularity_name(granularity);
  if (granularity == Granularity::kPerChannel) s += "(axis " + std::to_string(axis) + ")";
  if (granularity == Granularity::kPerBlock)
    s += "(axis " + std::to_string(axis) + ", block " + std::to_string(block_size) + ")";
  if (scale_type == ScaleType::kPowerOfTwo) s += " pow2";
  if (format == NumberFormat::kInt) {
    s += " ";
    s += round_mode_name(round_mode);
  }
  return s;
}

bool operator==(const QuantSpec& a, const QuantSpec& b) {
  return a.format == b.format && a.bits == b.bits && a.is_signed == b.is_signed &&
         a.symmetric == b.symmetric && a.narrow_range == b.narrow_range &&
         a.strict_symmetric == b.strict_symmetric && a.unsigned_symmetric == b.unsigned_symmetric &&
         a.granularity == b.granularity && a.axis == b.axis && a.block_size == b.block_size &&
         a.scale_type == b.scale_type && a.round_mode == b.round_mode;
}

float Encoding::range_min(int64_t i) const {
  if (i < 0 || i >= num_params()) return std::numeric_limits<float>::quiet_NaN();
  return static_cast<float>(static_cast<double>(spec.qmin() - zero_point[static_cast<size_t>(i)]) *
                            scale[static_cast<size_t>(i)]);
}

float Encoding::range_max(int64_t i) const {
  if (i < 0 || i >= num_params()) return std::numeric_limits<float>::quiet_NaN();
  return static_cast<float>(static_cast<double>(spec.qmax() - zero_point[static_cast<size_t>(i)]) *
                            scale[static_cast<size_t>(i)]);
}

Status Encoding::validate(const Shape* data_shape) const {
  QUENCH_RETURN_IF_ERROR(spec.validate());
  // Unscaled float formats carry no parameters.
  bool unscaled = spec.format == NumberFormat::kFloat16 || spec.format == NumberFormat::kBFloat16 ||
                  spec.format == NumberFormat::kFloat32;
  if (unscaled && scale.empty() && zero_point.empty()) return Status::ok_status();

  if (scale.empty())
    return Status::invalid("encoding " + spec.describe() + ": scale is empty (one or more needed)");
  if (zero_point.size() != scale.size())
    return Status::invalid("encoding " + spec.describe() + ": zero_point has " +
                           std::to_string(zero_point.size()) + " values, scale has " +
                           std::to_string(scale.size()) + " (must be equal)");
  if (!fix_pos.empty() && fix_pos.size() != scale.size())
    return Status::invalid("encoding " + spec.describe() + ": fix_pos has " +
                           std::to_string(fix_pos.size()) + " values, scale has " +
                           std::to_string(scale.size()) + " (must be equal or fix_pos empty)");
  for (size_t d = 0; d < param_shape.size(); ++d)
    if (param_shape[d] <= 0)
      return Status::invalid("encoding " + spec.describe() + ": param_shape " +
                             shape_to_string(param_shape) + " has a dimension <= 0");
  if (shape_numel(param_shape) != num_params())
    return Status::invalid("encoding " + spec.describe() + ": param_shape " +
                           shape_to_string(param_shape) + " holds " +
                           std::to_string(shape_numel(param_shape)) + " values but scale has " +
                           std::to_string(scale.size()));
  switch (spec.granularity) {
    case Granularity::kPerTensor:
      if (!(param_shape.empty() || (param_shape.size() == 1 && param_shape[0] == 1)))
        return Status::invalid("encoding " + spec.describe() + ": param_shape " +
                               shape_to_string(param_shape) +
                               " must be [] (or [1]) for per-tensor quantization");
      break;
    case Granularity::kPerChannel:
      if (param_shape.size() != 1)
        return Status::invalid("encoding " + spec.describe() + ": param_shape " +
                               shape_to_string(param_shape) +
                               " must have rank 1 ([C]) for per-channel quantization");
      break;
    case Granularity::kPerBlock:
      if (param_shape.empty())
        return Status::invalid("encoding " + spec.describe() +
                               ": param_shape [] must have the data's rank for per-block "
                               "quantization");
      break;
  }

  const int64_t qmin = spec.is_int() ? spec.qmin() : 0;
  const int64_t qmax = spec.is_int() ? spec.qmax() : 0;
  for (size_t i = 0; i < scale.size(); ++i) {
    float s = scale[i];
    if (!std::isfinite(s) || !(s > 0.0f))
      return Status::invalid("encoding " + spec.describe() + ": scale[" + std::to_string(i) +
                             "] = " + float_str(s) + " must be positive and finite");
    int32_t zp = zero_point[i];
    if (zp < qmin || zp > qmax)
      return Status::invalid("encoding " + spec.describe() + ": zero_point[" + std::to_string(i) +
                             "] = " + std::to_string(zp) + " is outside the grid [" +
                             std::to_string(qmin) + ", " + std::to_string(qmax) + "]");
    if (spec.symmetric && zp != 0)
      return Status::invalid("encoding " + spec.describe() + ": zero_point[" + std::to_string(i) +
                             "] = " + std::to_string(zp) + " must be 0 for a symmetric encoding");
    if (spec.scale_type == ScaleType::kPowerOfTwo) {
      int e = 0;
      if (std::frexp(s, &e) != 0.5f)
        return Status::invalid("encoding " + spec.describe() + ": scale[" + std::to_string(i) +
                               "] = " + float_str(s) + " is not a power of two");
      if (!fix_pos.empty() && fix_pos[i] != -(e - 1))
        return Status::invalid("encoding " + spec.describe() + ": fix_pos[" + std::to_string(i) +
                               "] = " + std::to_string(fix_pos[i]) + " does not match scale " +
                               float_str(s) + " (scale must be 2^-fix_pos)");
    }
  }

  if (data_shape == nullptr) return Status::ok_status();
  const Shape& ds = *data_shape;
  const int rank = static_cast<int>(ds.size());
  if (spec.granularity == Granularity::kPerTensor) return Status::ok_status();
  int axis = spec.axis < 0 ? spec.axis + rank : spec.axis;
  if (axis < 0 || axis >= rank)
    return Status::invalid("encoding " + spec.describe() + ": axis " + std::to_string(spec.axis) +
                           " is out of range for a tensor of shape " + shape_to_string(ds) +
                           " (rank " + std::to_string(rank) + ")");
  if (spec.granularity == Granularity::kPerChannel) {
    if (param_shape[0] != ds[static_cast<size_t>(axis)])
      return Status::invalid("encoding " + spec.describe() + ": param_shape " +
                             shape_to_string(param_shape) + " does not match dim " +
                             std::to_string(axis) + " of data shape " + shape_to_string(ds) +
                             " (one parameter per channel)");
    return Status::ok_status();
  }
  Shape want = ds;
  want[static_cast<size_t>(axis)] =
      (ds[static_cast<size_t>(axis)] + spec.block_size - 1) / spec.block_size;
  if (param_shape != want)
    return Status::invalid("encoding " + spec.describe() + ": param_shape " +
                           shape_to_string(param_shape) + " does not match data shape " +
                           shape_to_string(ds) + " with blocks of " +
                           std::to_string(spec.block_size) + " along axis " + std::to_string(axis) +
                           " (expected " + shape_to_string(want) + ")");
  return Status::ok_status();
}

std::string Encoding::describe() const {
  std::ostringstream os;
  os << spec.describe();
  if (scale.empty()) return os.str();
  os << " params " << shape_to_string(param_shape);
  const size_t shown = scale.size() < 4 ? scale.size() : 4;
  os << " scale [";
  for (size_t i = 0; i < shown; ++i) os << (i ? ", " : "") << float_str(scale[i]);
  if (shown < scale.size()) os << ", ...";
  os << "] zero_point [";
  for (size_t i = 0; i < shown; ++i) os << (i ? ", " : "") << zero_point[i];
  if (shown < scale.size()) os << ", ...";
  os << "]";
  return os.str();
}

Result<Encoding> encoding_from_range(const QuantSpec& spec, const std::vector<float>& min,
                                     const std::vector<float>& max, Shape param_shape) {
  QUENCH_RETURN_IF_ERROR(spec.validate());
  if (min.size() != max.size())
    return Status::invalid("encoding_from_range: min has " + std::to_string(min.size()) +
                           " values, max has " + std::to_string(max.size()) + " (must be equal)");
  Encoding e;
  e.spec = spec;
  const bool unscaled = spec.format == NumberFormat::kFloat16 ||
                        spec.format == NumberFormat::kBFloat16 ||
                        spec.format == NumberFormat::kFloat32;
  if (unscaled) return e;  // the ranges do not matter: values round to the format itself
  if (min.empty())
    return Status::invalid("encoding_from_range: no ranges given (one per parameter needed)");
  const size_t n = min.size();
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(min[i]))
      return Status::invalid("encoding_from_range: min[" + std::to_string(i) +
                             "] = " + float_str(min[i]) + " must be finite");
    if (!std::isfinite(max[i]))
      return Status::invalid("encoding_from_range: max[" + std::to_string(i) +
                             "] = " + float_str(max[i]) + " must be finite");
    if (min[i] > max[i])
      return Status::invalid("encoding_from_range: min[" + std::to_string(i) +
                             "] = " + float_str(min[i]) + " > max[" + std::to_string(i) +
                             "] = " + float_str(max[i]) + " (need min <= max)");
  }
  if (param_shape.empty() && spec.granularity != Granularity::kPerTensor)
    param_shape = {static_cast<int64_t>(n)};
  if (spec.granularity == Granularity::kPerTensor && n != 1)
    return Status::invalid("encoding_from_range: " + std::to_string(n) +
                           " ranges given for a per-tensor encoding (exactly 1 needed)");
  if (shape_numel(param_shape) != static_cast<int64_t>(n))
    return Status::invalid("encoding_from_range: param_shape " + shape_to_string(param_shape) +
                           " holds " + std::to_string(shape_numel(param_shape)) + " values but " +
                           std::to_string(n) + " ranges were given");
  e.param_shape = std::move(param_shape);
  e.scale.resize(n);
  e.zero_point.assign(n, 0);

  if (is_float8(spec.format)) {
    // Scaled float8: the largest |x| maps to the largest finite float8 value.
    for (size_t i = 0; i < n; ++i) {
      double amax = std::max(std::fabs(static_cast<double>(min[i])), std::fabs(double{max[i]}));
      double s = amax == 0.0 ? 1.0 : amax / float8_max(spec.format);
      e.scale[i] = static_cast<float>(s);
    }
  } else {
    // AIMET unsigned_symmetric: a symmetric signed tensor with no negative values (all channels)
    // uses the unsigned grid.
    if (spec.symmetric && spec.is_signed && spec.unsigned_symmetric && spec.bits != 32) {
      bool all_nonneg = true;
      for (size_t i = 0; i < n; ++i) all_nonneg = all_nonneg && min[i] >= 0.0f;
      if (all_nonneg) e.spec.is_signed = false;
    }
    const QuantSpec& g = e.spec;
    const double qmin = static_cast<double>(g.qmin());
    const double qmax = static_cast<double>(g.qmax());
    for (size_t i = 0; i < n; ++i) {
      const double lo = std::min(static_cast<double>(min[i]), 0.0);
      const double hi = std::max(static_cast<double>(max[i]), 0.0);
      double s;
      if (g.symmetric) {
        // max(|min|, |max|) over the positive side of the grid: 2^(b-1) - 1 signed, 2^b - 1
        // unsigned. Unsigned symmetric (vai_q signed=false, AIMET unsigned_symmetric): zero
        // point 0, so negative values clamp to 0 (SPEC B: amax = max|x|, scale = amax / qmax).
        s = std::max(-lo, hi) / qmax;
      } else {
        s = (hi - lo) / (qmax - qmin);
      }
      float sf = static_cast<float>(s);
      if (sf == 0.0f) {
        sf = s == 0.0 ? 1.0f : std::numeric_limits<float>::min();  // zero range: AMCT's scale 1
      }
      if (g.scale_type == ScaleType::kPowerOfTwo) {
        // 2^128 would be Inf: the largest power of two a float holds is 2^127.
        sf = static_cast<float>(std::ldexp(1.0, std::min(pow2_ceil_exponent(sf), 127)));
      }
      e.scale[i] = sf;
      if (!g.symmetric) {
        double zp = std::nearbyint(qmin - lo / static_cast<double>(sf));
        zp = std::clamp(zp, qmin, qmax);
        e.zero_point[i] = static_cast<int32_t>(zp);
      }
    }
  }
  if (spec.scale_type == ScaleType::kPowerOfTwo) {
    e.fix_pos.resize(n);
    for (size_t i = 0; i < n; ++i) e.fix_pos[i] = -pow2_ceil_exponent(e.scale[i]);
  }
  return e;
}

Result<Encoding> encoding_from_fix_pos(const QuantSpec& spec, const std::vector<int32_t>& fix_pos,
                                       Shape param_shape) {
  QUENCH_RETURN_IF_ERROR(spec.validate());
  if (fix_pos.empty())
    return Status::invalid("encoding_from_fix_pos: no fix_pos given (one per parameter needed)");
  const size_t n = fix_pos.size();
  if (param_shape.empty() && spec.granularity != Granularity::kPerTensor)
    param_shape = {static_cast<int64_t>(n)};
  if (shape_numel(param_shape) != static_cast<int64_t>(n))
    return Status::invalid("encoding_from_fix_pos: param_shape " + shape_to_string(param_shape) +
                           " holds " + std::to_string(shape_numel(param_shape)) + " values but " +
                           std::to_string(n) + " fix_pos were given");
  Encoding e;
  e.spec = spec;
  e.spec.scale_type = ScaleType::kPowerOfTwo;
  e.param_shape = std::move(param_shape);
  e.fix_pos = fix_pos;
  e.zero_point.assign(n, 0);
  e.scale.resize(n);
  for (size_t i = 0; i < n; ++i) {
    // 2^-fix_pos must be a normal float: fix_pos in [-127, 126].
    if (fix_pos[i] < -127 || fix_pos[i] > 126)
      return Status::invalid("encoding_from_fix_pos: fix_pos[" + std::to_string(i) +
                             "] = " + std::to_string(fix_pos[i]) +
                             " is out of range: 2^-fix_pos must be a normal float (-127..126)");
    e.scale[i] = static_cast<float>(std::ldexp(1.0, -fix_pos[i]));
  }
  return e;
}

const char* round_mode_name(RoundMode m) {
  switch (m) {
    case RoundMode::kHalfEven:
      return "half_even";
    case RoundMode::kHalfUp:
      return "half_up";
    case RoundMode::kHalfDown:
      return "half_down";
    case RoundMode::kHalfAwayFromZero:
      return "std_round";
    case RoundMode::kFloor:
      return "floor";
    case RoundMode::kCeil:
      return "ceil";
  }
  return "?";
}

Result<RoundMode> parse_round_mode(std::string_view s) {
  static constexpr RoundMode kAll[] = {RoundMode::kHalfEven, RoundMode::kHalfUp,
                                       RoundMode::kHalfDown, RoundMode::kHalfAwayFromZero,
                                       RoundMode::kFloor,    RoundMode::kCeil};
  std::string names;
  for (RoundMode m : kAll) {
    if (s == round_mode_name(m)) return m;
    names += names.empty() ? "" : ", ";
    names += round_mode_name(m);
  }
  return Status::invalid("round mode \"" + std::string(s) + "\" is unknown (expected one of " +
                         names + ")");
}

const char* number_format_name(NumberFormat f) {
  switch (f) {
    case NumberFormat::kInt:
      return "int";
    case NumberFormat::kFloat16:
      return "float16";
    case NumberFormat::kBFloat16:
      return "bfloat16";
    case NumberFormat::kFloat8E4M3:
      return "float8_e4m3fn";
    case NumberFormat::kFloat8E5M2:
      return "float8_e5m2";
    case NumberFormat::kFloat32:
      return "float32";
  }
  return "?";
}

}  // namespace quench
