// Activation functions of LSTM / GRU / RNN, with the defaults of the ONNX operators of the same
// name (ONNX Runtime uses the same ones).
#include <algorithm>
#include <cctype>
#include <cmath>

#include "core/cpu.h"
#include "runtime/kernels/rnn_common.h"
#include "runtime/kernels/unary_math.h"

namespace quench::rnn {

namespace {

struct ActivationSpec {
  const char* name;
  Activation::Kind kind;
  bool has_alpha, has_beta;
  float alpha, beta;  // defaults
};

constexpr ActivationSpec kSpecs[] = {
    {"sigmoid", Activation::Kind::kSigmoid, false, false, 0.0f, 0.0f},
    {"tanh", Activation::Kind::kTanh, false, false, 0.0f, 0.0f},
    {"relu", Activation::Kind::kRelu, false, false, 0.0f, 0.0f},
    {"hardsigmoid", Activation::Kind::kHardSigmoid, true, true, 0.2f, 0.5f},
    {"affine", Activation::Kind::kAffine, true, true, 1.0f, 0.0f},
    {"leakyrelu", Activation::Kind::kLeakyRelu, true, false, 0.01f, 0.0f},
    {"thresholdedrelu", Activation::Kind::kThresholdedRelu, true, false, 1.0f, 0.0f},
    {"scaledtanh", Activation::Kind::kScaledTanh, true, true, 1.0f, 1.0f},
    {"elu", Activation::Kind::kElu, true, false, 1.0f, 0.0f},
    {"softsign", Activation::Kind::kSoftsign, false, false, 0.0f, 0.0f},
    {"softplus", Activation::Kind::kSoftplus, false, false, 0.0f, 0.0f},
};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

inline float sigmoid(float x) {
  // Split by sign so that exp never overflows.
  if (x >= 0.0f) return 1.0f / (1.0f + std::exp(-x));
  const float e = std::exp(x);
  return e / (1.0f + e);
}

}  // namespace

float Activation::operator()(float x) const {
  switch (kind) {
    case Kind::kSigmoid: return sigmoid(x);
    case Kind::kTanh: return std::tanh(x);
    case Kind::kRelu: return x > 0.0f ? x : 0.0f;
    case Kind::kHardSigmoid: return std::clamp(alpha * x + beta, 0.0f, 1.0f);
    case Kind::kAffine: return alpha * x + beta;
    case Kind::kLeakyRelu: return x >= 0.0f ? x : alpha * x;
    case Kind::kThresholdedRelu: return x > alpha ? x : 0.0f;
    case Kind::kScaledTanh: return alpha * std::tanh(beta * x);
    case Kind::kElu: return x >= 0.0f ? x : alpha * (std::exp(x) - 1.0f);
    case Kind::kSoftsign: return x / (1.0f + std::fabs(x));
    case Kind::kSoftplus: return std::log1p(std::exp(-std::fabs(x))) + std::max(x, 0.0f);
  }
  return x;
}

namespace {

// The default gate functions run on every gate of every step: the branch-free float math the
// Sigmoid / Tanh kernels use (unary_math.h), which GCC vectorizes, not libm calls; compiled also
// for AVX2 and AVX-512 (8 / 16 lanes, the same operations and bits) and picked at run time.
void sigmoid_span(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = sigmoid_approx(x[i]);
}
void tanh_span(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = tanh_approx(x[i]);
}
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2"))) void sigmoid_span_avx2(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = sigmoid_approx(x[i]);
}
__attribute__((target("avx2"))) void tanh_span_avx2(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = tanh_approx(x[i]);
}
__attribute__((target("avx512f"))) void sigmoid_span_avx512(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = sigmoid_approx(x[i]);
}
__attribute__((target("avx512f"))) void tanh_span_avx512(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = tanh_approx(x[i]);
}
#endif

using SpanFn = void (*)(float*, int64_t);

SpanFn pick(SpanFn base, [[maybe_unused]] SpanFn avx2, [[maybe_unused]] SpanFn avx512) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (cpu_has_avx512f()) return avx512;
  if (cpu_has_avx2()) return avx2;
#endif
  return base;
}

SpanFn sigmoid_fn() {
#if defined(__x86_64__) && defined(__GNUC__)
  static const SpanFn f = pick(sigmoid_span, sigmoid_span_avx2, sigmoid_span_avx512);
#else
  static const SpanFn f = sigmoid_span;
#endif
  return f;
}

SpanFn tanh_fn() {
#if defined(__x86_64__) && defined(__GNUC__)
  static const SpanFn f = pick(tanh_span, tanh_span_avx2, tanh_span_avx512);
#else
  static const SpanFn f = tanh_span;
#endif
  return f;
}

}  // namespace

void Activation::apply(float* x, int64_t n) const {
  switch (kind) {
    case Kind::kSigmoid:
      sigmoid_fn()(x, n);
      return;
    case Kind::kTanh:
      tanh_fn()(x, n);
      return;
    default:
      for (int64_t i = 0; i < n; ++i) x[i] = (*this)(x[i]);
  }
}

Result<std::vector<Activation>> parse_activations(const KernelContext& ctx, int per_direction,
                                                  int directions,
                                                  const std::vector<const char*>& defaults) {
  const Node& node = ctx.node();
  std::vector<std::string> names = node.attr_strings("activations");
  if (names.empty()) {
    for (int d = 0; d < directions; ++d) names.insert(names.end(), defaults.begin(), defaults.end());
  } else if (directions == 2 && static_cast<int>(names.size()) == per_direction) {
    std::vector<std::string> twice = names;
    names.insert(names.end(), twice.begin(), twice.end());
  }
  if (static_cast<int>(names.size()) != per_direction * directions) {
    return ctx.invalid("activations has " + std::to_string(names.size()) + " functions; " +
                       std::to_string(directions) + " direction(s) need " +
                       std::to_string(per_direction * directions) + " (" +
                       std::to_string(per_direction) + " per direction)");
  }
  const std::vector<float> alphas = node.attr_floats("activation_alpha");
  const std::vector<float> betas = node.attr_floats("activation_beta");
  size_t next_alpha = 0, next_beta = 0;
  std::vector<Activation> out;
  for (const std::string& name : names) {
    const std::string key = lower(name);
    const ActivationSpec* spec = nullptr;
    for (const ActivationSpec& s : kSpecs) {
      if (key == s.name) spec = &s;
    }
    if (!spec) {
      return ctx.unsupported("activation \"" + name +
                             "\" is not one of Sigmoid, Tanh, Relu, HardSigmoid, Affine, "
                             "LeakyRelu, ThresholdedRelu, ScaledTanh, Elu, Softsign, Softplus");
    }
    Activation a;
    a.kind = spec->kind;
    a.alpha = spec->alpha;
    a.beta = spec->beta;
    if (spec->has_alpha && next_alpha < alphas.size()) a.alpha = alphas[next_alpha++];
    if (spec->has_beta && next_beta < betas.size()) a.beta = betas[next_beta++];
    out.push_back(a);
  }
  return out;
}

}  // namespace quench::rnn
