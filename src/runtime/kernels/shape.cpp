// Kernels of the shape family (see runtime/registry.h and kernels/shape_ops.h for the file split):
// this file holds the family's registry table and the ops that only compute shapes or constants.
// Reshape, Flatten, Squeeze and Unsqueeze return their input's buffer under the new shape (no copy).
#include <algorithm>
#include <cmath>
#include <set>

#include "core/dispatch.h"
#include "runtime/kernels/kernel_util.h"
#include "runtime/kernels/shape_copy.h"
#include "runtime/kernels/shape_ops.h"
#include "runtime/registry.h"

namespace quench {

// ---- helpers shared by the family -------------------------------------------------------------

std::string ints_to_string(const std::vector<int64_t>& v) { return shape_to_string(v); }

Status require_index_tensor(const KernelContext& ctx, const Tensor& t, const char* what) {
  if (t.dtype() != DType::kInt64 && t.dtype() != DType::kInt32) {
    return ctx.invalid(std::string(what) + " must be int64 or int32, got " + t.describe());
  }
  return Status();
}

std::optional<std::vector<int64_t>> ints_from_input_or_attr(const KernelContext& ctx, size_t i,
                                                            const char* attr) {
  if (ctx.has_input(i)) return tensor_to_int64s(ctx.input(i));
  if (const Attribute* a = ctx.node().attr(attr)) return a->ints;
  return std::nullopt;
}

Result<std::vector<int64_t>> normalize_axes(const KernelContext& ctx, std::vector<int64_t> axes,
                                            int64_t rank, const char* what) {
  std::set<int64_t> seen;
  for (int64_t& a : axes) {
    QUENCH_ASSIGN_OR_RETURN(a, normalize_axis(ctx, a, rank, what));
    if (!seen.insert(a).second) {
      return ctx.invalid(std::string(what) + " " + ints_to_string(axes) + " repeat axis " +
                         std::to_string(a));
    }
  }
  return axes;
}

namespace {

// ---- Shape, Size ------------------------------------------------------------------------------

Status shape_kernel(KernelContext& ctx) {
  const Shape& s = ctx.input(0).shape();
  const int64_t rank = static_cast<int64_t>(s.size());
  // Opset 15: start/end slice the shape, clamped to [0, rank] after adding rank to negatives.
  auto clamp = [rank](int64_t v) { return std::clamp<int64_t>(v < 0 ? v + rank : v, 0, rank); };
  int64_t start = clamp(ctx.node().attr_int("start", 0));
  int64_t end = clamp(ctx.node().attr_int("end", rank));
  std::vector<int64_t> dims(s.begin() + start, s.begin() + std::max(start, end));
  ctx.set_output(0, Tensor::from_vector<int64_t>({static_cast<int64_t>(dims.size())}, dims));
  return Status();
}

Status size_kernel(KernelContext& ctx) {
  ctx.set_output(0, Tensor::scalar<int64_t>(ctx.input(0).numel()));
  return Status();
}

// ---- Reshape ----------------------------------------------------------------------------------

// The target shape of Reshape from its spec: 0 copies the input dimension (unless allowzero),
// -1 is inferred from the element count.
Result<Shape> reshape_target(const KernelContext& ctx, const Tensor& x,
                             const std::vector<int64_t>& spec, bool allowzero) {
  Shape out(spec.size());
  int infer = -1;
  int64_t known = 1;
  bool has_zero = false;
  for (size_t i = 0; i < spec.size(); ++i) {
    int64_t d = spec[i];
    if (d == -1) {
      if (infer >= 0) {
        return ctx.invalid("shape " + ints_to_string(spec) + " has more than one -1");
      }
      infer = static_cast<int>(i);
      continue;
    }
    if (d < -1) {
      return ctx.invalid("shape " + ints_to_string(spec) + " has dimension " + std::to_string(d) +
                         " (allowed: >= -1)");
    }
    if (d == 0) {
      has_zero = true;
      if (!allowzero) {
        if (i >= static_cast<size_t>(x.rank())) {
          return ctx.invalid("shape " + ints_to_string(spec) + " copies dimension " +
                             std::to_string(i) + " (0) but the input " + x.describe() +
                             " has rank " + std::to_string(x.rank()));
        }
        d = x.dim(static_cast<int>(i));
      }
    }
    out[i] = d;
    known *= d;
  }
  if (allowzero && has_zero && infer >= 0) {
    return ctx.invalid("shape " + ints_to_string(spec) +
                       " has both 0 and -1, which allowzero=1 does not allow");
  }
  if (infer >= 0) {
    if (known == 0 || x.numel() % known != 0) {
      return ctx.invalid("cannot reshape " + x.describe() + " (" + std::to_string(x.numel()) +
                         " elements) to " + ints_to_string(spec) + ": -1 cannot be inferred");
    }
    out[static_cast<size_t>(infer)] = x.numel() / known;
  } else if (known != x.numel()) {
    return ctx.invalid("cannot reshape " + x.describe() + " (" + std::to_string(x.numel()) +
                       " elements) to " + shape_to_string(out) + " (" + std::to_string(known) +
                       " elements)");
  }
  return out;
}

// Keeps a constant shape (an initializer, or the opset < 5 attribute) parsed once.
class ReshapeKernel final : public OpKernel {
 public:
  explicit ReshapeKernel(const KernelInfo& info) {
    allowzero_ = info.node.attr_int("allowzero", 0) != 0;
    if (const Tensor* c = info.constant_input(1)) {
      spec_ = tensor_to_int64s(*c);
    } else if (info.node.num_inputs() < 2 && info.node.has_attr("shape")) {
      spec_ = info.node.attr_ints("shape");
    }
  }
  Status compute(KernelContext& ctx) override {
    const Tensor& x = ctx.input(0);
    std::vector<int64_t> runtime_spec;
    const std::vector<int64_t>* spec = spec_ ? &*spec_ : nullptr;
    if (!spec) {
      if (!ctx.has_input(1)) return ctx.invalid("the shape input is missing");
      QUENCH_RETURN_IF_ERROR(require_index_tensor(ctx, ctx.input(1), "shape"));
      runtime_spec = tensor_to_int64s(ctx.input(1));
      spec = &runtime_spec;
    }
    QUENCH_ASSIGN_OR_RETURN(Shape out, reshape_target(ctx, x, *spec, allowzero_));
    ctx.set_output(0, x.reshaped(std::move(out)));
    return Status();
  }

 private:
  bool allowzero_ = false;
  std::optional<std::vector<int64_t>> spec_;
};

// ---- Flatten, Squeeze, Unsqueeze --------------------------------------------------------------

Status flatten_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t rank = x.rank();
  int64_t axis = ctx.node().attr_int("axis", 1);
  if (axis < -rank || axis > rank) {
    return ctx.invalid("axis " + std::to_string(axis) + " is out of range for rank " +
                       std::to_string(rank) + " (allowed: [" + std::to_string(-rank) + ", " +
                       std::to_string(rank) + "])");
  }
  if (axis < 0) axis += rank;
  int64_t outer = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.dim(static_cast<int>(d));
  int64_t inner = 1;
  for (int64_t d = axis; d < rank; ++d) inner *= x.dim(static_cast<int>(d));
  ctx.set_output(0, x.reshaped({outer, inner}));
  return Status();
}

Status squeeze_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  std::optional<std::vector<int64_t>> axes = ints_from_input_or_attr(ctx, 1, "axes");
  std::vector<bool> drop(static_cast<size_t>(x.rank()), false);
  if (axes && !axes->empty()) {  // an empty list squeezes every unit dimension, as no list does
    QUENCH_ASSIGN_OR_RETURN(std::vector<int64_t> norm, normalize_axes(ctx, *axes, x.rank()));
    for (int64_t a : norm) {
      if (x.dim(static_cast<int>(a)) != 1) {
        return ctx.invalid("cannot squeeze axis " + std::to_string(a) + " of " + x.describe() +
                           ": its size is " + std::to_string(x.dim(static_cast<int>(a))) +
                           ", not 1");
      }
      drop[static_cast<size_t>(a)] = true;
    }
  } else {
    for (int d = 0; d < x.rank(); ++d) drop[static_cast<size_t>(d)] = x.dim(d) == 1;
  }
  Shape out;
  for (int d = 0; d < x.rank(); ++d)
    if (!drop[static_cast<size_t>(d)]) out.push_back(x.dim(d));
  ctx.set_output(0, x.reshaped(std::move(out)));
  return Status();
}

Status unsqueeze_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  std::optional<std::vector<int64_t>> axes = ints_from_input_or_attr(ctx, 1, "axes");
  if (!axes) return ctx.invalid("axes are missing (the input since opset 13, an attribute before)");
  const int64_t out_rank = x.rank() + static_cast<int64_t>(axes->size());
  QUENCH_ASSIGN_OR_RETURN(std::vector<int64_t> norm, normalize_axes(ctx, *axes, out_rank));
  std::vector<bool> inserted(static_cast<size_t>(out_rank), false);
  for (int64_t a : norm) inserted[static_cast<size_t>(a)] = true;
  Shape out;
  int src = 0;
  for (int64_t d = 0; d < out_rank; ++d) out.push_back(inserted[static_cast<size_t>(d)] ? 1 : x.dim(src++));
  ctx.set_output(0, x.reshaped(std::move(out)));
  return Status();
}

// ---- Constant, ConstantOfShape, Range, EyeLike ------------------------------------------------

Status constant_kernel(KernelContext& ctx) {
  const Node& n = ctx.node();
  for (const Attribute& a : n.attributes) {
    if (a.name == "value") {
      if (!a.t.defined()) return ctx.invalid("attribute 'value' holds no tensor");
      // The attribute keeps a reference, so the executor never lets a consumer write into it.
      ctx.set_output(0, a.t);
      return Status();
    }
    if (a.name == "value_float") {
      ctx.set_output(0, Tensor::scalar<float>(a.f));
      return Status();
    }
    if (a.name == "value_floats") {
      ctx.set_output(0, Tensor::from_vector<float>({static_cast<int64_t>(a.floats.size())}, a.floats));
      return Status();
    }
    if (a.name == "value_int") {
      ctx.set_output(0, Tensor::scalar<int64_t>(a.i));
      return Status();
    }
    if (a.name == "value_ints") {
      ctx.set_output(0, Tensor::from_vector<int64_t>({static_cast<int64_t>(a.ints.size())}, a.ints));
      return Status();
    }
    if (a.name == "sparse_value" || a.name == "value_string" || a.name == "value_strings") {
      return ctx.unsupported("attribute '" + a.name + "' is not supported (string and sparse "
                             "constants cannot be held by a quench tensor)");
    }
  }
  return ctx.invalid("no value attribute (value, value_float(s) or value_int(s))");
}

Status constant_of_shape_kernel(KernelContext& ctx) {
  const Tensor& shape_t = ctx.input(0);
  QUENCH_RETURN_IF_ERROR(require_index_tensor(ctx, shape_t, "shape"));
  Shape shape = tensor_to_int64s(shape_t);
  for (int64_t d : shape) {
    if (d < 0) return ctx.invalid("shape " + ints_to_string(shape) + " has a negative dimension");
  }
  const Attribute* value = ctx.node().attr("value");
  if (!value || !value->t.defined()) {
    ctx.set_output(0, Tensor::zeros(DType::kFloat32, shape));
    return Status();
  }
  if (value->t.numel() != 1) {
    return ctx.invalid("value must hold one element, got " + value->t.describe());
  }
  Tensor& y = ctx.allocate_output(0, value->t.dtype(), shape);
  fill_elements(y.raw_data(), value->t.raw_data(), dtype_size(y.dtype()), y.numel());
  return Status();
}

Status range_kernel(KernelContext& ctx) {
  for (size_t i = 0; i < 3; ++i) {
    if (!ctx.has_input(i) || ctx.input(i).numel() != 1) {
      return ctx.invalid("start, limit and delta must be scalars; input " + std::to_string(i) +
                         " is " + (ctx.has_input(i) ? ctx.input(i).describe() : "missing"));
    }
    if (ctx.input(i).dtype() != ctx.input(0).dtype()) {
      return ctx.invalid("start, limit and delta must have one type: " + ctx.input(0).describe() +
                         " vs " + ctx.input(i).describe());
    }
  }
  DType dt = ctx.input(0).dtype();
  if (dt == DType::kBool) return ctx.invalid("Range does not take bool");
  return visit_numeric_or_half(dt, [&](auto tag) -> Status {
    using T = decltype(tag);
    using W = std::conditional_t<std::is_class_v<T>, float, T>;
    const W start = static_cast<W>(ctx.input(0).data<T>()[0]);
    const W limit = static_cast<W>(ctx.input(1).data<T>()[0]);
    const W delta = static_cast<W>(ctx.input(2).data<T>()[0]);
    if (delta == W{0}) return ctx.invalid("delta is 0");
    double count = std::ceil((static_cast<double>(limit) - static_cast<double>(start)) /
                             static_cast<double>(delta));
    if (!(count >= 0)) count = 0;  // also catches NaN
    if (count > 1e10) return ctx.invalid("the range would hold " + std::to_string(count) + " elements");
    const int64_t n = static_cast<int64_t>(count);
    Tensor& y = ctx.allocate_output(0, dt, {n});
    T* p = y.data<T>();
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(start + static_cast<W>(i) * delta);
    return Status();
  });
}

Status eye_like_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (x.rank() != 2) return ctx.invalid("input must be 2-D, got " + x.describe());
  DType dt = x.dtype();
  if (const Attribute* a = ctx.node().attr("dtype")) {
    if (!dtype_is_known(static_cast<int32_t>(a->i)) || dtype_size(static_cast<DType>(a->i)) == 0) {
      return ctx.invalid("dtype " + std::to_string(a->i) + " is not a supported tensor type");
    }
    dt = static_cast<DType>(a->i);
  }
  const int64_t k = ctx.node().attr_int("k", 0);
  Tensor& y = ctx.allocate_output(0, dt, x.shape());
  std::memset(y.raw_data(), 0, y.nbytes());
  const std::vector<unsigned char> one = scalar_bytes(dt, 1.0);
  const int64_t rows = x.dim(0), cols = x.dim(1);
  auto* p = static_cast<unsigned char*>(y.raw_data());
  for (int64_t r = 0; r < rows; ++r) {
    int64_t c = r + k;
    if (c >= 0 && c < cols) std::memcpy(p + (r * cols + c) * one.size(), one.data(), one.size());
  }
  return Status();
}

constexpr DType kAny = DType::kUndefined;

const KernelDef kTable[] = {
    {"", "Shape", 1, kOpsetMax, kAny, fn_kernel<shape_kernel>},
    {"", "Size", 1, kOpsetMax, kAny, fn_kernel<size_kernel>},
    {"", "Reshape", 1, kOpsetMax, kAny, class_kernel<ReshapeKernel>},
    {"", "Flatten", 1, kOpsetMax, kAny, fn_kernel<flatten_kernel>},
    {"", "Squeeze", 1, kOpsetMax, kAny, fn_kernel<squeeze_kernel>},
    {"", "Unsqueeze", 1, kOpsetMax, kAny, fn_kernel<unsqueeze_kernel>},
    {"", "Constant", 1, kOpsetMax, kAny, fn_kernel<constant_kernel>},
    {"", "ConstantOfShape", 9, kOpsetMax, kAny, fn_kernel<constant_of_shape_kernel>},
    {"", "Range", 11, kOpsetMax, kAny, fn_kernel<range_kernel>},
    {"", "EyeLike", 9, kOpsetMax, kAny, fn_kernel<eye_like_kernel>},
    // shape_layout.cpp
    {"", "Transpose", 1, kOpsetMax, kAny, make_transpose_kernel},
    {"", "Expand", 8, kOpsetMax, kAny, fn_kernel<expand_kernel>},
    {"", "Tile", 6, kOpsetMax, kAny, fn_kernel<tile_kernel>},
    {"", "DepthToSpace", 1, kOpsetMax, kAny, fn_kernel<depth_to_space_kernel>},
    {"", "SpaceToDepth", 1, kOpsetMax, kAny, fn_kernel<space_to_depth_kernel>},
    {"", "Trilu", 14, kOpsetMax, kAny, fn_kernel<trilu_kernel>},
    // shape_slice.cpp
    {"", "Concat", 1, kOpsetMax, kAny, fn_kernel<concat_kernel>},
    {"", "Split", 1, kOpsetMax, kAny, fn_kernel<split_kernel>},
    {"", "Slice", 1, kOpsetMax, kAny, fn_kernel<slice_kernel>},
    {"", "Pad", 1, kOpsetMax, kAny, fn_kernel<pad_kernel>},
    // shape_gather.cpp
    {"", "Gather", 1, kOpsetMax, kAny, fn_kernel<gather_kernel>},
    {"", "GatherElements", 11, kOpsetMax, kAny, fn_kernel<gather_elements_kernel>},
    {"", "GatherND", 11, kOpsetMax, kAny, fn_kernel<gather_nd_kernel>},
    {"", "Compress", 9, kOpsetMax, kAny, fn_kernel<compress_kernel>},
    {"", "OneHot", 9, kOpsetMax, kAny, fn_kernel<one_hot_kernel>},
    {"", "NonZero", 9, kOpsetMax, kAny, fn_kernel<non_zero_kernel>},
    // shape_scatter.cpp
    {"", "ScatterND", 11, kOpsetMax, kAny, fn_kernel<scatter_nd_kernel>},
    {"", "ScatterElements", 11, kOpsetMax, kAny, fn_kernel<scatter_elements_kernel>},
    {"", "Scatter", 9, kOpsetMax, kAny, fn_kernel<scatter_elements_kernel>},
    {"", "CumSum", 11, kOpsetMax, kAny, fn_kernel<cum_sum_kernel>},
};

}  // namespace

std::span<const KernelDef> shape_kernels() { return kTable; }

}  // namespace quench
