#include "runtime/kernels/elementwise_ops.h"

namespace quench {

Tensor& broadcast_output(KernelContext& ctx, const Shape& shape, DType dtype,
                         std::initializer_list<size_t> candidates) {
  for (size_t i : candidates) {
    if (!ctx.has_input(i)) continue;
    const Tensor& in = ctx.input(i);
    if (in.dtype() == dtype && in.shape() == shape && ctx.can_reuse_input(i)) {
      return ctx.output_like(0, i);
    }
  }
  return ctx.allocate_output(0, dtype, shape);
}

Tensor to_float32(const Tensor& t) {
  if (t.dtype() == DType::kFloat32) return t;
  Tensor f = Tensor::empty(DType::kFloat32, t.shape());
  Status s = convert_tensor(t, f);
  (void)s;  // every numeric dtype converts to float32
  return f;
}

Status store_from_float32(KernelContext& ctx, const Tensor& f, DType dtype) {
  Tensor& out = ctx.allocate_output(0, dtype, f.shape());
  return convert_tensor(f, out);
}

Result<Tensor> legacy_operand_b(const KernelContext& ctx) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  if (ctx.node().attr_int("broadcast", 0) == 0) {
    if (a.shape() != b.shape()) {
      return ctx.invalid("shapes " + shape_to_string(a.shape()) + " and " + shape_to_string(b.shape()) +
                         " differ and attribute broadcast is 0 (before opset 7 only broadcast=1 "
                         "broadcasts)");
    }
    return b;
  }
  const Attribute* axis_attr = ctx.node().attr("axis");
  if (!axis_attr) return b;
  int64_t axis = axis_attr->i < 0 ? axis_attr->i + a.rank() : axis_attr->i;
  if (axis < 0 || axis + b.rank() > a.rank()) {
    return ctx.invalid("axis " + std::to_string(axis_attr->i) + " cannot place B " +
                       shape_to_string(b.shape()) + " inside A " + shape_to_string(a.shape()));
  }
  Shape shape(static_cast<size_t>(a.rank()), 1);
  for (int d = 0; d < b.rank(); ++d) shape[static_cast<size_t>(axis + d)] = b.dim(d);
  return b.reshaped(shape);
}

Status check_same_dtype(const KernelContext& ctx, size_t a, size_t b) {
  DType ta = ctx.input(a).dtype(), tb = ctx.input(b).dtype();
  if (ta == tb) return Status();
  return ctx.invalid("input " + std::to_string(b) + " has element type " +
                     std::string(dtype_name(tb)) + " but input " + std::to_string(a) + " has " +
                     std::string(dtype_name(ta)) + " (they must match)");
}

void add_rows(std::vector<KernelDef>& rows, const char* op_type, int since, int end,
              std::initializer_list<DType> dtypes, KernelFactory create, int type_input,
              uint32_t flags) {
  for (DType t : dtypes)
    rows.push_back(KernelDef{"", op_type, since, end, t, create, type_input, flags});
}

}  // namespace quench
