// Comparison (Equal Less Greater LessOrEqual GreaterOrEqual), logic (And Or Xor Not), bitwise
// (BitShift, BitwiseAnd/Or/Xor/Not) and Where kernels. Bool tensors hold one byte per element,
// read here as uint8 and normalized with != 0 so that any non-zero byte counts as true.
#include <type_traits>

#include "core/dispatch.h"
#include "runtime/kernels/elementwise_broadcast.h"
#include "runtime/kernels/elementwise_ops.h"
#include "runtime/kernels/kernel_util.h"

namespace quench {

namespace {

struct EqualOp {
  template <class T>
  uint8_t operator()(T a, T b) const { return a == b; }
};
struct LessOp {
  template <class T>
  uint8_t operator()(T a, T b) const { return a < b; }
};
struct GreaterOp {
  template <class T>
  uint8_t operator()(T a, T b) const { return a > b; }
};
struct LessEqualOp {
  template <class T>
  uint8_t operator()(T a, T b) const { return a <= b; }
};
struct GreaterEqualOp {
  template <class T>
  uint8_t operator()(T a, T b) const { return a >= b; }
};

template <class Op, bool kLegacy = false>
Status compare_kernel(KernelContext& ctx) {
  QUENCH_RETURN_IF_ERROR(check_same_dtype(ctx, 0, 1));
  const Tensor& a = ctx.input(0);
  Tensor b = ctx.input(1);
  if constexpr (kLegacy) {
    QUENCH_ASSIGN_OR_RETURN(b, legacy_operand_b(ctx));
  }
  QUENCH_ASSIGN_OR_RETURN(Shape shape, broadcast_shapes(ctx, {&a.shape(), &b.shape()}));
  Tensor& out = broadcast_output(ctx, shape, DType::kBool, {0, 1});
  if (a.dtype() == DType::kBool) {
    broadcast_binary<uint8_t, uint8_t, uint8_t>(
        a, b, out, [](uint8_t x, uint8_t y) -> uint8_t { return Op{}(x != 0, y != 0); });
    return Status();
  }
  return visit_numeric_or_half(a.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    if constexpr (std::is_class_v<T>) {  // float16 / bfloat16: compare as float
      broadcast_binary<T, T, uint8_t>(a, b, out, [](T x, T y) {
        return Op{}(static_cast<float>(x), static_cast<float>(y));
      });
    } else {
      broadcast_binary<T, T, uint8_t>(a, b, out, Op{});
    }
    return Status();
  });
}

struct AndOp {
  uint8_t operator()(uint8_t a, uint8_t b) const { return (a != 0) & (b != 0); }
};
struct OrOp {
  uint8_t operator()(uint8_t a, uint8_t b) const { return (a != 0) | (b != 0); }
};
struct XorOp {
  uint8_t operator()(uint8_t a, uint8_t b) const { return (a != 0) ^ (b != 0); }
};

template <class Op, bool kLegacy = false>
Status logic_kernel(KernelContext& ctx) {
  for (size_t i = 0; i < 2; ++i) {
    if (ctx.input(i).dtype() != DType::kBool) {
      return ctx.invalid("input " + std::to_string(i) + " must be bool (got " +
                         std::string(dtype_name(ctx.input(i).dtype())) + ")");
    }
  }
  const Tensor& a = ctx.input(0);
  Tensor b = ctx.input(1);
  if constexpr (kLegacy) {
    QUENCH_ASSIGN_OR_RETURN(b, legacy_operand_b(ctx));
  }
  QUENCH_ASSIGN_OR_RETURN(Shape shape, broadcast_shapes(ctx, {&a.shape(), &b.shape()}));
  Tensor& out = broadcast_output(ctx, shape, DType::kBool, {0, 1});
  broadcast_binary<uint8_t, uint8_t, uint8_t>(a, b, out, Op{});
  return Status();
}

Status not_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  Tensor& y = ctx.output_like(0, 0);
  const uint8_t* px = x.data<uint8_t>();
  uint8_t* py = y.data<uint8_t>();
  for (int64_t i = 0; i < x.numel(); ++i) py[i] = px[i] == 0;
  return Status();
}

// Integer bitwise ops, applied to the unsigned type of the same width.
template <class T>
using Bits = std::make_unsigned_t<T>;

struct BitAndOp {
  template <class T>
  T operator()(T a, T b) const { return static_cast<T>(Bits<T>(a) & Bits<T>(b)); }
};
struct BitOrOp {
  template <class T>
  T operator()(T a, T b) const { return static_cast<T>(Bits<T>(a) | Bits<T>(b)); }
};
struct BitXorOp {
  template <class T>
  T operator()(T a, T b) const { return static_cast<T>(Bits<T>(a) ^ Bits<T>(b)); }
};
// Shifts by the bit width or more give 0 (undefined behaviour in C++).
struct ShiftLeftOp {
  template <class T>
  T operator()(T a, T b) const {
    return b >= T(sizeof(T) * 8) ? T(0) : static_cast<T>(Bits<T>(a) << b);
  }
};
struct ShiftRightOp {
  template <class T>
  T operator()(T a, T b) const {
    return b >= T(sizeof(T) * 8) ? T(0) : static_cast<T>(Bits<T>(a) >> b);
  }
};

template <class Op>
Status bitwise_typed(KernelContext& ctx) {
  QUENCH_RETURN_IF_ERROR(check_same_dtype(ctx, 0, 1));
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  QUENCH_ASSIGN_OR_RETURN(Shape shape, broadcast_shapes(ctx, {&a.shape(), &b.shape()}));
  Tensor& out = broadcast_output(ctx, shape, a.dtype(), {0, 1});
  return visit_numeric(a.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      broadcast_binary<T, T, T>(a, b, out, Op{});
      return Status();
    } else {
      return ctx.invalid("needs integer inputs (got " + std::string(dtype_name(a.dtype())) + ")");
    }
  });
}

template <class Op>
Status bitwise_kernel(KernelContext& ctx) {
  return bitwise_typed<Op>(ctx);
}

Status bitshift_kernel(KernelContext& ctx) {
  const std::string dir = ctx.node().attr_string("direction", "");
  if (dir == "LEFT") return bitwise_typed<ShiftLeftOp>(ctx);
  if (dir == "RIGHT") return bitwise_typed<ShiftRightOp>(ctx);
  return ctx.invalid("attribute direction must be \"LEFT\" or \"RIGHT\" (got \"" + dir + "\")");
}

Status bitwise_not_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  Tensor& y = ctx.output_like(0, 0);
  return visit_numeric(x.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      const T* px = x.data<T>();
      T* py = y.data<T>();
      for (int64_t i = 0; i < x.numel(); ++i) py[i] = static_cast<T>(~Bits<T>(px[i]));
      return Status();
    } else {
      return ctx.invalid("needs an integer input (got " + std::string(dtype_name(x.dtype())) + ")");
    }
  });
}

// Where copies elements, so it only needs their width.
template <class T>
void where_typed(const Tensor& c, const Tensor& x, const Tensor& y, Tensor& out) {
  const uint8_t* pc = c.data<uint8_t>();
  const T* px = static_cast<const T*>(x.raw_data());
  const T* py = static_cast<const T*>(y.raw_data());
  T* po = static_cast<T*>(out.raw_data());
  if (c.shape() == out.shape() && x.shape() == out.shape() && y.shape() == out.shape()) {
    parallel_for(
        out.numel(),
        [&](int64_t begin, int64_t end) {
          for (int64_t i = begin; i < end; ++i) po[i] = pc[i] ? px[i] : py[i];
        },
        kElementwiseGrain);
    return;
  }
  BroadcastPlan plan = plan_broadcast(out.shape(), {&c.shape(), &x.shape(), &y.shape()});
  const int64_t sc = plan.inner_stride(0), sx = plan.inner_stride(1), sy = plan.inner_stride(2);
  parallel_runs<3>(plan, [&](int64_t o, const std::array<int64_t, 3>& in, int64_t n) {
    const uint8_t* cc = pc + in[0];
    const T* xx = px + in[1];
    const T* yy = py + in[2];
    T* oo = po + o;
    if (sc && sx && sy) {
      for (int64_t i = 0; i < n; ++i) oo[i] = cc[i] ? xx[i] : yy[i];
    } else {
      for (int64_t i = 0; i < n; ++i) oo[i] = cc[i * sc] ? xx[i * sx] : yy[i * sy];
    }
  });
}

Status where_kernel(KernelContext& ctx) {
  const Tensor& c = ctx.input(0);
  if (c.dtype() != DType::kBool) {
    return ctx.invalid("input 0 (condition) must be bool (got " + std::string(dtype_name(c.dtype())) +
                       ")");
  }
  QUENCH_RETURN_IF_ERROR(check_same_dtype(ctx, 1, 2));
  const Tensor& x = ctx.input(1);
  const Tensor& y = ctx.input(2);
  QUENCH_ASSIGN_OR_RETURN(Shape shape, broadcast_shapes(ctx, {&c.shape(), &x.shape(), &y.shape()}));
  Tensor& out = broadcast_output(ctx, shape, x.dtype(), {1, 2});
  switch (dtype_size(x.dtype())) {
    case 1: where_typed<uint8_t>(c, x, y, out); break;
    case 2: where_typed<uint16_t>(c, x, y, out); break;
    case 4: where_typed<uint32_t>(c, x, y, out); break;
    case 8: where_typed<uint64_t>(c, x, y, out); break;
    default: return ctx.unsupported("Where on " + std::string(dtype_name(x.dtype())));
  }
  return Status();
}

}  // namespace

std::vector<KernelDef> elementwise_logic_rows() {
  std::vector<KernelDef> rows;
  const auto numeric = {kF32, kF64, kF16, kBF16, kI8, kU8, kI16, kU16, kI32, kU32, kI64, kU64};
  const auto with_bool = {kF32, kF64, kF16, kBF16, kI8, kU8, kI16, kU16, kI32, kU32, kI64, kU64, kBool};
  const auto ints = {kI8, kU8, kI16, kU16, kI32, kU32, kI64, kU64};
  add_rows(rows, "Equal", 1, 6, with_bool, fn_kernel<compare_kernel<EqualOp, true>>);
  add_rows(rows, "Equal", 7, kOpsetMax, with_bool, fn_kernel<compare_kernel<EqualOp>>);
  add_rows(rows, "Less", 1, 6, numeric, fn_kernel<compare_kernel<LessOp, true>>);
  add_rows(rows, "Less", 7, kOpsetMax, numeric, fn_kernel<compare_kernel<LessOp>>);
  add_rows(rows, "Greater", 1, 6, numeric, fn_kernel<compare_kernel<GreaterOp, true>>);
  add_rows(rows, "Greater", 7, kOpsetMax, numeric, fn_kernel<compare_kernel<GreaterOp>>);
  add_rows(rows, "LessOrEqual", 12, kOpsetMax, numeric, fn_kernel<compare_kernel<LessEqualOp>>);
  add_rows(rows, "GreaterOrEqual", 12, kOpsetMax, numeric,
           fn_kernel<compare_kernel<GreaterEqualOp>>);
  add_rows(rows, "And", 1, 6, {kBool}, fn_kernel<logic_kernel<AndOp, true>>);
  add_rows(rows, "And", 7, kOpsetMax, {kBool}, fn_kernel<logic_kernel<AndOp>>);
  add_rows(rows, "Or", 1, 6, {kBool}, fn_kernel<logic_kernel<OrOp, true>>);
  add_rows(rows, "Or", 7, kOpsetMax, {kBool}, fn_kernel<logic_kernel<OrOp>>);
  add_rows(rows, "Xor", 1, 6, {kBool}, fn_kernel<logic_kernel<XorOp, true>>);
  add_rows(rows, "Xor", 7, kOpsetMax, {kBool}, fn_kernel<logic_kernel<XorOp>>);
  add_rows(rows, "Not", 1, kOpsetMax, {kBool}, fn_kernel<not_kernel>);
  add_rows(rows, "BitShift", 11, kOpsetMax, {kU8, kU16, kU32, kU64}, fn_kernel<bitshift_kernel>);
  add_rows(rows, "BitwiseAnd", 18, kOpsetMax, ints, fn_kernel<bitwise_kernel<BitAndOp>>);
  add_rows(rows, "BitwiseOr", 18, kOpsetMax, ints, fn_kernel<bitwise_kernel<BitOrOp>>);
  add_rows(rows, "BitwiseXor", 18, kOpsetMax, ints, fn_kernel<bitwise_kernel<BitXorOp>>);
  add_rows(rows, "BitwiseNot", 18, kOpsetMax, ints, fn_kernel<bitwise_not_kernel>);
  add_rows(rows, "Where", 9, kOpsetMax, with_bool, fn_kernel<where_kernel>, /*type_input=*/1);
  return rows;
}

}  // namespace quench
