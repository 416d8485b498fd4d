// quench bench MODEL: latency and throughput on random inputs of the model's declared shape.
//
// JSON contract (bench/compare_ort.mjs reads it): one object on stdout,
//   {"model", "batch", "threads", "iterations", "throughput_per_s",
//    "latency_ms": {"mean", "p50", "p90", "p99"}, "peak_rss_mb", "peak_tensor_mb"}
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>

#include "commands.h"

namespace quench::cli {
namespace {

struct BenchOptions {
  std::string model;
  int64_t batch = 1;
  int threads = 0;
  int iterations = 50;
  int warmup = 5;
  std::vector<std::string> shapes;  // name=dims
  uint32_t seed = 7;
  bool json = false;
  bool profile = false;
};

// Floats uniform in [0, 1) (seeded), integers and booleans zero: zeros are valid indices for any
// Gather-like consumer, random integers may not be.
Result<Tensor> random_input(DType dtype, const Shape& shape, std::mt19937& rng) {
  Tensor t = Tensor::zeros(dtype, shape);
  if (!dtype_is_float(dtype)) return t;
  std::uniform_real_distribution<float> dist(0.0f, 1.0f);
  Tensor f = Tensor::empty(DType::kFloat32, shape);
  float* p = f.data<float>();
  for (int64_t i = 0; i < f.numel(); ++i) p[i] = dist(rng);
  if (dtype == DType::kFloat32) return f;
  QUENCH_RETURN_IF_ERROR(convert_tensor(f, t));
  return t;
}

Result<Executor::Feeds> make_inputs(const Model& model, const BenchOptions& o, int64_t* batch) {
  std::map<std::string, Shape> overrides;
  std::vector<const Value*> inputs = feed_inputs(model);
  for (const std::string& s : o.shapes) {
    size_t eq = s.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Status::invalid("--shape " + s + ": expected name=dims, e.g. input=1,3,224,224");
    }
    std::string name = s.substr(0, eq);
    if (std::none_of(inputs.begin(), inputs.end(), [&](const Value* v) { return v->name == name; })) {
      std::string names;
      for (const Value* v : inputs) names += (names.empty() ? "'" : ", '") + v->name + "'";
      return Status::invalid("--shape " + s + ": the model has no input named '" + name +
                             "' (inputs: " + names + ")");
    }
    QUENCH_ASSIGN_OR_RETURN(Shape dims, parse_dims(s.substr(eq + 1), "--shape " + name));
    overrides[name] = dims;
  }
  std::mt19937 rng(o.seed);
  Executor::Feeds feeds;
  *batch = o.batch;
  for (size_t k = 0; k < inputs.size(); ++k) {
    const Value& v = *inputs[k];
    Shape shape;
    if (auto it = overrides.find(v.name); it != overrides.end()) {
      shape = it->second;
    } else if (!v.has_shape) {
      return Status::invalid("input '" + v.name + "' has no declared shape: give one with --shape " +
                             v.name + "=dims (e.g. --shape " + v.name + "=1,3,224,224)");
    } else {
      for (size_t i = 0; i < v.shape.size(); ++i) {
        const Dim& d = v.shape[i];
        if (d.known()) {
          shape.push_back(d.value);
        } else if (i == 0) {
          shape.push_back(o.batch);
        } else {
          std::string dim = d.symbol.empty() ? "" : " ('" + d.symbol + "')";
          return Status::invalid(fmt::format(
              "input '{}' {}: dimension {}{} is not known; give the whole shape with --shape "
              "{}=dims", v.name, dims_string(v), i, dim, v.name));
        }
      }
    }
    if (k == 0 && !shape.empty()) *batch = shape[0];
    DType dtype = v.dtype == DType::kUndefined ? DType::kFloat32 : v.dtype;
    if (dtype_size(dtype) == 0) {
      return Status::unsupported("input '" + v.name + "' has element type " + dtype_string(dtype) +
                                 ", which bench cannot generate");
    }
    QUENCH_ASSIGN_OR_RETURN(Tensor t, random_input(dtype, shape, rng));
    feeds.emplace_back(v.name, std::move(t));
  }
  return feeds;
}

Status run_bench(const BenchOptions& o) {
  QUENCH_ASSIGN_OR_RETURN(std::shared_ptr<Model> model, load_model_file(o.model));
  int64_t batch = o.batch;
  QUENCH_ASSIGN_OR_RETURN(Executor::Feeds feeds, make_inputs(*model, o, &batch));
  ExecutorOptions eo = executor_options(o.threads);
  eo.profile = o.profile;
  QUENCH_ASSIGN_OR_RETURN(auto exec, Executor::create(model, eo));
  std::map<std::string, double> op_seconds;
  for (int i = 0; i < o.warmup; ++i) {
    QUENCH_ASSIGN_OR_RETURN(std::vector<Tensor> out, exec->run(feeds));
  }
  std::vector<double> latency_ms;
  latency_ms.reserve(static_cast<size_t>(o.iterations));
  int64_t peak_tensor_bytes = 0;
  Progress progress(stderr_is_terminal() && !o.json);
  const double t0 = now_seconds();
  for (int i = 0; i < o.iterations; ++i) {
    const double s = now_seconds();
    QUENCH_ASSIGN_OR_RETURN(std::vector<Tensor> out, exec->run(feeds));
    latency_ms.push_back((now_seconds() - s) * 1e3);
    peak_tensor_bytes = std::max(peak_tensor_bytes, exec->last_run_stats().peak_tensor_bytes);
    for (const auto& [op, sec] : exec->last_run_stats().op_seconds) op_seconds[op] += sec;
    progress.update(fmt::format("bench: {}/{}", i + 1, o.iterations));
  }
  const double wall = now_seconds() - t0;
  progress.done();
  std::vector<double> sorted = latency_ms;
  std::sort(sorted.begin(), sorted.end());
  const double mean = std::accumulate(sorted.begin(), sorted.end(), 0.0) / static_cast<double>(sorted.size());
  const double throughput = wall > 0 ? static_cast<double>(batch) * o.iterations / wall : 0.0;
  const int threads = effective_threads(o.threads);
  const double rss = peak_rss_mb();
  const double tensor_mb = static_cast<double>(peak_tensor_bytes) / 1048576.0;
  if (o.json) {
    nlohmann::ordered_json j;
    j["model"] = o.model;
    j["batch"] = batch;
    j["threads"] = threads;
    j["iterations"] = o.iterations;
    j["throughput_per_s"] = throughput;
    j["latency_ms"] = {{"mean", mean},
                       {"p50", percentile(sorted, 50)},
                       {"p90", percentile(sorted, 90)},
                       {"p99", percentile(sorted, 99)}};
    j["peak_rss_mb"] = rss;
    j["peak_tensor_mb"] = tensor_mb;
    if (o.profile) {
      for (const auto& [op, sec] : op_seconds) j["op_ms_per_run"][op] = sec * 1e3 / o.iterations;
    }
    print_line(j.dump());
    return Status();
  }
  print_line(fmt::format("model:        {}", o.model));
  print_line(fmt::format("batch:        {}   threads: {}   iterations: {} (+{} warmup)", batch,
                         threads, o.iterations, o.warmup));
  print_line(fmt::format("throughput:   {:.1f} samples/s", throughput));
  print_line(fmt::format("latency:      mean {:.3f} ms   p50 {:.3f}   p90 {:.3f}   p99 {:.3f}", mean,
                         percentile(sorted, 50), percentile(sorted, 90), percentile(sorted, 99)));
  print_line(fmt::format("peak RSS:     {:.1f} MiB", rss));
  print_line(fmt::format("peak tensors: {:.2f} MiB (activations of one run, weights excluded)", tensor_mb));
  if (o.profile) {
    std::vector<std::pair<std::string, double>> rows(op_seconds.begin(), op_seconds.end());
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    double total = 0;
    for (const auto& r : rows) total += r.second;
    print_line("time per op type (ms per run, share of kernel time):");
    for (const auto& [op, sec] : rows) {
      print_line(fmt::format("  {:<24} {:9.3f}  {:5.1f}%", op, sec * 1e3 / o.iterations,
                             total > 0 ? 100.0 * sec / total : 0.0));
    }
  }
  return Status();
}

}  // namespace

CliCommand add_bench_command(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* sub = app.add_subcommand("bench", "Latency and throughput on random inputs");
  sub->add_option("MODEL", o->model, "ONNX model file")->required();
  sub->add_option("-b,--batch", o->batch, "Batch size: the first dimension of inputs that leave it open")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20))
      ->capture_default_str();
  sub->add_option("-t,--threads", o->threads, "Intra-op threads (0 = all cores)")
      ->check(CLI::Range(0, 4096));
  sub->add_option("-n,--iterations", o->iterations, "Timed runs")
      ->check(CLI::Range(1, 100000000))
      ->capture_default_str();
  sub->add_option("--warmup", o->warmup, "Untimed runs first")
      ->check(CLI::Range(0, 100000000))
      ->capture_default_str();
  sub->add_option("--shape", o->shapes,
                  "Input shape as name=dims (e.g. input=1,3,224,224), for inputs whose declared "
                  "shape has unknown dimensions beyond the first");
  sub->add_option("--seed", o->seed, "Random input seed")->capture_default_str();
  sub->add_flag("--json", o->json, "Print one JSON object instead of text");
  sub->add_flag("--profile", o->profile, "Also report the time spent per op type");
  return {sub, [o] { return run_bench(*o); }};
}

}  // namespace quench::cli
