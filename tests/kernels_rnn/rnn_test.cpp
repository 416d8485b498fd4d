// LSTM / GRU / RNN: against torch.nn numbers (torch_data.h) and against a per-step double
// reference written here, table-driven over cell x direction x layout x sequence lengths x
// activations / clip / peepholes / input_forget / linear_before_reset; error messages.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <string>

#include "testutil.h"
#include "torch_data.h"

namespace quench {
namespace {

using testing::attr_float;
using testing::attr_floats;
using testing::attr_int;
using testing::attr_string;
using testing::run_op;

Attribute attr_strings(const std::string& name, std::vector<std::string> v) {
  Attribute a;
  a.name = name;
  a.type = AttrType::kStrings;
  a.strings = std::move(v);
  return a;
}

Tensor tensor(Shape s, const std::vector<float>& v) { return Tensor::from_vector<float>(std::move(s), v); }

// ---- torch numbers ----

TEST(Lstm, BidirectionalMatchesTorch) {
  using namespace rnn_data;
  auto y = run_op({"LSTM", {attr_int("hidden_size", 3), attr_string("direction", "bidirectional")}, 14, 3},
                  {tensor({3, 2, 4}, kX), tensor({2, 12, 4}, kLstmW), tensor({2, 12, 3}, kLstmR),
                   tensor({2, 24}, kLstmB), Tensor(), tensor({2, 2, 3}, kLstmH0), tensor({2, 2, 3}, kLstmC0)});
  ASSERT_TRUE(y.ok()) << y.status().message();
  EXPECT_TRUE(testing::tensors_near(y->at(0), tensor({3, 2, 2, 3}, kLstmY), 1e-5));
  EXPECT_TRUE(testing::tensors_near(y->at(1), tensor({2, 2, 3}, kLstmYh), 1e-5));
  EXPECT_TRUE(testing::tensors_near(y->at(2), tensor({2, 2, 3}, kLstmYc), 1e-5));
}

TEST(Gru, LinearBeforeResetBidirectionalMatchesTorch) {
  using namespace rnn_data;
  auto y = run_op({"GRU",
                   {attr_int("hidden_size", 3), attr_string("direction", "bidirectional"),
                    attr_int("linear_before_reset", 1)},
                   14, 2},
                  {tensor({3, 2, 4}, kX), tensor({2, 9, 4}, kGruW), tensor({2, 9, 3}, kGruR),
                   tensor({2, 18}, kGruB), Tensor(), tensor({2, 2, 3}, kLstmH0)});
  ASSERT_TRUE(y.ok()) << y.status().message();
  EXPECT_TRUE(testing::tensors_near(y->at(0), tensor({3, 2, 2, 3}, kGruY), 1e-5));
  EXPECT_TRUE(testing::tensors_near(y->at(1), tensor({2, 2, 3}, kGruYh), 1e-5));
}

TEST(Rnn, ForwardMatchesTorch) {
  using namespace rnn_data;
  std::vector<float> h0(kLstmH0.begin(), kLstmH0.begin() + 6);
  auto y = run_op({"RNN", {attr_int("hidden_size", 3)}, 14, 2},
                  {tensor({3, 2, 4}, kX), tensor({1, 3, 4}, kRnnW), tensor({1, 3, 3}, kRnnR),
                   tensor({1, 6}, kRnnB), Tensor(), tensor({1, 2, 3}, h0)});
  ASSERT_TRUE(y.ok()) << y.status().message();
  EXPECT_TRUE(testing::tensors_near(y->at(0), tensor({3, 1, 2, 3}, kRnnY), 1e-5));
  EXPECT_TRUE(testing::tensors_near(y->at(1), tensor({1, 2, 3}, kRnnYh), 1e-5));
}

// ---- per-step reference ----

enum class Cell { kRnn, kGru, kLstm };

struct Act {
  std::string name;
  double alpha, beta;
};

double apply(const Act& a, double x) {
  std::string n = a.name;
  for (char& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (n == "sigmoid") return 1.0 / (1.0 + std::exp(-x));
  if (n == "tanh") return std::tanh(x);
  if (n == "relu") return std::max(x, 0.0);
  if (n == "hardsigmoid") return std::clamp(a.alpha * x + a.beta, 0.0, 1.0);
  if (n == "affine") return a.alpha * x + a.beta;
  if (n == "leakyrelu") return x >= 0 ? x : a.alpha * x;
  if (n == "thresholdedrelu") return x > a.alpha ? x : 0.0;
  if (n == "scaledtanh") return a.alpha * std::tanh(a.beta * x);
  if (n == "elu") return x >= 0 ? x : a.alpha * (std::exp(x) - 1.0);
  if (n == "softsign") return x / (1.0 + std::fabs(x));
  if (n == "softplus") return std::log(1.0 + std::exp(x));
  ADD_FAILURE() << "activation " << a.name;
  return 0;
}

struct Problem {
  Cell cell;
  std::string direction;
  int layout = 0;
  int64_t seq = 4, batch = 3, input = 5, hidden = 4;
  std::vector<int32_t> seq_lens;  // empty: all full
  std::vector<Act> acts;          // per direction, already expanded (what the kernel should use)
  std::vector<std::string> act_names;  // the attribute (empty: defaults)
  std::vector<float> alphas, betas;
  float clip = 0.0f;
  bool input_forget = false, lbr = false, peepholes = false, bias = true, initial = true;
};

int gates_of(Cell c) { return c == Cell::kLstm ? 4 : (c == Cell::kGru ? 3 : 1); }

struct Outputs {
  std::vector<double> y, yh, yc;  // ONNX layout of the problem
};

// Straightforward ONNX equations, one batch entry and step at a time.
Outputs reference(const Problem& p, const std::vector<float>& x, const std::vector<float>& w,
                  const std::vector<float>& r, const std::vector<float>& b,
                  const std::vector<float>& peep, const std::vector<float>& h0,
                  const std::vector<float>& c0) {
  const int dirs = p.direction == "bidirectional" ? 2 : 1;
  const int64_t G = gates_of(p.cell), H = p.hidden, I = p.input, S = p.seq, N = p.batch;
  const int per_dir = p.cell == Cell::kLstm ? 3 : (p.cell == Cell::kGru ? 2 : 1);
  Outputs o;
  o.y.assign(static_cast<size_t>(S * dirs * N * H), 0.0);
  o.yh.assign(static_cast<size_t>(dirs * N * H), 0.0);
  o.yc = o.yh;
  auto xat = [&](int64_t t, int64_t n, int64_t i) {
    return static_cast<double>(p.layout == 0 ? x[(t * N + n) * I + i] : x[(n * S + t) * I + i]);
  };
  auto state_idx = [&](int d, int64_t n, int64_t j) {
    return p.layout == 0 ? (d * N + n) * H + j : (n * dirs + d) * H + j;
  };
  auto y_idx = [&](int d, int64_t t, int64_t n, int64_t j) {
    return p.layout == 0 ? ((t * dirs + d) * N + n) * H + j : ((n * S + t) * dirs + d) * H + j;
  };
  auto clip = [&](double v) { return p.clip > 0 ? std::clamp(v, -double(p.clip), double(p.clip)) : v; };
  for (int d = 0; d < dirs; ++d) {
    const bool rev = dirs == 2 ? d == 1 : p.direction == "reverse";
    const Act* act = &p.acts[static_cast<size_t>(d * per_dir)];
    const float* W = w.data() + d * G * H * I;
    const float* R = r.data() + d * G * H * H;
    for (int64_t n = 0; n < N; ++n) {
      const int64_t len = p.seq_lens.empty() ? S : p.seq_lens[static_cast<size_t>(n)];
      std::vector<double> h(H, 0.0), c(H, 0.0);
      if (p.initial) {
        for (int64_t j = 0; j < H; ++j) {
          h[j] = h0[state_idx(d, n, j)];
          if (p.cell == Cell::kLstm) c[j] = c0[state_idx(d, n, j)];
        }
      }
      for (int64_t s = 0; s < len; ++s) {
        const int64_t t = rev ? len - 1 - s : s;
        // xw[g*H + j] = X W^T + Wb ; hr[g*H + j] = H R^T + Rb
        std::vector<double> xw(G * H, 0.0), hr(G * H, 0.0);
        for (int64_t q = 0; q < G * H; ++q) {
          for (int64_t i = 0; i < I; ++i) xw[q] += xat(t, n, i) * W[q * I + i];
          for (int64_t k = 0; k < H; ++k) hr[q] += h[k] * R[q * H + k];
          if (p.bias) {
            xw[q] += b[d * 2 * G * H + q];
            hr[q] += b[d * 2 * G * H + G * H + q];
          }
        }
        std::vector<double> hn(H), cn(H);
        if (p.cell == Cell::kRnn) {
          for (int64_t j = 0; j < H; ++j) hn[j] = apply(act[0], clip(xw[j] + hr[j]));
        } else if (p.cell == Cell::kGru) {
          std::vector<double> z(H), rr(H);
          for (int64_t j = 0; j < H; ++j) {
            z[j] = apply(act[0], clip(xw[j] + hr[j]));
            rr[j] = apply(act[0], clip(xw[H + j] + hr[H + j]));
          }
          for (int64_t j = 0; j < H; ++j) {
            double pre;
            if (p.lbr) {
              pre = xw[2 * H + j] + rr[j] * hr[2 * H + j];
            } else {
              double acc = 0;  // (r . h) Rh^T + Rbh
              for (int64_t k = 0; k < H; ++k) acc += rr[k] * h[k] * R[(2 * H + j) * H + k];
              if (p.bias) acc += b[d * 2 * G * H + G * H + 2 * H + j];
              pre = xw[2 * H + j] + acc;
            }
            const double ht = apply(act[1], clip(pre));
            hn[j] = (1 - z[j]) * ht + z[j] * h[j];
          }
        } else {
          const float* P = p.peepholes ? peep.data() + d * 3 * H : nullptr;
          for (int64_t j = 0; j < H; ++j) {
            double gi = xw[j] + hr[j], go = xw[H + j] + hr[H + j];
            double gf = xw[2 * H + j] + hr[2 * H + j], gc = xw[3 * H + j] + hr[3 * H + j];
            if (P) {
              gi += P[j] * c[j];
              gf += P[2 * H + j] * c[j];
            }
            const double i_ = apply(act[0], clip(gi));
            const double f_ = p.input_forget ? 1.0 - i_ : apply(act[0], clip(gf));
            const double c_ = apply(act[1], clip(gc));
            cn[j] = f_ * c[j] + i_ * c_;
            if (P) go += P[H + j] * cn[j];
            hn[j] = apply(act[0], clip(go)) * apply(act[2], cn[j]);
          }
        }
        h = hn;
        if (p.cell == Cell::kLstm) c = cn;
        for (int64_t j = 0; j < H; ++j) o.y[y_idx(d, t, n, j)] = h[j];
      }
      for (int64_t j = 0; j < H; ++j) {
        // An empty sequence reports zeros, not the initial state (ONNX Runtime does the same).
        o.yh[state_idx(d, n, j)] = len == 0 ? 0.0 : h[j];
        o.yc[state_idx(d, n, j)] = len == 0 ? 0.0 : c[j];
      }
    }
  }
  return o;
}

Tensor to_tensor(Shape s, const std::vector<double>& v) {
  std::vector<float> f(v.begin(), v.end());
  return Tensor::from_vector<float>(std::move(s), f);
}

void run_and_compare(const Problem& p, uint32_t seed) {
  const int dirs = p.direction == "bidirectional" ? 2 : 1;
  const int64_t G = gates_of(p.cell), H = p.hidden, I = p.input, S = p.seq, N = p.batch;
  const char* op = p.cell == Cell::kLstm ? "LSTM" : (p.cell == Cell::kGru ? "GRU" : "RNN");
  const Shape xs = p.layout == 0 ? Shape{S, N, I} : Shape{N, S, I};
  const Shape ss = p.layout == 0 ? Shape{dirs, N, H} : Shape{N, dirs, H};
  Tensor x = testing::random_tensor(xs, -1.5f, 1.5f, seed);
  Tensor w = testing::random_tensor({dirs, G * H, I}, -0.6f, 0.6f, seed + 1);
  Tensor r = testing::random_tensor({dirs, G * H, H}, -0.6f, 0.6f, seed + 2);
  Tensor b = testing::random_tensor({dirs, 2 * G * H}, -0.5f, 0.5f, seed + 3);
  Tensor peep = testing::random_tensor({dirs, 3 * H}, -0.5f, 0.5f, seed + 4);
  Tensor h0 = testing::random_tensor(ss, -1.0f, 1.0f, seed + 5);
  Tensor c0 = testing::random_tensor(ss, -1.0f, 1.0f, seed + 6);
  auto vec = [](const Tensor& t) { return std::vector<float>(t.data<float>(), t.data<float>() + t.numel()); };
  Outputs want = reference(p, vec(x), vec(w), vec(r), vec(b), vec(peep), vec(h0), vec(c0));

  std::vector<Attribute> attrs = {attr_int("hidden_size", H), attr_string("direction", p.direction)};
  if (p.layout) attrs.push_back(attr_int("layout", 1));
  if (!p.act_names.empty()) attrs.push_back(attr_strings("activations", p.act_names));
  if (!p.alphas.empty()) attrs.push_back(attr_floats("activation_alpha", p.alphas));
  if (!p.betas.empty()) attrs.push_back(attr_floats("activation_beta", p.betas));
  if (p.clip > 0) attrs.push_back(attr_float("clip", p.clip));
  if (p.input_forget) attrs.push_back(attr_int("input_forget", 1));
  if (p.lbr) attrs.push_back(attr_int("linear_before_reset", 1));
  std::vector<Tensor> inputs = {x, w, r, p.bias ? b : Tensor(),
                                p.seq_lens.empty() ? Tensor() : Tensor::from_vector<int32_t>({N}, p.seq_lens),
                                p.initial ? h0 : Tensor()};
  if (p.cell == Cell::kLstm) {
    inputs.push_back(p.initial ? c0 : Tensor());
    inputs.push_back(p.peepholes ? peep : Tensor());
  }
  while (!inputs.back().defined()) inputs.pop_back();
  const int outs = p.cell == Cell::kLstm ? 3 : 2;
  // Weights as initializers in half the runs (the executor then sees them as constants).
  std::vector<bool> init = {false, seed % 2 == 0, seed % 2 == 0};
  auto y = run_op({op, attrs, 14, outs}, inputs, init);
  ASSERT_TRUE(y.ok()) << y.status().message();
  const Shape ys = p.layout == 0 ? Shape{S, dirs, N, H} : Shape{N, S, dirs, H};
  EXPECT_TRUE(testing::tensors_near(y->at(0), to_tensor(ys, want.y), 2e-5, 1e-5));
  EXPECT_TRUE(testing::tensors_near(y->at(1), to_tensor(ss, want.yh), 2e-5, 1e-5));
  if (p.cell == Cell::kLstm) {
    EXPECT_TRUE(testing::tensors_near(y->at(2), to_tensor(ss, want.yc), 2e-5, 1e-5));
  }
}

// Activation configurations per cell: (attribute names, alphas, betas, expanded per direction).
struct ActConfig {
  std::vector<std::string> names;
  std::vector<float> alphas, betas;
  std::vector<Act> expanded;  // one direction
};

std::vector<ActConfig> act_configs(Cell c) {
  switch (c) {
    case Cell::kRnn:
      return {{{}, {}, {}, {{"Tanh", 0, 0}}},
              {{"Relu"}, {}, {}, {{"Relu", 0, 0}}},
              {{"Affine"}, {0.5f}, {0.1f}, {{"Affine", 0.5, 0.1}}},
              {{"ThresholdedRelu"}, {0.2f}, {}, {{"ThresholdedRelu", 0.2, 0}}},
              {{"Softplus"}, {}, {}, {{"Softplus", 0, 0}}},
              {{"Elu"}, {}, {}, {{"Elu", 1.0, 0}}}};
    case Cell::kGru:
      return {{{}, {}, {}, {{"Sigmoid", 0, 0}, {"Tanh", 0, 0}}},
              {{"HardSigmoid", "Softsign"}, {}, {}, {{"HardSigmoid", 0.2, 0.5}, {"Softsign", 0, 0}}},
              {{"HardSigmoid", "LeakyRelu"}, {0.3f, 0.05f}, {0.45f}, {{"HardSigmoid", 0.3, 0.45}, {"LeakyRelu", 0.05, 0}}}};
    case Cell::kLstm:
      return {{{}, {}, {}, {{"Sigmoid", 0, 0}, {"Tanh", 0, 0}, {"Tanh", 0, 0}}},
              // alphas / betas are consumed in order by the functions that take them.
              {{"hardsigmoid", "Tanh", "ScaledTanh"}, {0.3f, 0.8f}, {0.4f, 1.2f},
               {{"HardSigmoid", 0.3, 0.4}, {"Tanh", 0, 0}, {"ScaledTanh", 0.8, 1.2}}},
              {{"Sigmoid", "Elu", "Softsign"}, {0.7f}, {}, {{"Sigmoid", 0, 0}, {"Elu", 0.7, 0}, {"Softsign", 0, 0}}}};
  }
  return {};
}

struct Variant {
  const char* name;
  Cell cell;
  bool lbr = false, peepholes = false, input_forget = false, bias = true, initial = true;
  float clip = 0.0f;
};

const Variant kVariants[] = {
    {"rnn", Cell::kRnn},
    {"rnn_clip_no_bias", Cell::kRnn, false, false, false, false, true, 0.7f},
    {"gru", Cell::kGru},
    {"gru_lbr", Cell::kGru, true},
    {"gru_clip_no_initial", Cell::kGru, false, false, false, true, false, 0.5f},
    {"lstm", Cell::kLstm},
    {"lstm_peepholes", Cell::kLstm, false, true},
    {"lstm_input_forget_clip", Cell::kLstm, false, true, true, true, true, 0.6f},
    {"lstm_no_bias_no_initial", Cell::kLstm, false, false, false, false, false},
};

TEST(RnnFamily, MatchesPerStepReference) {
  uint32_t seed = 1000;
  for (const Variant& v : kVariants) {
    for (const char* direction : {"forward", "reverse", "bidirectional"}) {
      for (int layout : {0, 1}) {
        for (bool ragged : {false, true}) {
          const std::vector<ActConfig> configs = act_configs(v.cell);
          // Every activation config once per variant and direction, the default otherwise.
          for (size_t a = 0; a < configs.size(); ++a) {
            if (a > 0 && (layout == 1 || ragged)) continue;
            SCOPED_TRACE(std::string(v.name) + " " + direction + " layout " + std::to_string(layout) +
                         (ragged ? " ragged" : "") + " activations #" + std::to_string(a));
            Problem p;
            p.cell = v.cell;
            p.direction = direction;
            p.layout = layout;
            // Ends before the last step, an empty sequence, one of length 1.
            if (ragged) p.seq_lens = {1, 0, 3};
            p.clip = v.clip;
            p.lbr = v.lbr;
            p.peepholes = v.peepholes;
            p.input_forget = v.input_forget;
            p.bias = v.bias;
            p.initial = v.initial;
            const ActConfig& ac = configs[a];
            p.act_names = ac.names;
            p.alphas = ac.alphas;
            p.betas = ac.betas;
            p.acts = ac.expanded;
            if (p.direction == "bidirectional") {
              p.acts.insert(p.acts.end(), ac.expanded.begin(), ac.expanded.end());
              if (!p.act_names.empty()) {
                // Both directions listed; the second uses the same functions but consumes the
                // remaining alphas / betas, so give it the defaults by repeating the list.
                std::vector<std::string> twice = p.act_names;
                twice.insert(twice.end(), ac.names.begin(), ac.names.end());
                p.act_names = twice;
                std::vector<float> al = p.alphas, be = p.betas;
                al.insert(al.end(), ac.alphas.begin(), ac.alphas.end());
                be.insert(be.end(), ac.betas.begin(), ac.betas.end());
                p.alphas = al;
                p.betas = be;
              }
            }
            run_and_compare(p, seed += 7);
          }
        }
      }
    }
  }
}

TEST(RnnFamily, LargerSizesMatchReference) {
  // Sizes where the GEMMs are blocked and threaded.
  Problem p;
  p.cell = Cell::kLstm;
  p.direction = "bidirectional";
  p.seq = 7;
  p.batch = 9;
  p.input = 70;
  p.hidden = 33;
  p.peepholes = true;
  p.acts = {{"Sigmoid", 0, 0}, {"Tanh", 0, 0}, {"Tanh", 0, 0}, {"Sigmoid", 0, 0}, {"Tanh", 0, 0}, {"Tanh", 0, 0}};
  p.seq_lens = {7, 3, 5, 7, 1, 2, 6, 7, 4};
  run_and_compare(p, 77);
  p.cell = Cell::kGru;
  p.peepholes = false;
  p.acts.resize(4);
  p.acts[1] = {"Tanh", 0, 0};
  p.acts[2] = {"Sigmoid", 0, 0};
  p.acts[3] = {"Tanh", 0, 0};
  run_and_compare(p, 78);
}

TEST(Lstm, OptionalOutputsMayBeOmitted) {
  using namespace rnn_data;
  // Only Y_h requested: Y and Y_c left out of the node.
  auto model = testing::single_op_model({"LSTM", {attr_int("hidden_size", 3)}, 14, 3},
                                        {tensor({3, 2, 4}, kX), tensor({1, 12, 4}, std::vector<float>(kLstmW.begin(), kLstmW.begin() + 48)),
                                         tensor({1, 12, 3}, std::vector<float>(kLstmR.begin(), kLstmR.begin() + 36))});
  Graph& g = *model->graph;
  Node* n = g.nodes()[0];
  n->outputs[0] = nullptr;
  n->outputs[2] = nullptr;
  g.outputs = {g.find_value("out1")};
  g.rebuild_links();
  auto exec = Executor::create(model);
  ASSERT_TRUE(exec.ok()) << exec.status().message();
  auto y = (*exec)->run({{"in0", tensor({3, 2, 4}, kX)},
                         {"in1", tensor({1, 12, 4}, std::vector<float>(kLstmW.begin(), kLstmW.begin() + 48))},
                         {"in2", tensor({1, 12, 3}, std::vector<float>(kLstmR.begin(), kLstmR.begin() + 36))}});
  ASSERT_TRUE(y.ok()) << y.status().message();
  EXPECT_EQ(y->at(0).shape(), (Shape{1, 2, 3}));
}

struct ErrorCase {
  const char* what;
  const char* op;
  std::vector<Attribute> attrs;
  std::vector<Tensor> inputs;
  std::string message;
  StatusCode code = StatusCode::kInvalid;
};

TEST(RnnFamily, ErrorMessages) {
  Tensor x = testing::random_tensor({3, 2, 4});
  Tensor w = testing::random_tensor({1, 12, 4});
  Tensor r = testing::random_tensor({1, 12, 3});
  const std::vector<ErrorCase> cases = {
      {"W shape", "LSTM", {attr_int("hidden_size", 3)}, {x, testing::random_tensor({1, 12, 5}), r},
       "W has shape [1, 12, 5]; expected [1, 12, 4]"},
      {"direction count", "LSTM", {attr_string("direction", "bidirectional")}, {x, w, r},
       "W has shape [1, 12, 4]; expected [2, 12, 4]"},
      {"activations count", "LSTM", {attr_strings("activations", {"Sigmoid", "Tanh"})}, {x, w, r},
       "activations has 2 functions; 1 direction(s) need 3 (3 per direction)"},
      {"unknown activation", "RNN", {attr_strings("activations", {"Swish"})},
       {x, testing::random_tensor({1, 3, 4}), testing::random_tensor({1, 3, 3})},
       "activation \"Swish\" is not one of Sigmoid, Tanh, Relu, HardSigmoid, Affine, LeakyRelu, "
       "ThresholdedRelu, ScaledTanh, Elu, Softsign, Softplus",
       StatusCode::kUnsupported},
      {"sequence_lens range", "GRU", {},
       {x, testing::random_tensor({1, 9, 4}), testing::random_tensor({1, 9, 3}), Tensor(),
        Tensor::from_vector<int32_t>({2}, {3, 4})},
       "sequence_lens[1] = 4 is outside [0, 3] (seq_length)"},
      {"direction name", "GRU", {attr_string("direction", "sideways")},
       {x, testing::random_tensor({1, 9, 4}), testing::random_tensor({1, 9, 3})},
       "direction \"sideways\" is not one of forward, reverse, bidirectional"},
      {"initial_h shape for layout 1", "RNN", {attr_int("layout", 1)},
       {x, testing::random_tensor({1, 3, 4}), testing::random_tensor({1, 3, 3}), Tensor(), Tensor(),
        testing::random_tensor({1, 3, 3})},
       "initial_h has shape [1, 3, 3]; expected [3, 1, 3]"},
  };
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(c.what);
    auto y = run_op({c.op, c.attrs, 14, 2}, c.inputs);
    ASSERT_FALSE(y.ok());
    EXPECT_EQ(y.status().code(), c.code);
    EXPECT_EQ(y.status().message(), std::string(c.op) + " 'node': " + c.message);
  }
}

}  // namespace
}  // namespace quench
