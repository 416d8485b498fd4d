// Fused activations and the kernel-path switch. See dnnl_kernels.h.
#include "runtime/kernels/dnnl_kernels.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <optional>
#include <vector>

namespace quench {

namespace {

std::atomic<bool> g_dnnl_enabled{true};
std::atomic<int64_t> g_fallbacks{0};
std::atomic<bool> g_winograd{true};

// The float value of a Clip bound given as an input: an initializer or a Constant node's output.
// nullopt when it is neither (computed at run time).
std::optional<float> constant_scalar(const Value* v) {
  const Tensor* t = nullptr;
  if (v->is_constant()) {
    t = &v->constant;
  } else if (v->producer && v->producer->op_type == "Constant" && v->producer->domain.empty()) {
    const Attribute* a = v->producer->attr("value");
    if (a && a->type == AttrType::kTensor) t = &a->t;
    const Attribute* f = v->producer->attr("value_float");
    if (f && f->type == AttrType::kFloat) return f->f;
  }
  if (!t || t->numel() != 1 || !t->is_plain()) return std::nullopt;
  std::vector<double> d = t->to_double_vector();
  if (d.size() != 1) return std::nullopt;
  return static_cast<float>(d[0]);
}

}  // namespace

float FusedActivation::apply(float x) const {
  switch (kind) {
    case ActivationKind::kNone: return x;
    case ActivationKind::kRelu: return x > 0.0f ? x : 0.0f;
    case ActivationKind::kLeakyRelu: return x >= 0.0f ? x : alpha * x;
    case ActivationKind::kClip: return std::min(std::max(x, alpha), beta);
    case ActivationKind::kSigmoid: return 1.0f / (1.0f + std::exp(-x));
    case ActivationKind::kTanh: return std::tanh(x);
    case ActivationKind::kHardSigmoid: return std::max(0.0f, std::min(1.0f, alpha * x + beta));
    case ActivationKind::kHardSwish:
      return x * std::max(0.0f, std::min(1.0f, x / 6.0f + 0.5f));
    case ActivationKind::kElu: return x >= 0.0f ? x : alpha * (std::exp(x) - 1.0f);
  }
  return x;
}

void FusedActivation::apply(float* data, int64_t n) const {
  if (kind == ActivationKind::kNone) return;
  for (int64_t i = 0; i < n; ++i) data[i] = apply(data[i]);
}

std::string FusedActivation::describe() const {
  auto num = [](float v) {
    std::string s = std::to_string(v);
    while (s.size() > 1 && s.back() == '0') s.pop_back();
    if (!s.empty() && s.back() == '.') s.pop_back();
    return s;
  };
  switch (kind) {
    case ActivationKind::kNone: return "none";
    case ActivationKind::kRelu: return "Relu";
    case ActivationKind::kLeakyRelu: return "LeakyRelu(" + num(alpha) + ")";
    case ActivationKind::kClip: return "Clip(" + num(alpha) + ", " + num(beta) + ")";
    case ActivationKind::kSigmoid: return "Sigmoid";
    case ActivationKind::kTanh: return "Tanh";
    case ActivationKind::kHardSigmoid: return "HardSigmoid(" + num(alpha) + ", " + num(beta) + ")";
    case ActivationKind::kHardSwish: return "HardSwish";
    case ActivationKind::kElu: return "Elu(" + num(alpha) + ")";
  }
  return "?";
}

Result<FusedActivation> fused_activation_from_node(const Node* node) {
  FusedActivation act;
  if (!node) return act;
  const std::string& op = node->op_type;
  if (!node->domain.empty() && node->domain != "ai.onnx") {
    return Status::unsupported(node->label() + ": only default-domain activations can be fused");
  }
  if (op == "Relu") {
    act.kind = ActivationKind::kRelu;
  } else if (op == "LeakyRelu") {
    act.kind = ActivationKind::kLeakyRelu;
    act.alpha = node->attr_float("alpha", 0.01f);
  } else if (op == "Sigmoid") {
    act.kind = ActivationKind::kSigmoid;
  } else if (op == "Tanh") {
    act.kind = ActivationKind::kTanh;
  } else if (op == "HardSigmoid") {
    act.kind = ActivationKind::kHardSigmoid;
    act.alpha = node->attr_float("alpha", 0.2f);
    act.beta = node->attr_float("beta", 0.5f);
  } else if (op == "HardSwish") {
    act.kind = ActivationKind::kHardSwish;
  } else if (op == "Elu") {
    act.kind = ActivationKind::kElu;
    act.alpha = node->attr_float("alpha", 1.0f);
  } else if (op == "Clip") {
    act.kind = ActivationKind::kClip;
    // Clip-6 has min/max attributes; Clip-11 and later take them as optional inputs 1 and 2.
    act.alpha = node->attr_float("min", std::numeric_limits<float>::lowest());
    act.beta = node->attr_float("max", std::numeric_limits<float>::max());
    for (size_t i = 1; i <= 2; ++i) {
      const Value* v = node->input(i);
      if (!v) continue;
      std::optional<float> c = constant_scalar(v);
      if (!c) {
        return Status::unsupported(node->label() + ": Clip " + (i == 1 ? "min" : "max") +
                                   " input '" + v->name + "' is not a constant scalar");
      }
      (i == 1 ? act.alpha : act.beta) = *c;
    }
    // oneDNN's clip and min(max(x, lo), hi) disagree when lo > hi; leave that case unfused.
    if (!(act.alpha <= act.beta)) {
      return Status::unsupported(node->label() + ": Clip with min > max is not fused");
    }
  } else {
    return Status::unsupported(node->label() + ": activation " + op + " cannot be fused");
  }
  return act;
}

void set_dnnl_enabled(bool enabled) { g_dnnl_enabled.store(enabled); }
bool dnnl_enabled() { return g_dnnl_enabled.load(); }
void set_dnnl_winograd_enabled(bool enabled) { g_winograd.store(enabled); }
bool dnnl_winograd_enabled() { return g_winograd.load(); }
int64_t dnnl_fallback_count() { return g_fallbacks.load(); }
void note_dnnl_fallback() { g_fallbacks.fetch_add(1); }

}  // namespace quench
