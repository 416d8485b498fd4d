// Layer fallback on the test zoo with Fashion-MNIST: a measurement driver, not a unit test (it
// evaluates the 10k test images many times). Run by hand:
//   quench_algo_tests --gtest_also_run_disabled_tests --gtest_filter='LayerFallbackZoo.*'
// Settings from the environment: QUENCH_LF_MODEL (vit_fmnist), QUENCH_LF_WBITS (8),
// QUENCH_LF_ABITS (8), QUENCH_LF_MAX_DROP (0.3), QUENCH_LF_AMP_MAX (5), QUENCH_LF_MEASURES
// ("only_layer,all_but_layer,layer_output"), QUENCH_LF_TUNE ("test": the budget's metric is the
// test accuracy, as `quench quantize --eval t10k` would use it; "train": train images 50000-59999,
// held out from calibration, with the test accuracy reported after the search).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "algo/layer_data.h"
#include "algo/layer_fallback.h"
#include "data/dataset.h"
#include "onnx/onnx_io.h"
#include "testutil.h"

namespace quench {
namespace {

const char* kData = "/usr/share/datasets/fashion-mnist/";

std::string env(const char* name, const std::string& dflt) {
  const char* v = std::getenv(name);
  return v && *v ? v : dflt;
}

struct Labelled {
  std::vector<Executor::Feeds> batches;
  std::vector<Tensor> labels;
};

Result<Labelled> read_fmnist(const std::string& split, int64_t samples, int64_t batch,
                             int64_t skip = 0) {
  QUENCH_ASSIGN_OR_RETURN(auto ds, open_dataset(std::string(kData) + split + "-images-idx3-ubyte.gz",
                                                std::string(kData) + split + "-labels-idx1-ubyte.gz",
                                                DataOptions{}));
  Labelled out;
  for (int64_t skipped = 0; skipped < skip;) {
    QUENCH_ASSIGN_OR_RETURN(std::optional<Batch> b, ds->next_batch(std::min<int64_t>(1000, skip - skipped)));
    if (!b) break;
    skipped += b->data.dim(0);
  }
  for (int64_t done = 0; done < samples;) {
    QUENCH_ASSIGN_OR_RETURN(std::optional<Batch> b, ds->next_batch(std::min(batch, samples - done)));
    if (!b) break;
    const int64_t n = b->data.dim(0);
    out.batches.push_back({{"input", b->data.reshaped({n, 1, 28, 28})}});
    out.labels.push_back(*b->labels);
    done += n;
  }
  return out;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

TEST(LayerFallbackZoo, DISABLED_AmpNumAndBudget) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress visible when redirected to a file
  const std::string model_name = env("QUENCH_LF_MODEL", "vit_fmnist");
  const int wbits = std::atoi(env("QUENCH_LF_WBITS", "8").c_str());
  const int abits = std::atoi(env("QUENCH_LF_ABITS", "8").c_str());
  const double max_drop = std::atof(env("QUENCH_LF_MAX_DROP", "0.3").c_str());
  const int amp_max = std::atoi(env("QUENCH_LF_AMP_MAX", "5").c_str());
  const std::string measures = env("QUENCH_LF_MEASURES", "only_layer,all_but_layer,layer_output");
  const bool tune_on_train = env("QUENCH_LF_TUNE", "test") == "train";

  auto loaded = onnx::load_model(testing::source_path("models/zoo/" + model_name + ".onnx"));
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  auto model = std::make_shared<const Model>(std::move(loaded).value());
  auto calib = read_fmnist("train", 512, 64);
  auto test = read_fmnist("t10k", 10000, 500);
  ASSERT_TRUE(calib.ok() && test.ok());
  auto tune = tune_on_train ? read_fmnist("train", 10000, 500, 50000) : test;
  ASSERT_TRUE(tune.ok());

  QuantConfig c = default_quant_config();
  c.weight.spec.bits = wbits;
  c.activation.spec.bits = abits;
  c.input.spec.bits = abits;
  auto sim_r = QuantSim::create(model, c);
  ASSERT_TRUE(sim_r.ok()) << sim_r.status().message();
  QuantSim& sim = **sim_r;
  BatchSource calib_src = replay_batches(calib->batches);
  ASSERT_TRUE(sim.compute_encodings(calib_src).ok());

  int64_t metric_calls = 0;
  auto top1_on = [&](QuantSim& s, const Labelled& set) -> Result<double> {
    ++metric_calls;
    int64_t correct = 0, total = 0;
    for (size_t b = 0; b < set.batches.size(); ++b) {
      QUENCH_ASSIGN_OR_RETURN(auto out, s.run(set.batches[b]));
      const Tensor& logits = out[0];
      const int64_t n = logits.dim(0), k = logits.dim(1);
      const float* p = logits.data<float>();
      const int64_t* y = set.labels[b].data<int64_t>();
      for (int64_t i = 0; i < n; ++i) {
        int64_t best = 0;
        for (int64_t j = 1; j < k; ++j)
          if (p[i * k + j] > p[i * k + best]) best = j;
        correct += best == y[i];
      }
      total += n;
    }
    return 100.0 * static_cast<double>(correct) / static_cast<double>(total);
  };
  MetricFn top1 = [&](QuantSim& s) { return top1_on(s, *test); };
  MetricFn tune_top1 = [&](QuantSim& s) { return top1_on(s, *tune); };

  sim.set_bypass(true);
  auto fp32 = top1(sim);
  sim.set_bypass(false);
  ASSERT_TRUE(fp32.ok());
  std::printf("%s W%dA%d: %zu candidate layers, fp32 top-1 %.2f %%\n", model_name.c_str(), wbits,
              abits, fallback_layers(sim).size(), *fp32);
  std::vector<bool> calibrated;
  for (const QuantPoint& p : sim.points()) calibrated.push_back(p.enabled);
  auto restore = [&]() {
    for (size_t i = 0; i < calibrated.size(); ++i)
      sim.set_enabled(sim.points()[i].value, calibrated[i]);
  };

  for (SensitivityMeasure m : {SensitivityMeasure::kOnlyLayerQuantized, SensitivityMeasure::kAllButLayer,
                               SensitivityMeasure::kLayerOutput}) {
    if (measures.find(sensitivity_measure_name(m)) == std::string::npos) continue;
    SensitivityOptions so;
    so.measure = m;
    const auto t0 = std::chrono::steady_clock::now();
    auto rank = rank_layer_sensitivity(sim, calib_src, so);
    ASSERT_TRUE(rank.ok()) << rank.status().message();
    std::printf("\nranking by %s (%lld batches, %lld evaluations, %.1f s); all quantized %.2f dB\n",
                sensitivity_measure_name(m), static_cast<long long>(rank->num_batches),
                static_cast<long long>(rank->evaluations), seconds_since(t0),
                rank->all_quantized_sqnr_db);
    for (size_t i = 0; i < rank->layers.size() && i < 10; ++i)
      std::printf("  %2zu %-40s %-18s %8.2f dB (%zu points)\n", i + 1,
                  rank->layers[i].layer.name.c_str(), rank->layers[i].layer.op_type.c_str(),
                  rank->layers[i].sqnr_db, rank->layers[i].layer.points.size());
    std::printf("  amp_num  top-1    drop   layer added\n");
    for (int k = 0; k <= amp_max; ++k) {
      restore();
      for (int i = 0; i < k && i < static_cast<int>(rank->layers.size()); ++i)
        for (const std::string& v : rank->layers[static_cast<size_t>(i)].layer.points)
          sim.set_enabled(v, false);
      auto acc = top1(sim);
      ASSERT_TRUE(acc.ok());
      std::printf("  %7d  %6.2f  %6.2f   %s\n", k, *acc, *fp32 - *acc,
                  k == 0 ? "-" : rank->layers[static_cast<size_t>(k - 1)].layer.name.c_str());
    }
    restore();
  }

  // The budget search, as the CLI would run it (accuracy on the evaluation set).
  BudgetOptions bo;
  bo.max_drop_points = max_drop;
  metric_calls = 0;
  const auto t0 = std::chrono::steady_clock::now();
  auto r = fallback_to_budget(sim, calib_src, bo, tune_top1);
  ASSERT_TRUE(r.ok()) << r.status().message();
  std::printf("\nbudget --max-drop %.2f: %s; fp32 %.2f, target %.2f, final %.2f; %lld metric "
              "evaluations (+%lld ranking passes), %.1f s\n",
              max_drop, r->budget_met ? "met" : "NOT met", *r->fp32_metric, r->target,
              r->final_metric, static_cast<long long>(r->evaluations),
              static_cast<long long>(r->ranking.evaluations), seconds_since(t0));
  for (const FallbackStep& s : r->steps)
    std::printf("  %-9s %-40s %6.2f  float layers %d%s\n", fallback_action_name(s.action),
                s.layer.c_str(), s.metric, s.num_float, s.budget_met ? "  (met)" : "");
  for (const LayerSensitivity& l : r->fallbacks)
    std::printf("  in float: %s (%s, %.2f dB alone)\n", l.layer.name.c_str(), l.layer.op_type.c_str(),
                l.sqnr_db);
  if (!r->note.empty()) std::printf("  %s\n", r->note.c_str());
  if (tune_on_train) {
    auto final_test = top1(sim);
    ASSERT_TRUE(final_test.ok());
    std::printf("  (budget measured on train 50000-59999) test top-1 after: %.2f (drop %.2f)\n",
                *final_test, *fp32 - *final_test);
  }
}

}  // namespace
}  // namespace quench
