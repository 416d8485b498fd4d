// quench_keep_acc_bench: modelslim keep_acc ADMM and EasyQuant against round-to-nearest with
// min-max scales, at 4-bit weights, on the Fashion-MNIST test set.
//
//   build/bench/quench_keep_acc_bench [--models fashion_cnn,resnet_fmnist,mobilenetv2_fmnist,...]
//       [--granularity channel,tensor] [--methods nearest,admm,easy_quant] [--calib 512]
//       [--eq-samples 256] [--limit 10000] [--w-bits 4] [--a-bits 8] [--threads N] [--verbose]
//
// Config: modelslim label-free (quant_mode 1, act_method 1: min-max activations, uint8
// asymmetric on the layers' inputs; int4 symmetric weights, per channel or per tensor), with
// every layer quantized (modelslim keeps the first and last layer float when disable_names is
// empty; here they are quantized too, the harder case). Per model and granularity:
//   nearest     calibrated on the first `calib` training images; weights round-to-nearest on
//               their min-max grid (the baseline);
//   admm        the same, then admm_weights (scales refitted to the weights);
//   easy_quant  the same, then easy_quant on the first `eq-samples` calibration images
//               (easy_quant_w, easy_quant_a: its weight or input search alone);
//   admm+easy_quant  admm, then easy_quant from admm's weight scales.
// Each row gives the top-1 accuracy on the first `limit` test images and the algorithm's time;
// --verbose adds per-layer reports and the logits' cosine and norm ratio against FP32.
//
// Measured (10k test images, W4A8, --threads 1 on the shared 2-core machine), top-1 %:
//   model (FP32)          weights  nearest   admm   easy_quant
//   fashion_cnn (92.96)   channel   90.54   91.60     92.77
//                         tensor    90.03   90.91     87.81   (see easy_quant.cpp: known limit)
//   resnet_fmnist (89.85) channel   86.32   86.66     89.65
//                         tensor    76.94   78.05     87.04
//   mobilenetv2 (90.69)   channel   89.12   89.01     90.47
//                         tensor    63.60   89.06     89.68
//   vit_fmnist (85.31)    channel   85.17   84.96     85.12
//                         tensor    84.67   84.89     85.00
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "algo/admm.h"
#include "algo/easy_quant.h"
#include "algo/layer_data.h"
#include "bench_util.h"
#include "core/parallel.h"
#include "data/dataset.h"
#include "onnx/onnx_io.h"

namespace {

using namespace quench;

using namespace quench::bench;

struct Options {
  std::vector<std::string> models = {"fashion_cnn", "resnet_fmnist", "mobilenetv2_fmnist",
                                     "vit_fmnist"};
  std::vector<std::string> granularities = {"channel", "tensor"};
  std::vector<std::string> methods = {"nearest", "admm", "easy_quant"};
  int64_t calib = 512;
  int64_t eq_samples = 256;
  int64_t limit = 10000;
  int w_bits = 4;
  int a_bits = 8;
  int threads = 0;
  bool verbose = false;
};

BatchSource source_of(const LabeledBatches& im, size_t max_batches) {
  return replay_batches({im.x.begin(), im.x.begin() + static_cast<std::ptrdiff_t>(std::min(max_batches, im.x.size()))});
}

struct Score {
  double top1 = 0.0;         // %
  double logits_cos = 0.0;   // cosine of quantized and FP32 logits over the test set (verbose)
  double logits_norm = 0.0;  // ||quantized logits|| / ||FP32 logits|| (verbose)
};

Result<Score> accuracy(QuantSim& sim, const LabeledBatches& test, bool compare_fp32) {
  int64_t right = 0, total = 0;
  double dot = 0.0, qq = 0.0, ff = 0.0;
  for (size_t b = 0; b < test.x.size(); ++b) {
    QUENCH_ASSIGN_OR_RETURN(auto out, sim.run(test.x[b]));
    const Tensor& logits = out[0];
    if (compare_fp32) {
      QUENCH_ASSIGN_OR_RETURN(auto ref, sim.run_fp32(test.x[b]));
      for (int64_t i = 0; i < logits.numel(); ++i) {
        const double q = logits.data<float>()[i], f = ref[0].data<float>()[i];
        dot += q * f;
        qq += q * q;
        ff += f * f;
      }
    }
    const int64_t n = logits.dim(0), k = logits.dim(1);
    for (int64_t i = 0; i < n; ++i) {
      const float* row = logits.data<float>() + i * k;
      const int64_t arg = std::max_element(row, row + k) - row;
      right += arg == test.y[b][static_cast<size_t>(i)];
      ++total;
    }
  }
  Score s;
  s.top1 = 100.0 * double(right) / double(total);
  if (compare_fp32) {
    s.logits_cos = dot / std::sqrt(qq * ff);
    s.logits_norm = std::sqrt(qq / ff);
  }
  return s;
}

QuantConfig config_for(const Options& o, const std::string& granularity) {
  // modelslim label-free: the fields parse_modelslim_config sets for
  // {"w_bit": 4, "quant_mode": 1, "act_method": 1}, with no layer kept float.
  QuantConfig c;
  c.source = "modelslim";
  c.placement = Placement::kLayerInputs;
  c.weighted_op_types = {"Conv", "Gemm", "MatMul"};
  c.weight.spec.bits = o.w_bits;
  c.weight.spec.is_signed = true;
  c.weight.spec.symmetric = true;
  c.weight.spec.granularity =
      granularity == "tensor" ? Granularity::kPerTensor : Granularity::kPerChannel;
  c.weight.observer.method = CalibMethod::kMinMax;
  c.activation.spec.bits = o.a_bits;
  c.activation.spec.is_signed = false;
  c.activation.spec.symmetric = false;
  c.activation.observer.method = CalibMethod::kMinMax;
  c.input = c.activation;
  c.bias.spec.bits = 32;
  c.keep_first_last_float = false;
  return c;
}

Status run(const Options& o) {
  QUENCH_ASSIGN_OR_RETURN(LabeledBatches calib, load_fashion(kTrainImages, "", o.calib, 64));
  QUENCH_ASSIGN_OR_RETURN(LabeledBatches test, load_fashion(kTestImages, kTestLabels, o.limit, 500));
  const size_t eq_batches = static_cast<size_t>((o.eq_samples + 63) / 64);
  std::printf("%-20s %-8s %-15s %9s %9s\n", "model", "weights", "method", "top-1 %", "seconds");
  for (const std::string& name : o.models) {
    QUENCH_ASSIGN_OR_RETURN(Model m, onnx::load_model(model_path(name)));
    auto model = std::make_shared<const Model>(std::move(m));
    for (const std::string& g : o.granularities) {
      for (const std::string& method : o.methods) {
        QuantSimOptions so;
        so.num_threads = o.threads;
        QUENCH_ASSIGN_OR_RETURN(auto sim, QuantSim::create(model, config_for(o, g), so));
        QUENCH_RETURN_IF_ERROR(sim->compute_encodings(source_of(calib, calib.x.size())));
        const double t0 = now_seconds();
        const bool admm = method == "admm" || method == "admm+easy_quant";
        const bool eq = method == "easy_quant" || method == "easy_quant_w" ||
                        method == "easy_quant_a" || method == "admm+easy_quant";
        if (method != "nearest" && !admm && !eq)
          return Status::invalid("unknown method '" + method + "'");
        if (admm) {
          QUENCH_ASSIGN_OR_RETURN(AdmmReport r, admm_weights(*sim));
          if (o.verbose)
            for (const AdmmLayer& l : r.layers)
              std::fprintf(stderr, "  admm %-40s mse %.3g -> %.3g (%d steps)\n", l.node.c_str(),
                           l.mse_before, l.mse_after, l.max_steps);
        }
        if (eq) {
          // easy_quant_w / easy_quant_a: the weight or the input search alone (ablation).
          EasyQuantOptions eo;
          eo.search_inputs = method != "easy_quant_w";
          eo.search_weights = method != "easy_quant_a";
          if (o.verbose)
            eo.progress = [&](int64_t done, int64_t total) {
              std::fprintf(stderr, "  easy_quant layer %lld/%lld at %.1f s\n",
                           static_cast<long long>(done), static_cast<long long>(total), now_seconds() - t0);
            };
          QUENCH_ASSIGN_OR_RETURN(EasyQuantReport r,
                                  easy_quant(*sim, source_of(calib, eq_batches), eo));
          if (o.verbose)
            for (const EasyQuantLayer& l : r.layers)
              std::fprintf(stderr,
                           "  easy_quant %-40s cos %.5f -> %.5f norm %.3f -> %.3f input x%.3f "
                           "weight x%.3f, %d rounds\n",
                           l.node.c_str(), l.cos_before, l.cos_after, l.norm_ratio_before,
                           l.norm_ratio_after, l.input_factor, l.weight_factor, l.rounds);
        }
        const double seconds = now_seconds() - t0;
        QUENCH_ASSIGN_OR_RETURN(Score sc, accuracy(*sim, test, o.verbose));
        std::printf("%-20s %-8s %-15s %9.2f %9.1f", name.c_str(), g.c_str(), method.c_str(),
                    sc.top1, seconds);
        if (o.verbose) std::printf("   logits cos %.5f norm %.3f", sc.logits_cos, sc.logits_norm);
        std::printf("\n");
        std::fflush(stdout);
      }
    }
  }
  return Status();
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] { return option_value(argc, argv, i); };
    if (a == "--models") o.models = split_list(next());
    else if (a == "--granularity") o.granularities = split_list(next());
    else if (a == "--methods") o.methods = split_list(next());
    else if (a == "--calib") o.calib = std::stoll(next());
    else if (a == "--eq-samples") o.eq_samples = std::stoll(next());
    else if (a == "--limit") o.limit = std::stoll(next());
    else if (a == "--w-bits") o.w_bits = std::stoi(next());
    else if (a == "--a-bits") o.a_bits = std::stoi(next());
    else if (a == "--threads") o.threads = std::stoi(next());
    else if (a == "--verbose") o.verbose = true;
    else {
      std::fprintf(stderr, "quench_keep_acc_bench: unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (o.threads > 0) set_num_threads(o.threads);
  Status s = run(o);
  if (!s.ok()) {
    std::fprintf(stderr, "quench_keep_acc_bench: %s\n", s.message().c_str());
    return 1;
  }
  return 0;
}
