// quench_cle_bench: cross-layer equalization against per-tensor weight quantization collapse, on
// the Fashion-MNIST test set.
//
//   build/bench/quench_cle_bench [--limit 10000] [--threads N] [--write-variant out.onnx]
//
// Models: the MobileNetV2 zoo model, and a function-preserving variant of it built here
// (make_collapse_variant): the last inverted-residual block has no residual, so its linear 1x1
// projection conv feeds the 1x1 head conv directly; the projection's output channels are
// multiplied by factors spread log-uniformly over 1e-2 .. 1e2 (shuffled) and the head conv's
// input channels by the inverse. The FP32 function is unchanged up to float rounding (checked:
// the program fails if the test-set predictions differ), but a per-tensor int8 grid for either
// weight, and the per-tensor uint8 grid of the projection's output, round the small channels
// away: the classic failure that CLE repairs. --write-variant saves the variant as ONNX.
//
// For both models, W8A8 (int8 symmetric weights, uint8 min-max activations, int32 biases),
// calibrated on the first 512 training images, top-1 on the first `limit` test images:
//   per-channel                  the default, for reference
//   per-tensor                   plain
//   per-tensor + CLE             equalize_model on the BN-folded model: only the direct
//                                conv -> conv link (Clip(0,6) blocks the others)
//   per-tensor + CLE + HBA       + high-bias absorption with measured statistics (the zoo model's
//                                BN was folded at export: no gamma / beta)
//   relu6->relu (FP32)           convert_relu6_to_relu changes the function: its own FP32 row
//   relu6->relu per-tensor (+ CLE, + CLE + HBA)   equalization through every block
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "algo/cle.h"
#include "data/dataset.h"
#include "ir/clone.h"
#include "ir/passes.h"
#include "onnx/onnx_io.h"
#include "algo/layer_data.h"
#include "bench_util.h"
#include "runtime/optimize.h"
#include "sim/quantsim.h"

namespace {

using namespace quench;

constexpr int64_t kCalibSamples = 512;
constexpr int64_t kBatch = 256;

// The test images with their labels.
using Eval = bench::LabeledBatches;

template <class Run>
Result<std::vector<int64_t>> predictions(const Eval& e, Run run) {
  std::vector<int64_t> pred;
  for (const Executor::Feeds& f : e.x) {
    QUENCH_ASSIGN_OR_RETURN(std::vector<Tensor> out, run(f));
    const float* p = out[0].data<float>();
    const int64_t n = out[0].dim(0), k = out[0].dim(1);
    for (int64_t i = 0; i < n; ++i)
      pred.push_back(std::max_element(p + i * k, p + (i + 1) * k) - (p + i * k));
  }
  return pred;
}

double accuracy(const Eval& e, const std::vector<int64_t>& pred) {
  int64_t right = 0, i = 0;
  for (const auto& ys : e.y)
    for (int64_t y : ys) right += pred[static_cast<size_t>(i++)] == y;
  return 100.0 * static_cast<double>(right) / static_cast<double>(i);
}

// See the file comment. Returns the two layers' names.
Result<std::pair<std::string, std::string>> make_collapse_variant(Model& m, uint32_t seed = 1) {
  Graph& g = *m.graph;
  for (Node* a : g.nodes()) {
    if (a->op_type != "Conv" || a->attr_int("group", 1) != 1 || a->num_inputs() < 3) continue;
    Value* y = a->outputs[0];
    if (y->consumers.size() != 1) continue;
    Node* b = y->consumers[0];
    if (b->op_type != "Conv" || b->attr_int("group", 1) != 1 || b->inputs[0] != y) continue;
    const Tensor wa = a->inputs[1]->constant, ba = a->inputs[2]->constant,
                 wb = b->inputs[1]->constant;
    const int64_t c = wa.dim(0), per_a = wa.numel() / c, cout_b = wb.dim(0),
                  sp_b = wb.numel() / (cout_b * c);
    std::vector<int64_t> perm(static_cast<size_t>(c));
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), std::mt19937(seed));
    std::vector<float> nwa(wa.data<float>(), wa.data<float>() + wa.numel());
    std::vector<float> nba(ba.data<float>(), ba.data<float>() + ba.numel());
    std::vector<float> nwb(wb.data<float>(), wb.data<float>() + wb.numel());
    for (int64_t ch = 0; ch < c; ++ch) {
      const double f =
          std::pow(10.0, -2.0 + 4.0 * static_cast<double>(perm[ch]) / static_cast<double>(c - 1));
      for (int64_t k = 0; k < per_a; ++k)
        nwa[ch * per_a + k] = static_cast<float>(nwa[ch * per_a + k] * f);
      nba[ch] = static_cast<float>(nba[ch] * f);
      for (int64_t o = 0; o < cout_b; ++o)
        for (int64_t s = 0; s < sp_b; ++s) {
          float& w = nwb[(o * c + ch) * sp_b + s];
          w = static_cast<float>(w / f);
        }
    }
    a->inputs[1]->constant = Tensor::from_vector<float>(wa.shape(), nwa);
    a->inputs[2]->constant = Tensor::from_vector<float>(ba.shape(), nba);
    b->inputs[1]->constant = Tensor::from_vector<float>(wb.shape(), nwb);
    return std::make_pair(a->name, b->name);
  }
  return Status::invalid("no Conv -> Conv link without activation in the model");
}

struct Options {
  int64_t limit = 10000;
  int threads = 0;
  std::string write_variant;
};

Result<double> quantized_accuracy(const Model& m, const Eval& test,
                                  const std::vector<Executor::Feeds>& calib, bool per_tensor,
                                  const Options& o) {
  QuantConfig c = default_quant_config();
  if (per_tensor) c.weight.spec.granularity = Granularity::kPerTensor;
  QuantSimOptions so;
  so.num_threads = o.threads;
  QUENCH_ASSIGN_OR_RETURN(auto sim,
                          QuantSim::create(std::make_shared<const Model>(clone_model(m)), c, so));
  QUENCH_RETURN_IF_ERROR(sim->compute_encodings([&](int64_t i) -> Result<Executor::Feeds> {
    return i < static_cast<int64_t>(calib.size()) ? calib[static_cast<size_t>(i)]
                                                  : Executor::Feeds{};
  }));
  QUENCH_ASSIGN_OR_RETURN(auto pred,
                          predictions(test, [&](const Executor::Feeds& f) { return sim->run(f); }));
  return accuracy(test, pred);
}

Result<std::vector<int64_t>> fp32_predictions(const Model& m, const Eval& test, const Options& o) {
  QUENCH_ASSIGN_OR_RETURN(auto exec, Executor::create(std::make_shared<const Model>(clone_model(m)),
                                                      {.num_threads = o.threads}));
  return predictions(test, [&](const Executor::Feeds& f) { return exec->run(f); });
}

Status run(const Options& o) {
  QUENCH_ASSIGN_OR_RETURN(Eval test, bench::load_fashion(bench::kTestImages, bench::kTestLabels, o.limit, kBatch));
  QUENCH_ASSIGN_OR_RETURN(bench::LabeledBatches calib,
                          bench::load_fashion(bench::kTrainImages, "", kCalibSamples, kBatch));
  BatchSource calib_source = replay_batches(calib.x);
  QUENCH_ASSIGN_OR_RETURN(Model zoo, onnx::load_model(std::string(QUENCH_SOURCE_DIR) +
                                                      "/models/zoo/mobilenetv2_fmnist.onnx"));
  optimize_for_inference(zoo);
  Model variant = clone_model(zoo);
  QUENCH_ASSIGN_OR_RETURN(auto layers, make_collapse_variant(variant));
  fmt::print("variant: output channels of {} x 1e-2..1e2, input channels of {} / the same\n",
             layers.first, layers.second);
  if (!o.write_variant.empty()) {
    QUENCH_RETURN_IF_ERROR(onnx::save_model(variant, o.write_variant));
    fmt::print("variant written to {}\n", o.write_variant);
  }
  QUENCH_ASSIGN_OR_RETURN(auto zoo_pred, fp32_predictions(zoo, test, o));
  QUENCH_ASSIGN_OR_RETURN(auto var_pred, fp32_predictions(variant, test, o));
  int64_t differ = 0;
  for (size_t i = 0; i < zoo_pred.size(); ++i) differ += zoo_pred[i] != var_pred[i];
  fmt::print("variant FP32 predictions differing from the zoo model's: {} of {}\n", differ,
             zoo_pred.size());
  if (differ > 0) return Status::internal("the variant is not function-preserving");

  for (auto [name, base] :
       {std::pair<const char*, const Model*>{"mobilenetv2 (zoo)", &zoo},
        std::pair<const char*, const Model*>{"mobilenetv2 collapse variant", &variant}}) {
    fmt::print("\n{} ({} test images, {} calibration images)\n", name, o.limit, kCalibSamples);
    auto row = [&](const std::string& what, double acc, const std::string& extra = "") {
      fmt::print("  {:40s} {:6.2f}{}\n", what, acc, extra);
      std::fflush(stdout);
    };
    QUENCH_ASSIGN_OR_RETURN(auto fp, fp32_predictions(*base, test, o));
    row("FP32", accuracy(test, fp));
    QUENCH_ASSIGN_OR_RETURN(double pc, quantized_accuracy(*base, test, calib.x, false, o));
    row("W8A8 per-channel", pc);
    QUENCH_ASSIGN_OR_RETURN(double pt, quantized_accuracy(*base, test, calib.x, true, o));
    row("W8A8 per-tensor", pt);
    for (bool relu : {false, true}) {
      Model m = clone_model(*base);
      std::string prefix;
      if (relu) {
        RewriteReport rr = convert_relu6_to_relu(m);
        prefix = "relu6->relu ";
        QUENCH_ASSIGN_OR_RETURN(auto p, fp32_predictions(m, test, o));
        row(prefix + "FP32", accuracy(test, p), fmt::format("  ({} Clip -> Relu)", rr.converted));
        QUENCH_ASSIGN_OR_RETURN(double a, quantized_accuracy(m, test, calib.x, true, o));
        row(prefix + "W8A8 per-tensor", a);
      }
      for (bool hba : {false, true}) {
        Model e = clone_model(m);
        CleOptions co;
        co.high_bias_absorption = hba;
        co.num_threads = o.threads;
        QUENCH_ASSIGN_OR_RETURN(CleReport r,
                                equalize_model(e, co, {}, hba ? calib_source : nullptr));
        QUENCH_ASSIGN_OR_RETURN(auto p, fp32_predictions(e, test, o));
        QUENCH_ASSIGN_OR_RETURN(double a, quantized_accuracy(e, test, calib.x, true, o));
        row(prefix + (hba ? "W8A8 per-tensor + CLE + HBA" : "W8A8 per-tensor + CLE"), a,
            fmt::format(
                "  (FP32 after: {:.2f}; {} pairs, {} triples, {} sweeps, {} channels absorbed)",
                accuracy(test, p), r.pairs, r.triples, r.iterations, r.absorbed_channels));
      }
    }
  }
  return Status();
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--limit")
      o.limit = std::stoll(v);
    else if (a == "--threads")
      o.threads = std::stoi(v);
    else if (a == "--write-variant")
      o.write_variant = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  Status s = run(o);
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.message().c_str());
    return 1;
  }
  return 0;
}
