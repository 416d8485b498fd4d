// Kernels of the rnn family: RNN, GRU and LSTM (float32, opsets 7 and 14; layout attribute from
// 14). This file checks a node's inputs and attributes and allocates its outputs; the recurrence
// itself is in rnn_cells.cpp. See runtime/registry.h.
#include <algorithm>
#include <cstring>

#include "runtime/kernels/rnn_common.h"
#include "runtime/registry.h"

namespace quench {

namespace rnn {
namespace {

// Input slots shared by the three ops; LSTM adds initial_c (6) and P (7).
constexpr size_t kX = 0, kW = 1, kR = 2, kB = 3, kSeqLens = 4, kInitialH = 5, kInitialC = 6,
                 kP = 7;

Status check_shape(const KernelContext& ctx, const Tensor& t, const char* name, const Shape& want) {
  if (t.dtype() != DType::kFloat32) {
    return ctx.invalid(std::string(name) + " has type " + std::string(dtype_name(t.dtype())) +
                       "; it must be float32 like X");
  }
  if (t.shape() != want) {
    return ctx.invalid(std::string(name) + " has shape " + shape_to_string(t.shape()) +
                       "; expected " + shape_to_string(want));
  }
  return Status();
}

Status rnn_family(KernelContext& ctx, CellKind cell) {
  const Node& node = ctx.node();
  RnnProblem p;
  p.cell = cell;
  p.gates = cell == CellKind::kLstm ? 4 : (cell == CellKind::kGru ? 3 : 1);
  for (size_t i : {kX, kW, kR}) {
    if (!ctx.has_input(i)) return ctx.invalid("input " + std::to_string(i) + " (X, W, R) is required");
  }
  const Tensor& x = ctx.input(kX);
  const Tensor& w = ctx.input(kW);
  const Tensor& r = ctx.input(kR);
  if (x.dtype() != DType::kFloat32) {
    return ctx.unsupported("X has type " + std::string(dtype_name(x.dtype())) +
                           "; only float32 is supported");
  }
  if (x.rank() != 3) {
    return ctx.invalid("X has shape " + shape_to_string(x.shape()) + "; it must be 3-D");
  }
  p.layout = static_cast<int>(node.attr_int("layout", 0));
  if (p.layout != 0 && p.layout != 1) {
    return ctx.invalid("layout " + std::to_string(p.layout) + " must be 0 or 1");
  }
  p.seq = p.layout == 0 ? x.dim(0) : x.dim(1);
  p.batch = p.layout == 0 ? x.dim(1) : x.dim(0);
  p.input = x.dim(2);
  const std::string direction = node.attr_string("direction", "forward");
  if (direction == "bidirectional") {
    p.directions = 2;
  } else if (direction == "reverse") {
    p.reverse = true;
  } else if (direction != "forward") {
    return ctx.invalid("direction \"" + direction +
                       "\" is not one of forward, reverse, bidirectional");
  }
  if (r.rank() != 3) {
    return ctx.invalid("R has shape " + shape_to_string(r.shape()) +
                       "; it must be [num_directions, " + std::to_string(p.gates) +
                       " * hidden_size, hidden_size]");
  }
  p.hidden = node.attr_int("hidden_size", r.dim(2));
  if (p.hidden <= 0) return ctx.invalid("hidden_size " + std::to_string(p.hidden) + " must be > 0");
  const int64_t dirs = p.directions, gh = p.gates * p.hidden, H = p.hidden;
  QUENCH_RETURN_IF_ERROR(check_shape(ctx, w, "W", {dirs, gh, p.input}));
  QUENCH_RETURN_IF_ERROR(check_shape(ctx, r, "R", {dirs, gh, H}));
  p.x = x.data<float>();
  p.w = w.data<float>();
  p.r = r.data<float>();
  if (const Tensor* b = ctx.input_or_null(kB)) {
    QUENCH_RETURN_IF_ERROR(check_shape(ctx, *b, "B", {dirs, 2 * gh}));
    p.b = b->data<float>();
  }
  const Shape state_shape = p.layout == 0 ? Shape{dirs, p.batch, H} : Shape{p.batch, dirs, H};
  if (const Tensor* h0 = ctx.input_or_null(kInitialH)) {
    QUENCH_RETURN_IF_ERROR(check_shape(ctx, *h0, "initial_h", state_shape));
    p.h0 = h0->data<float>();
  }
  if (cell == CellKind::kLstm) {
    if (const Tensor* c0 = ctx.input_or_null(kInitialC)) {
      QUENCH_RETURN_IF_ERROR(check_shape(ctx, *c0, "initial_c", state_shape));
      p.c0 = c0->data<float>();
    }
    if (const Tensor* peep = ctx.input_or_null(kP)) {
      QUENCH_RETURN_IF_ERROR(check_shape(ctx, *peep, "P", {dirs, 3 * H}));
      p.p = peep->data<float>();
    }
    p.input_forget = node.attr_int("input_forget", 0) != 0;
  }
  if (cell == CellKind::kGru) p.linear_before_reset = node.attr_int("linear_before_reset", 0) != 0;
  p.clip = node.attr_float("clip", 0.0f);
  if (node.has_attr("clip") && !(p.clip > 0.0f)) {
    return ctx.invalid("clip " + std::to_string(p.clip) + " must be > 0");
  }

  p.seq_lens.assign(static_cast<size_t>(p.batch), static_cast<int32_t>(p.seq));
  if (const Tensor* lens = ctx.input_or_null(kSeqLens)) {
    if ((lens->dtype() != DType::kInt32 && lens->dtype() != DType::kInt64) ||
        lens->shape() != Shape{p.batch}) {
      return ctx.invalid("sequence_lens is " + lens->describe() + "; it must be int32[" +
                         std::to_string(p.batch) + "]");
    }
    std::vector<int64_t> v = lens->to_int64_vector();
    for (size_t b = 0; b < v.size(); ++b) {
      if (v[b] < 0 || v[b] > p.seq) {
        return ctx.invalid("sequence_lens[" + std::to_string(b) + "] = " + std::to_string(v[b]) +
                           " is outside [0, " + std::to_string(p.seq) + "] (seq_length)");
      }
      p.seq_lens[b] = static_cast<int32_t>(v[b]);
    }
  }

  const int per_dir = static_cast<int>(p.gates == 4 ? 3 : (p.gates == 3 ? 2 : 1));
  std::vector<const char*> defaults;
  if (cell == CellKind::kLstm) defaults = {"Sigmoid", "Tanh", "Tanh"};
  if (cell == CellKind::kGru) defaults = {"Sigmoid", "Tanh"};
  if (cell == CellKind::kRnn) defaults = {"Tanh"};
  QUENCH_ASSIGN_OR_RETURN(p.activations, parse_activations(ctx, per_dir, p.directions, defaults));

  // Outputs: Y is zero where a sequence has ended (ONNX leaves it unspecified; ORT writes 0).
  const Shape y_shape = p.layout == 0 ? Shape{p.seq, dirs, p.batch, H} : Shape{p.batch, p.seq, dirs, H};
  if (ctx.output_wanted(0)) {
    Tensor& y = ctx.allocate_output(0, DType::kFloat32, y_shape);
    std::memset(y.raw_data(), 0, y.nbytes());
    p.y = y.data<float>();
  }
  if (ctx.num_outputs() > 1 && ctx.output_wanted(1)) {
    p.y_h = ctx.allocate_output(1, DType::kFloat32, state_shape).data<float>();
  }
  if (cell == CellKind::kLstm && ctx.num_outputs() > 2 && ctx.output_wanted(2)) {
    p.y_c = ctx.allocate_output(2, DType::kFloat32, state_shape).data<float>();
  }
  return run_rnn(ctx, p);
}

Status rnn_f32(KernelContext& ctx) { return rnn_family(ctx, CellKind::kRnn); }
Status gru_f32(KernelContext& ctx) { return rnn_family(ctx, CellKind::kGru); }
Status lstm_f32(KernelContext& ctx) { return rnn_family(ctx, CellKind::kLstm); }

}  // namespace
}  // namespace rnn

namespace {
const KernelDef kTable[] = {
    {"", "RNN", 7, kOpsetMax, DType::kFloat32, fn_kernel<rnn::rnn_f32>},
    {"", "GRU", 7, kOpsetMax, DType::kFloat32, fn_kernel<rnn::gru_f32>},
    {"", "LSTM", 7, kOpsetMax, DType::kFloat32, fn_kernel<rnn::lstm_f32>},
};
}  // namespace

std::span<const KernelDef> rnn_kernels() { return kTable; }

}  // namespace quench
