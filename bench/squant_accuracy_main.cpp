// quench_squant_bench: SQuant against round-to-nearest, data-free, on the Fashion-MNIST test set.
//
//   build/bench/quench_squant_bench [--models fashion_cnn,resnet_fmnist,mobilenetv2_fmnist]
//       [--limit 10000] [--threads N] [--seed 0] [--random-batch 1] [--settings W8A8,W4A8,...]
//
// For every model and setting, the weights are rounded to nearest (RTN) or by SQuant (and, for
// the weight-only 4-bit rows, by SQuant's ablation levels E+K and E+C), then the model is
// quantized data-free (quantize_data_free: modelslim config, quant_mode 0, one random batch of
// input_shape [random-batch, 1, 28, 28] for the sigma activation statistic) and its top-1 accuracy
// measured on the first `limit` test images. Settings:
//   W8A8     modelslim defaults (first and last layer float)
//   W4A8     w_bit 4 (first and last layer float)
//   W4A8-all w_bit 4, every layer quantized
//   W4-all   w_bit 4, activations float, every layer quantized (the rounding alone)
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "algo/data_free.h"
#include "bench_util.h"
#include "config/config_formats.h"
#include "data/dataset.h"
#include "onnx/onnx_io.h"

namespace {

using namespace quench;

using namespace quench::bench;

struct Setting {
  const char* name;
  int w_bit;
  bool act_quant;
  bool all_layers;
};


int run(int argc, char** argv) {
  std::vector<std::string> models = {"fashion_cnn", "resnet_fmnist", "mobilenetv2_fmnist"};
  int64_t limit = 10000;
  int threads = 0;
  uint64_t seed = 0;
  int64_t random_batch = 1;
  std::vector<std::string> only;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--models")
      models = split_list(v);
    else if (a == "--limit")
      limit = std::stoll(v);
    else if (a == "--threads")
      threads = std::stoi(v);
    else if (a == "--seed")
      seed = std::stoull(v);
    else if (a == "--random-batch")
      random_batch = std::stoll(v);
    else if (a == "--settings")
      only = split_list(v);
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  auto data = load_fashion(kTestImages, kTestLabels, limit, 500);
  if (!data.ok()) {
    std::fprintf(stderr, "%s\n", data.status().message().c_str());
    return 1;
  }
  const Setting settings[] = {{"W8A8", 8, true, false},
                              {"W4A8", 4, true, false},
                              {"W4A8-all", 4, true, true},
                              {"W4-all", 4, false, true}};
  for (const std::string& name : models) {
    std::string path = std::string(QUENCH_SOURCE_DIR) + "/models/" + name + ".onnx";
    if (name != "fashion_cnn")
      path = std::string(QUENCH_SOURCE_DIR) + "/models/zoo/" + name + ".onnx";
    auto m = onnx::load_model(path);
    if (!m.ok()) {
      std::fprintf(stderr, "%s\n", m.status().message().c_str());
      return 1;
    }
    auto model = std::make_shared<const Model>(std::move(m).value());
    ExecutorOptions eo;
    eo.num_threads = threads;
    auto exec = Executor::create(model, eo);
    auto fp = top1(*data, [&](const Executor::Feeds& f) { return (*exec)->run(f); });
    fmt::print("{:20s} FP32 {:.2f}\n", name, *fp);
    for (const Setting& s : settings) {
      if (!only.empty() && std::find(only.begin(), only.end(), s.name) == only.end()) continue;
      const std::string json = fmt::format(
          R"({{"w_bit": {}, "a_bit": 8, "input_shape": [{}, 1, 28, 28], "quant_mode": 0, )"
          R"("act_quant": {}}})",
          s.w_bit, random_batch, s.act_quant ? "true" : "false");
      auto c = parse_modelslim_config(json);
      if (!c.ok()) {
        std::fprintf(stderr, "%s\n", c.status().message().c_str());
        return 1;
      }
      if (s.all_layers) c->keep_first_last_float = false;
      struct Variant {
        const char* name;
        bool squant, k, c;
      };
      std::vector<Variant> variants = {{"RTN", false, false, false}, {"SQuant", true, true, true}};
      if (!s.act_quant) {
        variants.push_back({"E+K", true, true, false});
        variants.push_back({"E+C", true, false, true});
      }
      std::string line = fmt::format("{:20s} {:9s}", name, s.name);
      for (const Variant& v : variants) {
        DataFreeOptions o;
        o.squant = v.squant;
        o.squant_options.kernel_level = v.k;
        o.squant_options.channel_level = v.c;
        o.seed = seed;
        o.sim.num_threads = threads;
        SquantReport rep;
        auto sim = quantize_data_free(model, *c, o, &rep);
        if (!sim.ok()) {
          std::fprintf(stderr, "%s\n", sim.status().message().c_str());
          return 1;
        }
        auto acc = top1(*data, [&](const Executor::Feeds& f) { return (*sim)->run(f); });
        if (!acc.ok()) {
          std::fprintf(stderr, "%s\n", acc.status().message().c_str());
          return 1;
        }
        int64_t flipped = 0, elements = 0;
        for (const auto& l : rep.layers) {
          flipped += l.stats.flipped;
          elements += l.elements;
        }
        line += fmt::format("  {} {:.2f}", v.name, *acc);
        if (v.squant)
          line +=
              fmt::format(" ({:.1f}% flipped)", 100.0 * flipped / std::max<int64_t>(elements, 1));
      }
      fmt::print("{}\n", line);
      std::fflush(stdout);
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return run(argc, argv); }
