// Micro-benchmark of PowerOfTwoHistogram::add, the inner loop of every histogram observer, on
// what calibration feeds it: ReLU outputs (about half exact zeros, the rest half-normal) and
// signed normal values, in the batch sizes of the bundled model's activations.
//
//   quench_microbench --benchmark_filter=Histogram
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "calib/histogram.h"
#include "calib/observer.h"
#include "core/tensor.h"
#include "quant/quant_config.h"

namespace quench {
namespace {

std::vector<float> activation_values(int64_t n, bool relu, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) {
    x = dist(rng);
    if (relu && x < 0) x = 0;
  }
  return v;
}

// args: values per call, relu (1) or signed (0), sides kAbs (1) or kSigned (0)
void BM_HistogramAdd(benchmark::State& state) {
  const int64_t n = state.range(0);
  const std::vector<float> x = activation_values(n, state.range(1) != 0, 7);
  const auto sides = state.range(2) ? PowerOfTwoHistogram::Sides::kAbs : PowerOfTwoHistogram::Sides::kSigned;
  PowerOfTwoHistogram h(sides);
  for (auto _ : state) {
    bool ok = h.add(x.data(), n);
    benchmark::DoNotOptimize(ok);
  }
  state.SetItemsProcessed(state.iterations() * n);
}
// The same with the batch read from memory, not cache: calibration observes an activation right
// after a kernel wrote it, usually larger than the core's L2. Cycles through 32 batches.
void BM_HistogramAddCold(benchmark::State& state) {
  const int64_t n = state.range(0);
  std::vector<std::vector<float>> xs;
  for (uint32_t k = 0; k < 32; ++k) xs.push_back(activation_values(n, state.range(1) != 0, 7 + k));
  PowerOfTwoHistogram h(PowerOfTwoHistogram::Sides::kSigned);
  size_t k = 0;
  for (auto _ : state) {
    bool ok = h.add(xs[k].data(), n);
    benchmark::DoNotOptimize(ok);
    k = (k + 1) % xs.size();
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_HistogramAddCold)
    ->ArgNames({"n", "relu"})
    ->Args({64 * 128 * 14 * 14, 1})
    ->Args({64 * 128 * 14 * 14, 0})
    ->UseRealTime();

BENCHMARK(BM_HistogramAdd)
    ->ArgNames({"n", "relu", "abs"})
    ->Args({64 * 32 * 28 * 28, 1, 1})
    ->Args({64 * 64 * 14 * 14, 1, 1})
    ->Args({64 * 64 * 7 * 7, 1, 1})
    ->Args({64 * 64 * 7 * 7, 1, 0})
    ->Args({64 * 64 * 7 * 7, 0, 0})
    ->Args({64 * 64 * 7 * 7, 0, 1})
    ->Args({64 * 128, 1, 1})
    ->UseRealTime();

// The range search an observer runs once per quantizer at the end of calibration, after it saw
// 64 x 32 x 28 x 28 values, ReLU outputs or two-sided normal ones: the fixed cost that calibration
// adds per activation. args: CalibMethod, relu (1) or signed (0)
void BM_ObserverCompute(benchmark::State& state) {
  const auto method = static_cast<CalibMethod>(state.range(0));
  state.SetLabel(calib_method_name(method));
  const int64_t n = 64 * 32 * 28 * 28;
  const std::vector<float> x = activation_values(n, state.range(1) != 0, 3);
  Tensor t = Tensor::empty(DType::kFloat32, {n});
  std::copy(x.begin(), x.end(), t.data<float>());
  auto obs = make_observer(observer_config_for(method)).value();
  if (!obs->update(t).ok()) state.SkipWithError("update failed");
  QuantSpec spec;
  spec.bits = 8;
  spec.is_signed = false;
  spec.symmetric = false;
  for (auto _ : state) {
    auto e = obs->compute(spec);
    benchmark::DoNotOptimize(e);
  }
}
BENCHMARK(BM_ObserverCompute)
    ->ArgNames({"method", "relu"})
    ->ArgsProduct({benchmark::CreateDenseRange(static_cast<int>(CalibMethod::kPercentile),
                                               static_cast<int>(CalibMethod::kHfmg), 1),
                   {1, 0}})
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace quench
