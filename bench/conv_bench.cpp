// Micro-benchmarks of the oneDNN conv / pool / gemm kernels against their reference loops, side by
// side in one process:
//   ref       quench's reference loops (set_dnnl_enabled(false))
//   plain     oneDNN, plain NCHW input and output (reorders inside the kernel when oneDNN prefers
//             another layout)
//   blocked   oneDNN, input already in the layout the previous conv left, output left blocked
//             (what the executor does between consecutive convolutions)
//
//   quench_microbench --benchmark_filter=Conv
#include <benchmark/benchmark.h>

#include <memory>
#include <random>

#include "core/parallel.h"
#include "ir/graph.h"
#include "runtime/kernel.h"
#include "runtime/kernels/dnnl_kernels.h"
#include "runtime/registry.h"

namespace quench {
namespace {

Tensor random_tensor(const Shape& shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  Tensor t = Tensor::empty(DType::kFloat32, shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

Attribute ints_attr(const std::string& name, std::vector<int64_t> v) {
  Attribute a;
  a.name = name;
  a.type = AttrType::kInts;
  a.ints = std::move(v);
  return a;
}

// One node with constant weights and its kernel, created as the executor does.
struct OneOp {
  Graph graph;
  Node* node = nullptr;
  std::unique_ptr<OpKernel> kernel;
  std::vector<Tensor> inputs;

  OneOp(const std::string& op, std::vector<Attribute> attrs, std::vector<Tensor> ins, bool dnnl,
        bool fuse_relu) {
    inputs = std::move(ins);
    std::vector<Value*> vals;
    for (size_t i = 0; i < inputs.size(); ++i) {
      Value* v = graph.get_or_add_value("in" + std::to_string(i));
      if (i > 0) v->constant = inputs[i];
      vals.push_back(v);
    }
    Value* out = graph.get_or_add_value("out");
    node = graph.add_node(op, "bench", vals, {out});
    node->attributes = std::move(attrs);
    Node* act = fuse_relu ? graph.add_node("Relu", "relu", {out}, {graph.get_or_add_value("r")}) : nullptr;
    std::vector<const Tensor*> consts{nullptr};
    for (size_t i = 1; i < inputs.size(); ++i) consts.push_back(&inputs[i]);
    set_dnnl_enabled(dnnl);
    auto k = find_kernel("", op, 17, DType::kFloat32)->create(KernelInfo{*node, 17, consts, act});
    set_dnnl_enabled(true);
    kernel = std::move(k).value();
  }

  Tensor run(const Tensor& x, bool blocked_out) {
    std::vector<const Tensor*> ptrs{&x};
    for (size_t i = 1; i < inputs.size(); ++i) ptrs.push_back(&inputs[i]);
    std::vector<Tensor> outs(1);
    KernelContext ctx(*node, ptrs, outs, std::vector<bool>(ptrs.size(), false), blocked_out);
    Status s = kernel->compute(ctx);
    if (!s.ok()) std::abort();  // benchmark inputs are fixed and valid
    return outs[0];
  }
};

enum Mode { kRef = 0, kPlain = 1, kBlocked = 2 };
const char* mode_name(int64_t m) { return m == kRef ? "ref" : m == kPlain ? "plain" : "blocked"; }

// args: mode, batch, channels in, channels out, spatial, kernel, stride
void BM_Conv(benchmark::State& state) {
  const int mode = static_cast<int>(state.range(0));
  const int64_t n = state.range(1), c = state.range(2), m = state.range(3), hw = state.range(4);
  const int64_t k = state.range(5), s = state.range(6);
  const int64_t p = k / 2;
  std::vector<Attribute> attrs{ints_attr("pads", {p, p, p, p}), ints_attr("strides", {s, s})};
  Tensor x = random_tensor({n, c, hw, hw}, 1);
  OneOp conv("Conv", attrs, {x, random_tensor({m, c, k, k}, 2), random_tensor({m}, 3)}, mode != kRef, true);
  Tensor src = x;
  if (mode == kBlocked) {
    // The input as a previous conv would leave it: a c -> c 1x1 conv with blocked output.
    Tensor wid = Tensor::zeros(DType::kFloat32, {c, c, 1, 1});
    for (int64_t i = 0; i < c; ++i) wid.data<float>()[i * c + i] = 1.0f;
    OneOp producer("Conv", {}, {x, wid}, true, false);
    src = producer.run(x, true);
  }
  conv.run(src, mode == kBlocked);  // first run builds the plan and packs the weights
  for (auto _ : state) {
    Tensor y = conv.run(src, mode == kBlocked);
    benchmark::DoNotOptimize(y.raw_data());
  }
  const double flops = 2.0 * n * m * c * k * k * (hw / s) * (hw / s);
  state.counters["GFLOPS"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate,
                                                benchmark::Counter::kIs1000);
  state.SetLabel(std::string(mode_name(mode)) + " in_layout=" + dnnl_layout_name(src));
}

// ResNet-50 layers at batch 8 (the reference loops are too slow for batch 64 here): the stage-1
// 3x3 conv, a stage-1 1x1 expansion and the stage-3 3x3 conv.
BENCHMARK(BM_Conv)
    ->ArgNames({"mode", "n", "c", "m", "hw", "k", "s"})
    ->ArgsProduct({{kRef, kPlain, kBlocked}, {8}, {64}, {64}, {56}, {3}, {1}})
    ->ArgsProduct({{kPlain, kBlocked}, {8}, {64}, {256}, {56}, {1}, {1}})
    ->ArgsProduct({{kPlain, kBlocked}, {8}, {256}, {64}, {56}, {1}, {1}})
    ->ArgsProduct({{kPlain, kBlocked}, {8}, {512}, {2048}, {7}, {1}, {1}})
    ->ArgsProduct({{kRef, kPlain, kBlocked}, {8}, {256}, {256}, {14}, {3}, {1}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_MaxPool(benchmark::State& state) {
  const int mode = static_cast<int>(state.range(0));
  Tensor x = random_tensor({8, 64, 112, 112}, 4);
  OneOp pool("MaxPool",
             {ints_attr("kernel_shape", {3, 3}), ints_attr("strides", {2, 2}), ints_attr("pads", {1, 1, 1, 1})},
             {x}, mode != kRef, false);
  Tensor src = x;
  if (mode == kBlocked) {
    Tensor wid = Tensor::zeros(DType::kFloat32, {64, 64, 1, 1});
    for (int64_t i = 0; i < 64; ++i) wid.data<float>()[i * 64 + i] = 1.0f;
    OneOp producer("Conv", {}, {x, wid}, true, false);
    src = producer.run(x, true);
  }
  for (auto _ : state) {
    Tensor y = pool.run(src, mode == kBlocked);
    benchmark::DoNotOptimize(y.raw_data());
  }
  state.SetLabel(mode_name(mode));
}
BENCHMARK(BM_MaxPool)->Arg(kRef)->Arg(kPlain)->Arg(kBlocked)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_Gemm(benchmark::State& state) {
  const int mode = static_cast<int>(state.range(0));
  const int64_t m = state.range(1), k = state.range(2), n = state.range(3);
  Attribute tb;
  tb.name = "transB";
  tb.type = AttrType::kInt;
  tb.i = 1;
  Tensor a = random_tensor({m, k}, 5);
  OneOp gemm("Gemm", {tb}, {a, random_tensor({n, k}, 6), random_tensor({n}, 7)}, mode != kRef, false);
  for (auto _ : state) {
    Tensor y = gemm.run(a, false);
    benchmark::DoNotOptimize(y.raw_data());
  }
  state.counters["GFLOPS"] = benchmark::Counter(2.0 * m * n * k, benchmark::Counter::kIsIterationInvariantRate,
                                                benchmark::Counter::kIs1000);
  state.SetLabel(mode_name(mode));
}
// The ResNet-50 classifier at batch 64.
BENCHMARK(BM_Gemm)->Args({kRef, 64, 2048, 1000})->Args({kPlain, 64, 2048, 1000})->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace quench
