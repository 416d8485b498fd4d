// quench_adaround_bench: AdaRound's speed against PyTorch, and its accuracy against round-to-nearest.
//
//   build/bench/quench_adaround_bench speed [--layers resnet_conv,mbv2_dw,fc] [--iterations 2000]
//       [--samples 1024] [--threads N] [--reps 1]
//   build/bench/quench_adaround_bench accuracy [--models resnet_fmnist,mobilenetv2_fmnist]
//       [--calib 1024] [--iterations 0] [--samples 1024] [--order act-first|weights-first]
//       [--threads N]
//
// speed: for each layer preset, the same per-layer optimisation (same shapes, iterations, batch 32,
// cached samples, W4 per-channel grid, following activation) runs in quench (AdaRoundLayer::optimize)
// and in PyTorch (bench/adaround_torch.py, autograd + Adam, spawned from this process with
// torch.set_num_threads equal to quench's threads), one after the other; the loop times and the
// ratio torch / quench are printed (best of --reps for each).
// accuracy: W4A8 (4-bit signed symmetric per-channel weights, 8-bit min-max activations), the
// first --calib Fashion-MNIST training images for calibration and AdaRound; top-1 on the 10k test
// images with round-to-nearest and with AdaRound, and AdaRound's wall time. --order act-first
// computes the activation encodings first (AdaRound then sees quantized inputs) and again after;
// weights-first is AIMET's flow (AdaRound on a weights-only sim, then the activation encodings).
#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "algo/adaround.h"
#include "bench_util.h"
#include "algo/layer_data.h"
#include "core/parallel.h"
#include "data/dataset.h"
#include "onnx/onnx_io.h"
#include "quant/quantize.h"

extern char** environ;

namespace {

using namespace quench;
namespace fs = std::filesystem;

using namespace quench::bench;


struct Options {
  std::string mode = "speed";
  std::vector<std::string> layers = {"resnet_conv", "mbv2_dw", "fc"};
  std::vector<std::string> models = {"resnet_fmnist", "mobilenetv2_fmnist"};
  int64_t iterations = -1;  // speed: 2000; accuracy: 0 (AIMET default)
  int64_t samples = 1024;
  int64_t calib = 1024;
  int threads = 0;
  int reps = 1;
  std::string order = "act-first";
};

// ---- speed ------------------------------------------------------------------------------------

struct Preset {
  const char* name;
  const char* op;  // "conv" / "gemm" (the torch script's --op)
  int64_t cin, cout, k, hw, stride, pad, groups;
  const char* act;  // "none" / "relu" / "relu6"
  const char* what;
};

const Preset kPresets[] = {
    {"resnet_conv", "conv", 16, 16, 3, 28, 1, 1, 1, "relu", "resnet_fmnist block 1 conv: 16->16 3x3 @28x28 + Relu"},
    {"mbv2_dw", "conv", 96, 96, 3, 14, 1, 1, 96, "relu6", "mobilenetv2 depthwise: 96 ch 3x3 @14x14 + ReLU6"},
    {"fc", "gemm", 64, 10, 1, 1, 1, 0, 1, "none", "resnet_fmnist classifier: Gemm 64->10"},
};

// Runs the torch script and returns its loop time.
Result<double> run_torch(const Preset& p, const Options& o, int threads) {
  const std::string script = (fs::path(QUENCH_SOURCE_DIR) / "bench" / "adaround_torch.py").string();
  std::vector<std::string> args = {"/usr/bin/python3", script, "--op", p.op, "--cin", std::to_string(p.cin),
                                   "--cout", std::to_string(p.cout), "--k", std::to_string(p.k),
                                   "--hw", std::to_string(p.hw), "--stride", std::to_string(p.stride),
                                   "--pad", std::to_string(p.pad), "--groups", std::to_string(p.groups),
                                   "--act", p.act, "--samples", std::to_string(o.samples),
                                   "--iterations", std::to_string(o.iterations), "--threads",
                                   std::to_string(threads)};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int fds[2];
  if (pipe(fds) != 0) return Status::io_error("pipe failed");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    return Status::io_error("cannot start /usr/bin/python3: " + std::string(std::strerror(rc)));
  }
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return Status::io_error("adaround_torch.py failed (is python3-torch installed?)");
  auto j = nlohmann::json::parse(out, nullptr, false);
  if (j.is_discarded() || !j.contains("seconds")) return Status::io_error("adaround_torch.py printed: " + out);
  return j["seconds"].get<double>();
}

Result<double> run_quench(const Preset& p, const Options& o) {
  // The layer as a one-node model, for its attributes.
  Model m;
  Graph& g = *m.graph;
  const bool conv = std::string(p.op) == "conv";
  Shape w_shape = conv ? Shape{p.cout, p.cin / p.groups, p.k, p.k} : Shape{p.cout, p.cin};
  Tensor w = Tensor::empty(DType::kFloat32, w_shape), b = Tensor::empty(DType::kFloat32, {p.cout});
  uint32_t state = 1;
  auto rnd = [&] {
    state = state * 1664525u + 1013904223u;
    return static_cast<float>(state >> 8) / 16777216.0f;
  };
  for (int64_t i = 0; i < w.numel(); ++i) w.data<float>()[i] = (rnd() - 0.5f) * 0.6f;
  for (int64_t i = 0; i < b.numel(); ++i) b.data<float>()[i] = (rnd() - 0.5f) * 0.2f;
  Value* x = g.get_or_add_value("x");
  Value* wv = g.get_or_add_value("w");
  Value* bv = g.get_or_add_value("b");
  Value* y = g.get_or_add_value("y");
  Node* node = g.add_node(conv ? "Conv" : "Gemm", "layer", {x, wv, bv}, {y});
  auto ints = [](const char* n, std::vector<int64_t> v) {
    Attribute a;
    a.name = n;
    a.type = AttrType::kInts;
    a.ints = std::move(v);
    return a;
  };
  if (conv) {
    node->attributes = {ints("strides", {p.stride, p.stride}), ints("pads", {p.pad, p.pad, p.pad, p.pad})};
    Attribute grp;
    grp.name = "group";
    grp.type = AttrType::kInt;
    grp.i = p.groups;
    node->attributes.push_back(grp);
  } else {
    Attribute tb;
    tb.name = "transB";
    tb.type = AttrType::kInt;
    tb.i = 1;
    node->attributes.push_back(tb);
  }
  QuantSpec spec;
  spec.bits = 4;
  spec.granularity = Granularity::kPerChannel;
  spec.axis = 0;
  std::vector<float> mn(static_cast<size_t>(p.cout), 0.0f), mx(static_cast<size_t>(p.cout), 0.0f);
  const int64_t per = w.numel() / p.cout;
  for (int64_t i = 0; i < w.numel(); ++i) {
    mn[static_cast<size_t>(i / per)] = std::min(mn[static_cast<size_t>(i / per)], w.data<float>()[i]);
    mx[static_cast<size_t>(i / per)] = std::max(mx[static_cast<size_t>(i / per)], w.data<float>()[i]);
  }
  AdaRoundLayer::Spec s;
  s.node = node;
  s.weight = w;
  s.bias = b;
  QUENCH_ASSIGN_OR_RETURN(s.encoding, encoding_from_range(spec, mn, mx));
  if (std::string(p.act) == "relu") s.activation.kind = ActivationKind::kRelu;
  if (std::string(p.act) == "relu6") s.activation = {ActivationKind::kClip, 0.0f, 6.0f};
  s.sample_input = conv ? Shape{p.cin, p.hw, p.hw} : Shape{p.cin};
  s.batch = 32;
  QUENCH_ASSIGN_OR_RETURN(auto layer, AdaRoundLayer::create(s));
  std::vector<float> xs(static_cast<size_t>(o.samples * layer->sample_input_numel()));
  std::vector<float> ts(static_cast<size_t>(o.samples * layer->sample_output_numel()));
  for (float& v : xs) v = rnd();
  for (float& v : ts) v = rnd();
  AdaRoundSchedule sch;
  sch.iterations = o.iterations;
  QUENCH_ASSIGN_OR_RETURN(LayerOutcome r, layer->optimize(LayerSamples{xs.data(), ts.data(), o.samples}, sch));
  return r.seconds;
}

int run_speed(const Options& o) {
  const int threads = num_threads();
  fmt::print("AdaRound per-layer optimisation: quench vs PyTorch (autograd + Adam), {} iterations, batch 32, "
             "{} cached samples, {} thread(s)\n",
             o.iterations, o.samples, threads);
  fmt::print("{:<12} {:>10} {:>10} {:>12} {:>14}  {}\n", "layer", "quench s", "torch s", "torch/quench",
             "quench ms/it", "shape");
  bool ok = true;
  for (const std::string& name : o.layers) {
    const Preset* p = nullptr;
    for (const Preset& q : kPresets)
      if (name == q.name) p = &q;
    if (!p) {
      fmt::print(stderr, "unknown layer preset '{}'\n", name);
      return 2;
    }
    double tq = 1e30, tt = 1e30;
    // The machine is shared: quench and torch alternate (q,t / t,q / ...), the best of each counts.
    for (int r = 0; r < o.reps; ++r) {
      for (int side = 0; side < 2; ++side) {
        if ((side == 0) == (r % 2 == 0)) {
          auto q = run_quench(*p, o);
          if (!q.ok()) {
            fmt::print(stderr, "quench: {}\n", q.status().message());
            return 1;
          }
          tq = std::min(tq, *q);
        } else {
          auto t = run_torch(*p, o, threads);
          if (!t.ok()) {
            fmt::print(stderr, "torch: {}\n", t.status().message());
            return 1;
          }
          tt = std::min(tt, *t);
        }
      }
    }
    ok &= tt >= tq;
    fmt::print("{:<12} {:>10.2f} {:>10.2f} {:>12.2f} {:>14.3f}  {}\n", p->name, tq, tt, tt / tq,
               1e3 * tq / static_cast<double>(o.iterations), p->what);
  }
  fmt::print("quench at least as fast as torch on every layer: {}\n", ok ? "yes" : "NO");
  return 0;
}

// ---- accuracy ---------------------------------------------------------------------------------

QuantConfig w4a8() {
  QuantConfig c = default_quant_config();  // per-channel symmetric weights, min-max uint8 activations
  c.weight.spec.bits = 4;
  return c;
}

Status run_model(const Options& o, const std::string& name) {
  const std::string path = (fs::path(QUENCH_SOURCE_DIR) / "models" / "zoo" / (name + ".onnx")).string();
  QUENCH_ASSIGN_OR_RETURN(Model loaded, onnx::load_model(path));
  auto model = std::make_shared<const Model>(std::move(loaded));
  QUENCH_ASSIGN_OR_RETURN(LabeledBatches calib, load_fashion(kTrainImages, "", o.calib, 32));
  QUENCH_ASSIGN_OR_RETURN(LabeledBatches test, load_fashion(kTestImages, kTestLabels, 10000, 500));
  BatchSource src = replay_batches(calib.x);
  auto accuracy = [&test](QuantSim& s) { return top1(test, [&s](const Executor::Feeds& f) { return s.run(f); }); };

  QUENCH_ASSIGN_OR_RETURN(auto sim, QuantSim::create(model, w4a8()));
  sim->set_bypass(true);
  QUENCH_ASSIGN_OR_RETURN(double acc_fp32, accuracy(*sim));
  sim->set_bypass(false);
  QUENCH_RETURN_IF_ERROR(sim->compute_encodings(src));
  QUENCH_ASSIGN_OR_RETURN(double acc_nearest, accuracy(*sim));

  QUENCH_ASSIGN_OR_RETURN(auto ada, QuantSim::create(model, w4a8()));
  const bool act_first = o.order == "act-first";
  if (act_first) QUENCH_RETURN_IF_ERROR(ada->compute_encodings(src));
  AdaRoundOptions ao;
  ao.num_samples = o.samples;
  ao.iterations = o.iterations;
  ao.warn = [](const std::string& w) { fmt::print(stderr, "warning: {}\n", w); };
  const bool tty = isatty(2);
  ao.progress = [tty](const std::string& layer, int64_t it, int64_t total) {
    if (tty) fmt::print(stderr, "\r  adaround {:<24} {:>6}/{}", layer, it, total);
  };
  const double t0 = now_seconds();
  QUENCH_ASSIGN_OR_RETURN(AdaRoundReport r, adaround(*ada, src, ao));
  const double wall = now_seconds() - t0;
  if (tty) fmt::print(stderr, "\n");
  QUENCH_RETURN_IF_ERROR(ada->compute_encodings(src));
  QUENCH_ASSIGN_OR_RETURN(double acc_ada, accuracy(*ada));

  fmt::print("\n{}: W4A8 per-channel, {} calibration images, {} iterations/layer, {} cached samples, order {}\n",
             name, o.calib, r.iterations, r.samples, o.order);
  fmt::print("  {:<28} {:<10} {:>12} {:>12} {:>12} {:>7} {:>7} {:>8}\n", "layer", "act", "recon near",
             "recon soft", "recon ada", "up%", "chg%", "s");
  for (const AdaRoundLayerReport& l : r.layers)
    fmt::print("  {:<28} {:<10} {:>12.5g} {:>12.5g} {:>12.5g} {:>7.1f} {:>7.1f} {:>8.1f}{}\n", l.node,
               l.activation, l.outcome.recon_nearest, l.outcome.recon_soft, l.outcome.recon_final,
               100 * l.outcome.up_fraction, 100 * l.outcome.changed_fraction, l.seconds,
               l.applied ? "" : "  (diverged: nearest kept)");
  fmt::print("  top-1: fp32 {:.2f}  nearest {:.2f}  adaround {:.2f}  (drop vs fp32: nearest {:.2f}, adaround {:.2f})\n",
             acc_fp32, acc_nearest, acc_ada, acc_fp32 - acc_nearest, acc_fp32 - acc_ada);
  fmt::print("  AdaRound wall time: {:.1f} s ({} threads)\n", wall, num_threads());
  return Status();
}

int run_accuracy(const Options& o) {
  for (const std::string& m : o.models) {
    Status s = run_model(o, m);
    if (!s.ok()) {
      fmt::print(stderr, "{}: {}\n", m, s.message());
      return 1;
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  int i = 1;
  if (argc > 1 && argv[1][0] != '-') o.mode = argv[i++];
  for (; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] { return option_value(argc, argv, i); };
    if (a == "--layers") o.layers = split_list(next());
    else if (a == "--models") o.models = split_list(next());
    else if (a == "--iterations") o.iterations = std::stoll(next());
    else if (a == "--samples") o.samples = std::stoll(next());
    else if (a == "--calib") o.calib = std::stoll(next());
    else if (a == "--threads") o.threads = std::stoi(next());
    else if (a == "--reps") o.reps = std::max(1, std::stoi(next()));
    else if (a == "--order") o.order = next();
    else {
      fmt::print(stderr, "unknown option {}\n", a);
      return 2;
    }
  }
  set_num_threads(o.threads);
  if (o.mode == "speed") {
    if (o.iterations < 0) o.iterations = 2000;
    return run_speed(o);
  }
  if (o.mode == "accuracy") {
    if (o.iterations < 0) o.iterations = 0;
    if (o.order != "act-first" && o.order != "weights-first") {
      fmt::print(stderr, "--order must be act-first or weights-first\n");
      return 2;
    }
    return run_accuracy(o);
  }
  fmt::print(stderr, "mode must be speed or accuracy (got {})\n", o.mode);
  return 2;
}
