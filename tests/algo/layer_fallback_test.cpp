// Layer fallback: sensitivity ranking, amp_num and the accuracy budget on a hand-built MLP whose
// middle layer carries a weight outlier (at 4-bit per-tensor weights it loses every other weight).
#include "algo/layer_fallback.h"

#include <gtest/gtest.h>

#include <cmath>

#include "algo/layer_data.h"
#include "quant/quantize.h"
#include "testutil.h"

namespace quench {
namespace {

// x[N,8] -> Gemm g1 (8x16) -> Relu -> Gemm g2 (16x16, one weight 60) -> Relu -> Gemm g3 (16x4) -> y
// The outlier W2[0, 5] reads a1[:, 0], which B1[0] = -100 keeps at zero: it adds nothing to the
// output but sets g2's per-tensor weight scale, rounding every other weight of g2 to zero.
std::shared_ptr<Model> outlier_mlp() {
  auto m = std::make_shared<Model>();
  m->opset_imports = {{"", 17}};
  Graph& g = *m->graph;
  Value* x = g.get_or_add_value("x");
  x->dtype = DType::kFloat32;
  auto init = [&](const std::string& name, Tensor t) {
    Value* v = g.get_or_add_value(name);
    v->dtype = DType::kFloat32;
    v->constant = std::move(t);
    g.initializers.push_back(v);
    return v;
  };
  const int64_t dims[4] = {8, 16, 16, 4};
  Value* in = x;
  for (int l = 1; l <= 3; ++l) {
    const std::string s = std::to_string(l);
    Tensor w = testing::random_tensor({dims[l - 1], dims[l]}, -1.0f, 1.0f, 10 + l);
    if (l == 2) w.data<float>()[5] = 60.0f;
    Value* wv = init("W" + s, w);
    Tensor b = testing::random_tensor({dims[l]}, -0.2f, 0.2f, 20 + l);
    if (l == 1) b.data<float>()[0] = -100.0f;
    Value* bv = init("B" + s, b);
    Value* h = g.get_or_add_value(l == 3 ? "y" : "h" + s);
    g.add_node("Gemm", "g" + s, {in, wv, bv}, {h});
    if (l < 3) {
      Value* a = g.get_or_add_value("a" + s);
      g.add_node("Relu", "r" + s, {h}, {a});
      in = a;
    } else {
      g.outputs = {h};
    }
  }
  g.inputs = {x};
  g.rebuild_links();
  return m;
}

QuantConfig w4a8_per_tensor() {
  QuantConfig c = default_quant_config();
  c.weight.spec.bits = 4;
  c.weight.spec.granularity = Granularity::kPerTensor;
  return c;
}

std::vector<Executor::Feeds> batches(int n, uint32_t seed) {
  std::vector<Executor::Feeds> out;
  for (int b = 0; b < n; ++b)
    out.push_back({{"x", testing::random_tensor({32, 8}, -1.0f, 1.0f, seed + static_cast<uint32_t>(b))}});
  return out;
}

std::unique_ptr<QuantSim> calibrated_sim(const std::vector<Executor::Feeds>& calib) {
  auto sim = QuantSim::create(outlier_mlp(), w4a8_per_tensor());
  EXPECT_TRUE(sim.ok()) << sim.status().message();
  Status s = (*sim)->compute_encodings(replay_batches(calib));
  EXPECT_TRUE(s.ok()) << s.message();
  return std::move(sim).value();
}

std::vector<bool> enabled(const QuantSim& sim) {
  std::vector<bool> e;
  for (const QuantPoint& p : sim.points()) e.push_back(p.enabled);
  return e;
}

std::vector<std::string> names(const std::vector<LayerSensitivity>& ls) {
  std::vector<std::string> out;
  for (const LayerSensitivity& l : ls) out.push_back(l.layer.name);
  return out;
}

TEST(LayerFallback, LayersOwnWeightBiasAndTheirGroupsOutput) {
  auto sim = calibrated_sim(batches(2, 100));
  std::vector<FallbackLayer> layers = fallback_layers(*sim);
  ASSERT_EQ(layers.size(), 4u);
  EXPECT_EQ(layers[0].name, "x");  // the model-input quantizer
  EXPECT_EQ(layers[0].op_type, "");
  EXPECT_FALSE(layers[0].weighted);
  EXPECT_EQ(layers[1].name, "g1");
  EXPECT_TRUE(layers[1].weighted);
  // Gemm + Relu is a supergroup: the Relu output quantizer falls back with the Gemm.
  EXPECT_EQ(layers[1].points, (std::vector<std::string>{"W1", "B1", "a1"}));
  EXPECT_EQ(layers[1].output, "a1");
  EXPECT_EQ(layers[3].points, (std::vector<std::string>{"W3", "B3", "y"}));
  EXPECT_EQ(fallback_layers(*sim, /*weighted_only=*/true).size(), 3u);
  sim->set_enabled("W2", false);
  sim->set_enabled("B2", false);
  sim->set_enabled("a2", false);
  std::vector<std::string> left;
  for (const FallbackLayer& l : fallback_layers(*sim)) left.push_back(l.name);
  EXPECT_EQ(left, (std::vector<std::string>{"x", "g1", "g3"}));
}

TEST(LayerFallback, OutlierLayerRanksFirstAndPointsAreRestored) {
  const auto calib = batches(4, 100);
  auto sim = calibrated_sim(calib);
  const std::vector<bool> before = enabled(*sim);
  for (SensitivityMeasure m : {SensitivityMeasure::kOnlyLayerQuantized, SensitivityMeasure::kAllButLayer}) {
    SensitivityOptions o;
    o.measure = m;
    int64_t last_done = 0, last_total = 0;
    o.progress = [&](int64_t d, int64_t t) { last_done = d, last_total = t; };
    auto r = rank_layer_sensitivity(*sim, replay_batches(calib), o);
    ASSERT_TRUE(r.ok()) << r.status().message();
    ASSERT_EQ(r->layers.size(), 4u);
    EXPECT_EQ(r->layers[0].layer.name, "g2") << sensitivity_measure_name(m);
    EXPECT_EQ(r->num_batches, 4);
    EXPECT_EQ(r->evaluations, 5);  // all quantized, then one per layer
    EXPECT_EQ(last_done, 4);
    EXPECT_EQ(last_total, 4);
    EXPECT_EQ(enabled(*sim), before);
    for (size_t i = 1; i < r->layers.size(); ++i) {
      if (m == SensitivityMeasure::kOnlyLayerQuantized) {
        EXPECT_LE(r->layers[i - 1].sqnr_db, r->layers[i].sqnr_db);
      } else {
        EXPECT_GE(r->layers[i - 1].sqnr_db, r->layers[i].sqnr_db);
      }
    }
  }
  // The outlier wrecks g2 at 4 bits: alone it costs far more than any other layer.
  auto r = rank_layer_sensitivity(*sim, replay_batches(calib));
  ASSERT_TRUE(r.ok());
  EXPECT_LT(r->layers[0].sqnr_db + 10.0, r->layers[1].sqnr_db);
}

// Only g1 quantized, computed by hand: y = g3(relu(g2(fq_a1(relu(x W1q + B1))))), with W1q the
// 4-bit per-tensor weight and the bias left in float (its int32 encoding needs the input's scale,
// and the input quantizer belongs to another layer).
TEST(LayerFallback, OnlyLayerSqnrEqualsHandComputation) {
  const auto calib = batches(3, 300);
  auto sim = calibrated_sim(calib);
  auto r = rank_layer_sensitivity(*sim, replay_batches(calib));
  ASSERT_TRUE(r.ok()) << r.status().message();
  double reported = std::nan("");
  for (const LayerSensitivity& l : r->layers)
    if (l.layer.name == "g1") reported = l.sqnr_db;

  const Model& m = sim->sim_model();
  auto constant = [&](const std::string& n) { return m.graph->find_value(n)->constant; };
  auto encoding = [&](const std::string& n) { return *sim->find_point(n)->encoding; };
  auto w1q = fake_quantize(constant("W1"), encoding("W1"));
  ASSERT_TRUE(w1q.ok());
  // y = relu?(x W + b) for row-major x [N, K], W [K, M].
  auto dense = [](const std::vector<double>& x, const Tensor& w, const Tensor& b, bool relu) {
    const int64_t k_dim = w.dim(0), m_dim = w.dim(1), n = static_cast<int64_t>(x.size()) / k_dim;
    const std::vector<double> wd = w.to_double_vector(), bd = b.to_double_vector();
    std::vector<double> y(static_cast<size_t>(n * m_dim));
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < m_dim; ++j) {
        // float32 accumulation order as the reference would not matter at the SQNR's precision
        double s = bd[static_cast<size_t>(j)];
        for (int64_t k = 0; k < k_dim; ++k)
          s += x[static_cast<size_t>(i * k_dim + k)] * wd[static_cast<size_t>(k * m_dim + j)];
        y[static_cast<size_t>(i * m_dim + j)] = relu ? std::max(s, 0.0) : s;
      }
    return y;
  };
  const Encoding ea1 = encoding("a1");
  double signal = 0, noise = 0;
  for (const Executor::Feeds& f : calib) {
    const std::vector<double> x = f[0].second.to_double_vector();
    std::vector<double> a1f = dense(x, constant("W1"), constant("B1"), true);
    std::vector<double> a1q = dense(x, *w1q, constant("B1"), true);
    std::vector<float> a1q32(a1q.begin(), a1q.end());
    auto tq = fake_quantize(Tensor::from_vector<float>({static_cast<int64_t>(a1q32.size())}, a1q32), ea1);
    ASSERT_TRUE(tq.ok());
    a1q = tq->to_double_vector();
    auto tail = [&](const std::vector<double>& a1) {
      return dense(dense(a1, constant("W2"), constant("B2"), true), constant("W3"), constant("B3"), false);
    };
    const std::vector<double> yf = tail(a1f), yq = tail(a1q);
    for (size_t i = 0; i < yf.size(); ++i) {
      signal += yf[i] * yf[i];
      noise += (yf[i] - yq[i]) * (yf[i] - yq[i]);
    }
  }
  const double expected = 10.0 * std::log10(signal / noise);
  EXPECT_NEAR(reported, expected, 0.01) << "hand " << expected << " dB, report " << reported;
}

TEST(LayerFallback, AmpNumDisablesExactlyTheWorstLayersPoints) {
  const auto calib = batches(4, 100);
  auto sim = calibrated_sim(calib);
  auto r = apply_amp_num(*sim, replay_batches(calib), 1);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(names(r->fallbacks), (std::vector<std::string>{"g2"}));
  for (const QuantPoint& p : sim->points()) {
    const bool g2 = p.value == "W2" || p.value == "B2" || p.value == "a2";
    EXPECT_EQ(p.enabled, !g2) << p.value;
  }
  EXPECT_GT(r->final_metric, r->ranking.all_quantized_sqnr_db + 10.0);

  auto zero = apply_amp_num(*calibrated_sim(calib), replay_batches(calib), 0);
  ASSERT_TRUE(zero.ok());
  EXPECT_TRUE(zero->fallbacks.empty());
  auto all = apply_amp_num(*sim, replay_batches(calib), 10);  // more than there are: all of them
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->fallbacks.size(), 3u);  // g2 was already float: not a candidate
  for (const QuantPoint& p : sim->points()) EXPECT_FALSE(p.enabled) << p.value;

  auto bad = apply_amp_num(*sim, replay_batches(calib), -1);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "amp_num must be >= 0 (got -1)");
}

TEST(LayerFallback, SqnrBudgetFallsBackTheOutlierLayerOnly) {
  const auto calib = batches(4, 100);
  const auto held = batches(3, 900);
  std::vector<Executor::Feeds> source = calib;  // ranking batches, then the held-out ones
  source.insert(source.end(), held.begin(), held.end());
  auto sim = calibrated_sim(calib);
  auto s_all = output_sqnr_db(*sim, held);
  sim->set_enabled("g2", false);  // node name: its weight and bias
  sim->set_enabled("a2", false);
  auto s_g2 = output_sqnr_db(*sim, held);
  sim->set_enabled("g2", true);
  sim->set_enabled("a2", true);
  ASSERT_TRUE(s_all.ok() && s_g2.ok());
  ASSERT_GT(*s_g2, *s_all + 10.0);

  BudgetOptions o;
  o.min_sqnr_db = (*s_all + *s_g2) / 2;
  o.sqnr_batches = 3;
  auto r = fallback_to_budget(*sim, replay_batches(source), o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->budget_met) << r->note;
  EXPECT_EQ(names(r->fallbacks), (std::vector<std::string>{"g2"}));
  ASSERT_EQ(r->steps.size(), 2u);
  EXPECT_EQ(r->steps[0].action, FallbackStep::Action::kStart);
  EXPECT_NEAR(r->steps[0].metric, *s_all, 1e-9);
  EXPECT_FALSE(r->steps[0].budget_met);
  EXPECT_EQ(r->steps[1].layer, "g2");
  EXPECT_NEAR(r->steps[1].metric, *s_g2, 1e-9);
  EXPECT_TRUE(r->steps[1].budget_met);
  EXPECT_NEAR(r->final_metric, *s_g2, 1e-9);
  EXPECT_EQ(r->evaluations, 2);
  EXPECT_FALSE(sim->find_point("W2")->enabled);
  EXPECT_TRUE(sim->find_point("W1")->enabled);
  const std::vector<std::string> lines = fallback_report_lines(*r);
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[0].rfind("accuracy budget: output SQNR (dB) >= ", 0), 0u) << lines[0];
  EXPECT_NE(lines[0].find(": met with 1 layer in float, output SQNR (dB) "), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("output SQNR with only this layer quantized"), std::string::npos) << lines[1];
  EXPECT_EQ(lines[2].rfind("    g2 (Gemm): ", 0), 0u) << lines[2];
  EXPECT_NE(lines[2].find(" dB, 3 quantizers"), std::string::npos) << lines[2];
  EXPECT_EQ(lines[3].rfind("  start: ", 0), 0u) << lines[3];
  EXPECT_NE(lines[4].find("fallback g2: "), std::string::npos) << lines[4];
  EXPECT_NE(lines[4].find("(1 in float, meets the budget)"), std::string::npos) << lines[4];
}

// A metric only g3 matters to (g2 a little): the greedy pass, led by the SQNR ranking, first
// drops g2 and maybe others; the backward pass quantizes every one but g3 again.
TEST(LayerFallback, AccuracyBudgetBackwardPassKeepsOnlyTheNeededLayer) {
  const auto calib = batches(4, 100);
  auto sim = calibrated_sim(calib);
  const Executor::Feeds probe = calib[0];
  MetricFn metric = [&](QuantSim& s) -> Result<double> {
    QUENCH_ASSIGN_OR_RETURN(auto q, s.run(probe));
    QUENCH_ASSIGN_OR_RETURN(auto f, s.run_fp32(probe));
    double diff = 0;
    for (int64_t i = 0; i < q[0].numel(); ++i)
      diff += std::abs(q[0].data<float>()[i] - f[0].data<float>()[i]);
    if (diff == 0) return 90.0;  // FP32 (the search's bypass run)
    return 90.0 - (s.find_point("W3")->enabled ? 1.0 : 0.0) - (s.find_point("W2")->enabled ? 0.2 : 0.0);
  };
  BudgetOptions o;
  o.max_drop_points = 0.3;
  auto r = fallback_to_budget(*sim, replay_batches(calib), o, metric);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->budget_met) << r->note;
  ASSERT_TRUE(r->fp32_metric.has_value());
  EXPECT_EQ(*r->fp32_metric, 90.0);
  EXPECT_NEAR(r->target, 89.7, 1e-12);
  EXPECT_EQ(names(r->fallbacks), (std::vector<std::string>{"g3"}));
  EXPECT_NEAR(r->final_metric, 89.8, 1e-12);
  EXPECT_EQ(r->steps.front().action, FallbackStep::Action::kStart);
  EXPECT_EQ(r->steps.back().num_float, 1);
  int restored = 0;
  for (const FallbackStep& s : r->steps) restored += s.action == FallbackStep::Action::kRestored;
  EXPECT_GE(restored, 1);  // g2 at least, ranked first
  EXPECT_TRUE(sim->find_point("W2")->enabled);
  EXPECT_FALSE(sim->find_point("W3")->enabled);
  EXPECT_FALSE(sim->find_point("y")->enabled);
}

TEST(LayerFallback, UnreachableBudgetIsReportedAndBestKept) {
  const auto calib = batches(4, 100);
  auto sim = calibrated_sim(calib);
  BudgetOptions o;
  o.min_sqnr_db = 200.0;
  o.sensitivity.weighted_only = true;  // the input quantizer is no candidate: 200 dB is out of reach
  o.sqnr_batches = 2;
  std::vector<std::string> warnings;
  o.warn = [&](const std::string& w) { warnings.push_back(w); };
  auto r = fallback_to_budget(*sim, replay_batches(calib), o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_FALSE(r->budget_met);
  EXPECT_NE(r->note.find("budget not met: output SQNR (dB) target 200"), std::string::npos) << r->note;
  EXPECT_NE(r->note.find("all 3 weighted layers are in float"), std::string::npos) << r->note;
  ASSERT_EQ(warnings.size(), 1u);  // no batches beyond the ranking's
  double best = -1e9;
  for (const FallbackStep& s : r->steps) best = std::max(best, s.metric);
  EXPECT_EQ(r->final_metric, best);
  EXPECT_TRUE(sim->find_point("x")->enabled);

  auto limited = calibrated_sim(calib);
  o.sensitivity.weighted_only = false;
  o.max_fallback_layers = 1;
  r = fallback_to_budget(*limited, replay_batches(calib), o);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->budget_met);
  EXPECT_NE(r->note.find("the limit of 1 fallback layers was reached"), std::string::npos) << r->note;
  EXPECT_EQ(names(r->fallbacks), (std::vector<std::string>{"g2"}));
}

TEST(LayerFallback, BadOptionsAreErrors) {
  const auto calib = batches(2, 100);
  auto sim = calibrated_sim(calib);
  BudgetOptions o;
  auto r = fallback_to_budget(*sim, replay_batches(calib), o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "accuracy budget: give exactly one of max_drop_points and min_sqnr_db");
  o.max_drop_points = 0.5;
  r = fallback_to_budget(*sim, replay_batches(calib), o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("max_drop_points needs an accuracy metric"), std::string::npos);
  o.max_drop_points = -1.0;
  r = fallback_to_budget(*sim, replay_batches(calib), o, [](QuantSim&) -> Result<double> { return 1.0; });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "accuracy budget: max_drop_points must be a finite number >= 0 (got -1)");

  auto raw = QuantSim::create(outlier_mlp(), w4a8_per_tensor());
  ASSERT_TRUE(raw.ok());
  auto u = rank_layer_sensitivity(**raw, replay_batches(calib));
  ASSERT_FALSE(u.ok());
  EXPECT_EQ(u.status().message(),
            "layer fallback: quantizer 'x' has no encoding yet; run compute_encodings before "
            "ranking layers");
  auto e = rank_layer_sensitivity(*sim, replay_batches({}));
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("calibration set is empty"), std::string::npos);
}

}  // namespace
}  // namespace quench
