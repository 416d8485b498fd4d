// Shape family: ops that are one strided copy (Transpose, Expand, Tile, DepthToSpace, SpaceToDepth)
// and Trilu. See shape_copy.h for the copy engine.
#include <algorithm>
#include <numeric>

#include "core/parallel.h"
#include "runtime/kernels/kernel_util.h"
#include "runtime/kernels/shape_copy.h"
#include "runtime/kernels/shape_ops.h"

namespace quench {

namespace {

// True when reading x in `perm` order visits its elements in memory order, i.e. the permutation only
// moves unit dimensions: the output can share x's buffer.
bool is_memory_order(const Shape& shape, const std::vector<int64_t>& perm) {
  int64_t last = -1;
  for (int64_t p : perm) {
    if (shape[static_cast<size_t>(p)] == 1) continue;
    if (p < last) return false;
    last = p;
  }
  return true;
}

class TransposeKernel final : public OpKernel {
 public:
  explicit TransposeKernel(const KernelInfo& info) {
    if (const Attribute* a = info.node.attr("perm")) perm_ = a->ints;
  }

  Status compute(KernelContext& ctx) override {
    const Tensor& x = ctx.input(0);
    const int64_t rank = x.rank();
    std::vector<int64_t> perm = perm_;
    if (perm.empty() && !ctx.node().has_attr("perm")) {
      perm.resize(static_cast<size_t>(rank));
      std::iota(perm.rbegin(), perm.rend(), 0);  // default: reverse the dimensions
    }
    if (static_cast<int64_t>(perm.size()) != rank) {
      return ctx.invalid("perm " + ints_to_string(perm) + " has " + std::to_string(perm.size()) +
                         " entries for input " + x.describe() + " of rank " + std::to_string(rank));
    }
    std::vector<bool> seen(static_cast<size_t>(rank), false);
    for (int64_t p : perm) {
      if (p < 0 || p >= rank || seen[static_cast<size_t>(p)]) {
        return ctx.invalid("perm " + ints_to_string(perm) + " is not a permutation of [0, " +
                           std::to_string(rank) + ")");
      }
      seen[static_cast<size_t>(p)] = true;
    }
    const std::vector<int64_t> in_strides = contiguous_strides(x.shape());
    Shape out_shape;
    std::vector<int64_t> strides;
    for (int64_t p : perm) {
      out_shape.push_back(x.shape()[static_cast<size_t>(p)]);
      strides.push_back(in_strides[static_cast<size_t>(p)]);
    }
    if (is_memory_order(x.shape(), perm)) {
      ctx.set_output(0, x.reshaped(std::move(out_shape)));
      return Status();
    }
    Tensor& y = ctx.allocate_output(0, x.dtype(), out_shape);
    strided_copy(y.raw_data(), x.raw_data(), dtype_size(x.dtype()), out_shape, strides);
    return Status();
  }

 private:
  std::vector<int64_t> perm_;
};

}  // namespace

Result<std::unique_ptr<OpKernel>> make_transpose_kernel(const KernelInfo& info) {
  return class_kernel<TransposeKernel>(info);
}

Status expand_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (!ctx.has_input(1)) return ctx.invalid("the shape input is missing");
  QUENCH_RETURN_IF_ERROR(require_index_tensor(ctx, ctx.input(1), "shape"));
  Shape target = tensor_to_int64s(ctx.input(1));
  for (int64_t d : target) {
    if (d < 0) return ctx.invalid("shape " + ints_to_string(target) + " has a negative dimension");
  }
  QUENCH_ASSIGN_OR_RETURN(Shape out_shape, broadcast_shapes(ctx, {&x.shape(), &target}));
  if (out_shape == x.shape()) {
    ctx.set_output(0, x);
    return Status();
  }
  Tensor& y = ctx.allocate_output(0, x.dtype(), out_shape);
  strided_copy(y.raw_data(), x.raw_data(), dtype_size(x.dtype()), out_shape,
               broadcast_strides(x.shape(), out_shape));
  return Status();
}

Status tile_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (!ctx.has_input(1)) return ctx.invalid("the repeats input is missing");
  QUENCH_RETURN_IF_ERROR(require_index_tensor(ctx, ctx.input(1), "repeats"));
  std::vector<int64_t> repeats = tensor_to_int64s(ctx.input(1));
  if (static_cast<int64_t>(repeats.size()) != x.rank()) {
    return ctx.invalid("repeats " + ints_to_string(repeats) + " must have one entry per dimension of " +
                       x.describe());
  }
  // Output viewed as [r0, d0, r1, d1, ...]: the repeat dimensions read with stride 0.
  const std::vector<int64_t> in_strides = contiguous_strides(x.shape());
  Shape view, out_shape;
  std::vector<int64_t> strides;
  for (int d = 0; d < x.rank(); ++d) {
    int64_t r = repeats[static_cast<size_t>(d)];
    if (r < 0) return ctx.invalid("repeats " + ints_to_string(repeats) + " has a negative entry");
    view.insert(view.end(), {r, x.dim(d)});
    strides.insert(strides.end(), {0, in_strides[static_cast<size_t>(d)]});
    out_shape.push_back(r * x.dim(d));
  }
  Tensor& y = ctx.allocate_output(0, x.dtype(), out_shape);
  strided_copy(y.raw_data(), x.raw_data(), dtype_size(x.dtype()), view, strides);
  return Status();
}

namespace {

// Reads x viewed as `view` (a reshape of x) in the order `perm` into a new tensor of `out_shape`.
Status permuted_copy(KernelContext& ctx, const Tensor& x, const Shape& view,
                     const std::vector<int64_t>& perm, Shape out_shape) {
  const std::vector<int64_t> vs = contiguous_strides(view);
  Shape pshape;
  std::vector<int64_t> pstrides;
  for (int64_t p : perm) {
    pshape.push_back(view[static_cast<size_t>(p)]);
    pstrides.push_back(vs[static_cast<size_t>(p)]);
  }
  Tensor& y = ctx.allocate_output(0, x.dtype(), std::move(out_shape));
  strided_copy(y.raw_data(), x.raw_data(), dtype_size(x.dtype()), pshape, pstrides);
  return Status();
}

Result<int64_t> block_size(const KernelContext& ctx, const Tensor& x) {
  if (x.rank() != 4) return ctx.invalid("input must be 4-D (N, C, H, W), got " + x.describe());
  const Attribute* a = ctx.node().attr("blocksize");
  if (!a) return ctx.invalid("attribute 'blocksize' is missing");
  if (a->i <= 0) return ctx.invalid("blocksize must be positive, got " + std::to_string(a->i));
  return a->i;
}

}  // namespace

Status depth_to_space_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  QUENCH_ASSIGN_OR_RETURN(int64_t b, block_size(ctx, x));
  const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
  if (c % (b * b) != 0) {
    return ctx.invalid("channels of " + x.describe() + " must be a multiple of blocksize^2 = " +
                       std::to_string(b * b));
  }
  const int64_t oc = c / (b * b);
  const std::string mode = ctx.node().attr_string("mode", "DCR");
  Shape out_shape = {n, oc, h * b, w * b};
  if (mode == "DCR") return permuted_copy(ctx, x, {n, b, b, oc, h, w}, {0, 3, 4, 1, 5, 2}, out_shape);
  if (mode == "CRD") return permuted_copy(ctx, x, {n, oc, b, b, h, w}, {0, 1, 4, 2, 5, 3}, out_shape);
  return ctx.invalid("mode \"" + mode + "\" is not DCR or CRD");
}

Status space_to_depth_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  QUENCH_ASSIGN_OR_RETURN(int64_t b, block_size(ctx, x));
  const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
  if (h % b != 0 || w % b != 0) {
    return ctx.invalid("height and width of " + x.describe() + " must be multiples of blocksize " +
                       std::to_string(b));
  }
  return permuted_copy(ctx, x, {n, c, h / b, b, w / b, b}, {0, 3, 5, 1, 2, 4},
                       {n, c * b * b, h / b, w / b});
}

Status trilu_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (x.rank() < 2) return ctx.invalid("input must have rank >= 2, got " + x.describe());
  int64_t k = 0;
  if (ctx.has_input(1)) {
    const Tensor& kt = ctx.input(1);
    QUENCH_RETURN_IF_ERROR(require_index_tensor(ctx, kt, "k"));
    if (kt.numel() != 1) return ctx.invalid("k must be a scalar, got " + kt.describe());
    k = tensor_to_int64s(kt)[0];
  }
  const bool upper = ctx.node().attr_int("upper", 1) != 0;
  const int64_t rows = x.dim(-2), cols = x.dim(-1);
  const size_t es = dtype_size(x.dtype());
  Tensor& y = ctx.output_like(0, 0);
  const auto* src = static_cast<const unsigned char*>(x.raw_data());
  auto* dst = static_cast<unsigned char*>(y.raw_data());
  if (rows == 0 || cols == 0) return Status();
  const int64_t total_rows = x.numel() / cols;
  parallel_for(
      total_rows,
      [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
          int64_t i = r % rows;
          // Kept columns: [keep_begin, keep_end).
          int64_t keep_begin = upper ? std::clamp<int64_t>(i + k, 0, cols) : 0;
          int64_t keep_end = upper ? cols : std::clamp<int64_t>(i + k + 1, 0, cols);
          unsigned char* d = dst + static_cast<size_t>(r * cols) * es;
          const unsigned char* s = src + static_cast<size_t>(r * cols) * es;
          std::memset(d, 0, static_cast<size_t>(keep_begin) * es);
          if (keep_end > keep_begin && d != s) {
            std::memcpy(d + keep_begin * es, s + keep_begin * es,
                        static_cast<size_t>(keep_end - keep_begin) * es);
          }
          std::memset(d + keep_end * es, 0, static_cast<size_t>(cols - keep_end) * es);
        }
      },
      std::max<int64_t>(1, 16384 / std::max<int64_t>(1, cols * static_cast<int64_t>(es))));
  return Status();
}

}  // namespace quench
