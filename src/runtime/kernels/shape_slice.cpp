// Shape family: Concat, Split, Slice, Pad.
#include <algorithm>
#include <limits>

#include "core/parallel.h"
#include "runtime/kernels/kernel_util.h"
#include "runtime/kernels/shape_copy.h"
#include "runtime/kernels/shape_ops.h"

namespace quench {

namespace {

int64_t prod(const Shape& s, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end; ++i) p *= s[i];
  return p;
}

}  // namespace

// ---- Concat -----------------------------------------------------------------------------------

Status concat_kernel(KernelContext& ctx) {
  if (ctx.num_inputs() == 0 || !ctx.has_input(0)) return ctx.invalid("no inputs");
  const Tensor& first = ctx.input(0);
  const int64_t rank = first.rank();
  if (rank == 0) return ctx.invalid("inputs must have rank >= 1, got " + first.describe());
  QUENCH_ASSIGN_OR_RETURN(int64_t axis, normalize_axis(ctx, ctx.node().attr_int("axis", 1), rank));
  const size_t ax = static_cast<size_t>(axis);
  Shape out_shape = first.shape();
  out_shape[ax] = 0;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) return ctx.invalid("input " + std::to_string(i) + " is missing");
    const Tensor& t = ctx.input(i);
    if (t.dtype() != first.dtype()) {
      return ctx.invalid("input " + std::to_string(i) + " is " + t.describe() + " but input 0 is " +
                         first.describe() + " (all inputs need one type)");
    }
    bool same = t.rank() == rank;
    for (int64_t d = 0; same && d < rank; ++d)
      same = d == axis || t.dim(static_cast<int>(d)) == first.dim(static_cast<int>(d));
    if (!same) {
      return ctx.invalid("input " + std::to_string(i) + " " + t.describe() + " does not match input 0 " +
                         first.describe() + " outside axis " + std::to_string(axis));
    }
    out_shape[ax] += t.dim(static_cast<int>(axis));
  }
  const size_t es = dtype_size(first.dtype());
  Tensor& y = ctx.allocate_output(0, first.dtype(), out_shape);
  const int64_t outer = prod(out_shape, 0, ax), inner = prod(out_shape, ax + 1, out_shape.size());
  const int64_t dst_row = out_shape[ax] * inner * static_cast<int64_t>(es);
  auto* dst = static_cast<unsigned char*>(y.raw_data());
  int64_t offset = 0;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    const Tensor& t = ctx.input(i);
    const int64_t row = t.dim(static_cast<int>(axis)) * inner * static_cast<int64_t>(es);
    copy_rows(dst + offset, dst_row, t.raw_data(), row, outer, row);
    offset += row;
  }
  return Status();
}

// ---- Split ------------------------------------------------------------------------------------

Status split_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (x.rank() == 0) return ctx.invalid("input must have rank >= 1, got " + x.describe());
  QUENCH_ASSIGN_OR_RETURN(int64_t axis, normalize_axis(ctx, ctx.node().attr_int("axis", 0), x.rank()));
  const int64_t dim = x.dim(static_cast<int>(axis));
  const int64_t n_out = static_cast<int64_t>(ctx.num_outputs());
  std::vector<int64_t> sizes;
  if (std::optional<std::vector<int64_t>> split = ints_from_input_or_attr(ctx, 1, "split")) {
    sizes = *split;
    int64_t sum = 0;
    for (int64_t s : sizes) {
      if (s < 0) return ctx.invalid("split " + ints_to_string(sizes) + " has a negative size");
      sum += s;
    }
    if (sum != dim) {
      return ctx.invalid("split " + ints_to_string(sizes) + " sums to " + std::to_string(sum) +
                         " but axis " + std::to_string(axis) + " of " + x.describe() + " has " +
                         std::to_string(dim));
    }
    if (static_cast<int64_t>(sizes.size()) != n_out) {
      return ctx.invalid("split " + ints_to_string(sizes) + " has " + std::to_string(sizes.size()) +
                         " entries for " + std::to_string(n_out) + " outputs");
    }
  } else if (const Attribute* a = ctx.node().attr("num_outputs")) {
    // Opset 18: chunks of ceil(dim / num_outputs), the last one smaller.
    if (a->i != n_out || a->i <= 0) {
      return ctx.invalid("num_outputs " + std::to_string(a->i) + " does not match the " +
                         std::to_string(n_out) + " outputs of the node");
    }
    const int64_t chunk = (dim + n_out - 1) / n_out;
    for (int64_t i = 0, left = dim; i < n_out; ++i) {
      sizes.push_back(std::min(chunk, left));
      left -= sizes.back();
    }
  } else {
    if (n_out == 0 || dim % n_out != 0) {
      return ctx.invalid("axis " + std::to_string(axis) + " of " + x.describe() +
                         " cannot be split into " + std::to_string(n_out) + " equal parts");
    }
    sizes.assign(static_cast<size_t>(n_out), dim / n_out);
  }
  const size_t ax = static_cast<size_t>(axis);
  const int64_t outer = prod(x.shape(), 0, ax), inner = prod(x.shape(), ax + 1, x.shape().size());
  const int64_t es = static_cast<int64_t>(dtype_size(x.dtype()));
  const auto* src = static_cast<const unsigned char*>(x.raw_data());
  int64_t offset = 0;
  for (int64_t i = 0; i < n_out; ++i) {
    Shape s = x.shape();
    s[ax] = sizes[static_cast<size_t>(i)];
    const int64_t row = s[ax] * inner * es;
    if (ctx.output_wanted(static_cast<size_t>(i))) {
      Tensor& y = ctx.allocate_output(static_cast<size_t>(i), x.dtype(), s);
      copy_rows(y.raw_data(), row, src + offset, dim * inner * es, outer, row);
    }
    offset += row;
  }
  return Status();
}

// ---- Slice ------------------------------------------------------------------------------------

Status slice_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t rank = x.rank();
  std::vector<int64_t> starts, ends, axes, steps;
  if (ctx.node().has_attr("starts")) {  // opset < 10
    starts = ctx.node().attr_ints("starts");
    ends = ctx.node().attr_ints("ends");
    axes = ctx.node().attr_ints("axes");
  } else {
    if (!ctx.has_input(1) || !ctx.has_input(2)) return ctx.invalid("starts and ends are required");
    for (size_t i = 1; i <= 4; ++i) {
      if (ctx.has_input(i)) {
        QUENCH_RETURN_IF_ERROR(require_index_tensor(
            ctx, ctx.input(i), i == 1 ? "starts" : i == 2 ? "ends" : i == 3 ? "axes" : "steps"));
      }
    }
    starts = tensor_to_int64s(ctx.input(1));
    ends = tensor_to_int64s(ctx.input(2));
    if (ctx.has_input(3)) axes = tensor_to_int64s(ctx.input(3));
    if (ctx.has_input(4)) steps = tensor_to_int64s(ctx.input(4));
  }
  const size_t n = starts.size();
  if (axes.empty()) {
    for (size_t i = 0; i < n; ++i) axes.push_back(static_cast<int64_t>(i));
  }
  if (steps.empty()) steps.assign(n, 1);
  if (ends.size() != n || axes.size() != n || steps.size() != n) {
    return ctx.invalid("starts " + ints_to_string(starts) + ", ends " + ints_to_string(ends) +
                       ", axes " + ints_to_string(axes) + " and steps " + ints_to_string(steps) +
                       " must have the same length");
  }
  QUENCH_ASSIGN_OR_RETURN(axes, normalize_axes(ctx, axes, rank));
  const std::vector<int64_t> in_strides = contiguous_strides(x.shape());
  Shape out_shape = x.shape();
  std::vector<int64_t> strides = in_strides;
  int64_t offset = 0;
  for (size_t i = 0; i < n; ++i) {
    const size_t a = static_cast<size_t>(axes[i]);
    const int64_t dim = x.shape()[a], step = steps[i];
    if (step == 0) return ctx.invalid("steps " + ints_to_string(steps) + " has a 0 step");
    int64_t start = starts[i], end = ends[i];
    if (start < 0) start += dim;
    if (end < 0) end += dim;
    int64_t len = 0;
    if (step > 0) {
      start = std::clamp<int64_t>(start, 0, dim);
      end = std::clamp<int64_t>(end, 0, dim);
      if (end > start) len = (end - start + step - 1) / step;
    } else if (dim > 0) {
      start = std::clamp<int64_t>(start, 0, dim - 1);
      end = std::clamp<int64_t>(end, -1, dim - 1);
      if (start > end) len = (start - end + (-step) - 1) / (-step);
    }
    out_shape[a] = len;
    if (len > 0) offset += start * in_strides[a];
    strides[a] = in_strides[a] * step;
  }
  Tensor& y = ctx.allocate_output(0, x.dtype(), out_shape);
  strided_copy(y.raw_data(), x.raw_data(), dtype_size(x.dtype()), out_shape, strides, offset);
  return Status();
}

// ---- Pad --------------------------------------------------------------------------------------

namespace {

enum class PadMode { kConstant, kReflect, kEdge, kWrap };

// Source index along one dimension for output index o (-1: take the constant).
int64_t pad_source(int64_t o, int64_t begin, int64_t dim, PadMode mode) {
  int64_t i = o - begin;
  if (i >= 0 && i < dim) return i;
  switch (mode) {
    case PadMode::kConstant: return -1;
    case PadMode::kEdge: return i < 0 ? 0 : dim - 1;
    case PadMode::kWrap: return ((i % dim) + dim) % dim;
    case PadMode::kReflect: {
      if (dim == 1) return 0;
      const int64_t period = 2 * (dim - 1);
      int64_t m = ((i % period) + period) % period;
      return m < dim ? m : period - m;
    }
  }
  return -1;
}

template <class T>
void pad_rows(T* dst, const T* src, const Shape& in_shape, const Shape& out_shape,
              const std::vector<std::vector<int64_t>>& maps, T value) {
  const size_t k = out_shape.size();
  const std::vector<int64_t> in_strides = contiguous_strides(in_shape);
  const int64_t ncols = out_shape[k - 1];
  const std::vector<int64_t>& last = maps[k - 1];
  // The longest run of the last dimension read contiguously: [mid_begin, mid_end).
  int64_t mid_begin = 0, mid_end = 0;
  for (int64_t o = 0; o < ncols; ++o) {
    if (last[static_cast<size_t>(o)] >= 0 && (o == 0 || last[static_cast<size_t>(o - 1)] < 0 ||
                                              last[static_cast<size_t>(o)] != last[static_cast<size_t>(o - 1)] + 1)) {
      int64_t e = o + 1;
      while (e < ncols && last[static_cast<size_t>(e)] == last[static_cast<size_t>(e - 1)] + 1) ++e;
      if (e - o > mid_end - mid_begin) {
        mid_begin = o;
        mid_end = e;
      }
    }
  }
  const int64_t rows = shape_numel(out_shape) / std::max<int64_t>(ncols, 1);
  parallel_for(
      rows,
      [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
          T* d = dst + r * ncols;
          // Source row offset from the coordinates of the outer dimensions.
          int64_t rem = r, off = 0;
          bool constant_row = false;
          for (size_t dd = k - 1; dd-- > 0;) {
            int64_t c = rem % out_shape[dd];
            rem /= out_shape[dd];
            int64_t s = maps[dd][static_cast<size_t>(c)];
            if (s < 0) {
              constant_row = true;
              break;
            }
            off += s * in_strides[dd];
          }
          if (constant_row) {
            std::fill(d, d + ncols, value);
            continue;
          }
          const T* srow = src + off;
          for (int64_t o = 0; o < mid_begin; ++o) {
            int64_t s = last[static_cast<size_t>(o)];
            d[o] = s < 0 ? value : srow[s];
          }
          if (mid_end > mid_begin) {
            std::memcpy(d + mid_begin, srow + last[static_cast<size_t>(mid_begin)],
                        static_cast<size_t>(mid_end - mid_begin) * sizeof(T));
          }
          for (int64_t o = mid_end; o < ncols; ++o) {
            int64_t s = last[static_cast<size_t>(o)];
            d[o] = s < 0 ? value : srow[s];
          }
        }
      },
      std::max<int64_t>(1, 16384 / std::max<int64_t>(1, ncols * static_cast<int64_t>(sizeof(T)))));
}

}  // namespace

Status pad_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t rank = x.rank();
  const Node& node = ctx.node();
  const std::string mode_name = node.attr_string("mode", "constant");
  PadMode mode;
  if (mode_name == "constant") mode = PadMode::kConstant;
  else if (mode_name == "reflect") mode = PadMode::kReflect;
  else if (mode_name == "edge") mode = PadMode::kEdge;
  else if (mode_name == "wrap") mode = PadMode::kWrap;
  else return ctx.invalid("mode \"" + mode_name + "\" is not constant, reflect, edge or wrap");

  const size_t es = dtype_size(x.dtype());
  std::vector<unsigned char> value(es, 0);
  std::vector<int64_t> pads, axes;
  if (node.has_attr("pads") || node.has_attr("paddings")) {  // opset < 11
    pads = node.has_attr("pads") ? node.attr_ints("pads") : node.attr_ints("paddings");
    value = scalar_bytes(x.dtype(), node.attr_float("value", 0.0f));
  } else {
    if (!ctx.has_input(1)) return ctx.invalid("the pads input is missing");
    QUENCH_RETURN_IF_ERROR(require_index_tensor(ctx, ctx.input(1), "pads"));
    pads = tensor_to_int64s(ctx.input(1));
    if (ctx.has_input(2) && ctx.input(2).numel() > 0) {
      const Tensor& cv = ctx.input(2);
      if (cv.dtype() != x.dtype() || cv.numel() != 1) {
        return ctx.invalid("constant_value must be one " + std::string(dtype_name(x.dtype())) +
                           " element, got " + cv.describe());
      }
      std::memcpy(value.data(), cv.raw_data(), es);
    }
    if (ctx.has_input(3)) {
      QUENCH_RETURN_IF_ERROR(require_index_tensor(ctx, ctx.input(3), "axes"));
      axes = tensor_to_int64s(ctx.input(3));
    }
  }
  if (axes.empty()) {
    for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
  }
  QUENCH_ASSIGN_OR_RETURN(axes, normalize_axes(ctx, axes, rank));
  const size_t na = axes.size();
  if (pads.size() != 2 * na) {
    return ctx.invalid("pads " + ints_to_string(pads) + " must have 2 * " + std::to_string(na) +
                       " entries for input " + x.describe());
  }
  std::vector<int64_t> begins(static_cast<size_t>(rank), 0), ends(static_cast<size_t>(rank), 0);
  for (size_t i = 0; i < na; ++i) {
    begins[static_cast<size_t>(axes[i])] = pads[i];
    ends[static_cast<size_t>(axes[i])] = pads[i + na];
  }
  Shape out_shape = x.shape();
  for (size_t d = 0; d < out_shape.size(); ++d) {
    out_shape[d] += begins[d] + ends[d];
    if (out_shape[d] < 0) {
      return ctx.invalid("pads " + ints_to_string(pads) + " remove more than dimension " +
                         std::to_string(d) + " of " + x.describe() + " holds");
    }
    if (mode != PadMode::kConstant && x.shape()[d] == 0 && out_shape[d] > 0) {
      return ctx.invalid("cannot pad empty dimension " + std::to_string(d) + " of " + x.describe() +
                         " in mode " + mode_name);
    }
  }
  Tensor& y = ctx.allocate_output(0, x.dtype(), out_shape);
  if (y.numel() == 0) return Status();
  if (rank == 0) {
    std::memcpy(y.raw_data(), x.raw_data(), es);
    return Status();
  }
  std::vector<std::vector<int64_t>> maps(static_cast<size_t>(rank));
  for (size_t d = 0; d < maps.size(); ++d) {
    maps[d].resize(static_cast<size_t>(out_shape[d]));
    for (int64_t o = 0; o < out_shape[d]; ++o)
      maps[d][static_cast<size_t>(o)] = pad_source(o, begins[d], x.shape()[d], mode);
  }
  visit_elem_size(es, [&](auto tag) {
    using T = decltype(tag);
    T v;
    std::memcpy(&v, value.data(), sizeof(T));
    pad_rows<T>(static_cast<T*>(y.raw_data()), static_cast<const T*>(x.raw_data()), x.shape(),
                out_shape, maps, v);
  });
  return Status();
}

}  // namespace quench
