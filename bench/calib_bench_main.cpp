// quench_calib_bench: what calibration costs, side by side with plain FP32 inference on the same
// samples, in time and in peak memory.
//
//   build/bench/quench_calib_bench [--models fashion_cnn,resnet_fmnist,other.onnx] [--methods minmax,entropy]
//       [--samples 512] [--batch 64] [--reps 3] [--threads N] [--json]
//
// Models are names in models/ and models/zoo/ or paths (bench/make_bench_model.py writes a
// ResNet-18-sized CNN at 64x64, whose layers do more work per activation than the zoo's).
// For every model, the first `samples` Fashion-MNIST training images (random data for inputs
// that are not [N, 1, 28, 28]) are run
//   fp32:    Executor::create, then every batch through the executor (fast plan), as inference;
//   <method>: QuantSim::create, then compute_encodings with that activation observer (W8A8,
//            per-channel weights): the FP32 run plus the observers and the range searches.
// Each phase runs in its own process (this binary re-executed with --phase), so that its peak RSS
// is its own; the time is the median of `reps` runs inside that process, after one warm-up run.
// Ratios are method / fp32. The targets: time ratio <= 1.5 for the histogram observers,
// memory ratio <= 1.3 for entropy on the largest model.
#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <spawn.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "bench_util.h"
#include "data/dataset.h"
#include "onnx/onnx_io.h"
#include "runtime/executor.h"
#include "sim/quantsim.h"

extern char** environ;

namespace {

using namespace quench;
using namespace quench::bench;
namespace fs = std::filesystem;


struct Options {
  std::vector<std::string> models = {"fashion_cnn", "resnet_fmnist", "mobilenetv2_fmnist", "vit_fmnist"};
  std::vector<std::string> methods = {"minmax", "entropy", "percentile", "mse", "histogram", "hfmg",
                                      "tf_enhanced"};
  int64_t samples = 512;
  int64_t batch = 64;
  int reps = 3;
  int threads = 0;
  bool json = false;
  std::string phase;  // child: "fp32" or a method name
  std::string model;  // child: model path
};

// Fashion-MNIST images for [N, 1, 28, 28] inputs; seeded uniform [0, 1) data of the declared
// shape for other models (the cost of calibration does not depend on the values).
Result<std::vector<Tensor>> load_batches(const Options& o, const Model& model) {
  const Value* in = model.graph->inputs.at(0);
  Shape row;
  for (size_t i = 1; i < in->shape.size(); ++i) row.push_back(in->shape[i].value);
  if (row != Shape{1, 28, 28}) {
    std::vector<Tensor> out;
    uint32_t seed = 1;
    for (int64_t done = 0; done < o.samples; done += o.batch) {
      Shape shape = row;
      shape.insert(shape.begin(), std::min(o.batch, o.samples - done));
      Tensor t = Tensor::empty(DType::kFloat32, shape);
      float* p = t.data<float>();
      for (int64_t i = 0; i < t.numel(); ++i) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = static_cast<float>(seed >> 8) / 16777216.0f;
      }
      out.push_back(t);
    }
    return out;
  }
  DataOptions opt;
  opt.limit = o.samples;
  QUENCH_ASSIGN_OR_RETURN(auto data, open_dataset(kTrainImages, "", opt));
  std::vector<Tensor> out;
  InputSpec spec;
  spec.name = "input";
  spec.dims = {-1, 1, 28, 28};
  while (true) {
    QUENCH_ASSIGN_OR_RETURN(std::optional<Batch> b, data->next_batch(o.batch));
    if (!b) break;
    QUENCH_ASSIGN_OR_RETURN(Tensor x, fit_to_input(b->data, spec));
    out.push_back(x);
  }
  return out;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

// Child process: one phase, prints {"seconds": median}.
Status run_phase(const Options& o) {
  QUENCH_ASSIGN_OR_RETURN(Model m, onnx::load_model(o.model));
  auto model = std::make_shared<const Model>(std::move(m));
  QUENCH_ASSIGN_OR_RETURN(std::vector<Tensor> batches, load_batches(o, *model));
  std::vector<double> times;
  // Both phases are timed from a fresh start, as a user runs them: the executor (or QuantSim) is
  // created inside the timed region, so its one-time costs (oneDNN primitive creation, first
  // touch of the activation buffers) count on both sides.
  if (o.phase == "fp32") {
    ExecutorOptions eo;
    eo.num_threads = o.threads;
    for (int rep = 0; rep <= o.reps; ++rep) {
      const double t0 = now_seconds();
      QUENCH_ASSIGN_OR_RETURN(auto exec, Executor::create(model, eo));
      for (const Tensor& x : batches) QUENCH_RETURN_IF_ERROR(exec->run({{"input", x}}).status());
      if (rep > 0) times.push_back(now_seconds() - t0);  // rep 0 warms up the process
    }
  } else {
    QUENCH_ASSIGN_OR_RETURN(CalibMethod method, parse_calib_method(o.phase));
    QuantConfig c = default_quant_config();
    c.activation.observer = observer_config_for(method);
    c.input.observer = observer_config_for(method);
    for (int rep = 0; rep <= o.reps; ++rep) {
      const double t0 = now_seconds();
      QuantSimOptions so;
      so.num_threads = o.threads;
      QUENCH_ASSIGN_OR_RETURN(auto sim, QuantSim::create(model, c, so));
      BatchSource src = [&](int64_t i) -> Result<Executor::Feeds> {
        if (i >= static_cast<int64_t>(batches.size())) return Executor::Feeds{};
        return Executor::Feeds{{"input", batches[static_cast<size_t>(i)]}};
      };
      QUENCH_RETURN_IF_ERROR(sim->compute_encodings(src));
      if (rep > 0) times.push_back(now_seconds() - t0);
    }
  }
  std::printf("{\"seconds\": %.6f}\n", median(times));
  return Status();
}

struct PhaseResult {
  double seconds = 0;
  double peak_rss_mb = 0;
};

// Re-executes this binary for one phase; its peak RSS comes from wait4's rusage.
Result<PhaseResult> spawn_phase(const Options& o, const std::string& model, const std::string& phase) {
  std::string self = fs::read_symlink("/proc/self/exe").string();
  std::vector<std::string> args = {self, "--phase", phase, "--model", model,
                                   "--samples", std::to_string(o.samples),
                                   "--batch", std::to_string(o.batch),
                                   "--reps", std::to_string(o.reps),
                                   "--threads", std::to_string(o.threads)};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int fds[2];
  if (pipe(fds) != 0) return Status::io_error("pipe failed");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  pid_t pid;
  int rc = posix_spawn(&pid, self.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    return Status::io_error("cannot start " + self);
  }
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  struct rusage ru {};
  wait4(pid, &status, 0, &ru);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return Status::internal("phase " + phase + " on " + model + " failed");
  PhaseResult r;
  r.seconds = nlohmann::json::parse(out)["seconds"].get<double>();
  r.peak_rss_mb = static_cast<double>(ru.ru_maxrss) / 1024.0;
  return r;
}

Status run(const Options& o) {
  nlohmann::ordered_json all = nlohmann::ordered_json::array();
  if (!o.json)
    std::printf("%-20s %-12s %10s %10s %10s %10s\n", "model", "phase", "seconds", "time x",
                "peak MB", "memory x");
  for (const std::string& name : o.models) {
    const std::string path = model_path(name);
    QUENCH_ASSIGN_OR_RETURN(PhaseResult base, spawn_phase(o, path, "fp32"));
    const std::string label = fs::path(name).stem().string();
    if (!o.json)
      std::printf("%-20s %-12s %10.3f %10s %10.1f %10s\n", label.c_str(), "fp32", base.seconds, "1.00",
                  base.peak_rss_mb, "1.00");
    for (const std::string& method : o.methods) {
      QUENCH_ASSIGN_OR_RETURN(PhaseResult r, spawn_phase(o, path, method));
      const double tx = r.seconds / base.seconds, mx = r.peak_rss_mb / base.peak_rss_mb;
      if (!o.json)
        std::printf("%-20s %-12s %10.3f %10.2f %10.1f %10.2f\n", label.c_str(), method.c_str(),
                    r.seconds, tx, r.peak_rss_mb, mx);
      all.push_back({{"model", label},
                     {"method", method},
                     {"samples", o.samples},
                     {"fp32_s", base.seconds},
                     {"calib_s", r.seconds},
                     {"time_ratio", tx},
                     {"fp32_peak_rss_mb", base.peak_rss_mb},
                     {"calib_peak_rss_mb", r.peak_rss_mb},
                     {"memory_ratio", mx}});
    }
  }
  if (o.json) std::printf("%s\n", all.dump(2).c_str());
  return Status();
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] { return option_value(argc, argv, i); };
    if (a == "--models") o.models = split_list(next());
    else if (a == "--methods") o.methods = split_list(next());
    else if (a == "--samples") o.samples = std::stoll(next());
    else if (a == "--batch") o.batch = std::stoll(next());
    else if (a == "--reps") o.reps = std::stoi(next());
    else if (a == "--threads") o.threads = std::stoi(next());
    else if (a == "--json") o.json = true;
    else if (a == "--phase") o.phase = next();
    else if (a == "--model") o.model = next();
    else {
      std::fprintf(stderr, "quench_calib_bench: unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  Status s = o.phase.empty() ? run(o) : run_phase(o);
  if (!s.ok()) {
    std::fprintf(stderr, "quench_calib_bench: %s\n", s.message().c_str());
    return 1;
  }
  return 0;
}
