// quench demo: the bundled Fashion-MNIST CNN (models/fashion_cnn.onnx) on the 10k test images of
// Debian's dataset-fashion-mnist package. The result is a table with one row per model variant;
// the float32 model is the first row, and quantized variants append rows of the same shape.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "quantize_flow.h"

namespace quench::cli {
namespace {

namespace fs = std::filesystem;

constexpr const char* kModelFile = "fashion_cnn.onnx";
constexpr const char* kDataDir = "/usr/share/datasets/fashion-mnist";
constexpr const char* kImages = "t10k-images-idx3-ubyte.gz";
constexpr const char* kLabels = "t10k-labels-idx1-ubyte.gz";
constexpr const char* kTrainImages = "train-images-idx3-ubyte.gz";
constexpr int64_t kCalibSamples = 512;

struct DemoOptions {
  std::string model;  // empty: the bundled one
  std::string data_dir = kDataDir;
  int threads = 0;
  int64_t batch = 64;
  bool json = false;
  bool fp32_only = false;
};

// One row of the result table.
struct DemoRow {
  std::string variant;   // "float32", "W8A8 entropy per-channel", ...
  std::string model;     // file the row was measured on
  EvalResult result;
  double calib_seconds = -1.0;  // quantized rows: calibration wall time
};

// The quantized variants of the table: weights x activations x range method.
struct Variant {
  const char* name;
  CalibMethod method;
  Granularity weights;
  int w_bits;
};
constexpr Variant kVariants[] = {
    {"W8A8 minmax per-channel", CalibMethod::kMinMax, Granularity::kPerChannel, 8},
    {"W8A8 minmax per-tensor", CalibMethod::kMinMax, Granularity::kPerTensor, 8},
    {"W8A8 entropy per-channel", CalibMethod::kEntropy, Granularity::kPerChannel, 8},
    {"W8A8 percentile per-channel", CalibMethod::kPercentile, Granularity::kPerChannel, 8},
    {"W8A8 mse per-channel", CalibMethod::kMse, Granularity::kPerChannel, 8},
    {"W8A8 hfmg per-channel", CalibMethod::kHfmg, Granularity::kPerChannel, 8},
    {"W8A8 ifmr per-channel", CalibMethod::kIfmr, Granularity::kPerChannel, 8},
    {"W4A8 minmax per-channel", CalibMethod::kMinMax, Granularity::kPerChannel, 4},
    {"W4A8 mse per-channel", CalibMethod::kMse, Granularity::kPerChannel, 4},
};

Result<DemoRow> quantized_variant(const Variant& v, const std::string& model_path,
                                  const DemoOptions& o) {
  QUENCH_ASSIGN_OR_RETURN(std::shared_ptr<Model> model, load_model_file(model_path));
  const fs::path dir(o.data_dir);
  DataOptions opt;
  QUENCH_ASSIGN_OR_RETURN(auto calib, open_dataset((dir / kTrainImages).string(), "", opt));
  QuantConfig c = default_quant_config();
  c.activation.observer = observer_config_for(v.method);
  c.input.observer = observer_config_for(v.method);
  c.weight.spec.granularity = v.weights;
  c.weight.spec.bits = v.w_bits;
  if (v.w_bits < 8) c.weight.observer.method = v.method == CalibMethod::kMse ? CalibMethod::kMse : CalibMethod::kMinMax;
  CalibrateOptions co;
  co.samples = kCalibSamples;
  co.batch = o.batch;
  co.threads = o.threads;
  QUENCH_ASSIGN_OR_RETURN(Calibrated cal, calibrate(model, c, calib.get(), co));
  QUENCH_ASSIGN_OR_RETURN(auto data, open_dataset((dir / kImages).string(), (dir / kLabels).string(), opt));
  DemoRow row{v.name, model_path, {}, cal.calib_seconds};
  QuantSim& sim = *cal.sim;
  QUENCH_ASSIGN_OR_RETURN(row.result, evaluate(*model, [&](const Executor::Feeds& f) { return sim.run(f); },
                                               *data, o.batch, (dir / kImages).string()));
  return row;
}

// The bundled model: in the source tree this binary was built from, then next to an installed
// binary, then relative to a build folder inside the source tree.
Result<std::string> find_bundled_model() {
  std::vector<fs::path> candidates;
#ifdef QUENCH_SOURCE_DIR
  candidates.push_back(fs::path(QUENCH_SOURCE_DIR) / "models" / kModelFile);
#endif
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    fs::path dir = exe.parent_path();
    candidates.push_back(dir / ".." / "share" / "quench" / "models" / kModelFile);
    candidates.push_back(dir / "models" / kModelFile);
    candidates.push_back(dir / ".." / ".." / ".." / "models" / kModelFile);
  }
  std::string looked;
  for (const fs::path& p : candidates) {
    if (fs::is_regular_file(p, ec)) return p.lexically_normal().string();
    looked += (looked.empty() ? "" : ", ") + p.lexically_normal().string();
  }
  return Status::not_found(std::string("the bundled model ") + kModelFile + " was not found (looked in " +
                           looked + "); give a model with --model");
}

Result<DemoRow> evaluate_variant(const std::string& variant, const std::string& model_path,
                                 const DemoOptions& o) {
  QUENCH_ASSIGN_OR_RETURN(std::shared_ptr<Model> model, load_model_file(model_path));
  DataOptions opt;  // pixels / 255, rows [28, 28] -> [N, 1, 28, 28] by fit_to_input
  const fs::path dir(o.data_dir);
  QUENCH_ASSIGN_OR_RETURN(auto data, open_dataset((dir / kImages).string(), (dir / kLabels).string(), opt));
  QUENCH_ASSIGN_OR_RETURN(auto exec, Executor::create(model, executor_options(o.threads)));
  DemoRow row{variant, model_path, {}};
  QUENCH_ASSIGN_OR_RETURN(row.result, evaluate(*exec, *data, o.batch, (dir / kImages).string()));
  return row;
}

void print_table(const std::vector<DemoRow>& rows) {
  print_line(fmt::format("{:<28} {:>8} {:>7} {:>8} {:>9} {:>16}", "variant", "top-1", "drop",
                         "top-5", "calib", "throughput"));
  const double base = rows.front().result.top1();
  for (const DemoRow& r : rows) {
    const std::string drop =
        r.calib_seconds < 0 ? "" : fmt::format("{:.2f}", 100.0 * (base - r.result.top1()));
    const std::string calib = r.calib_seconds < 0 ? "" : fmt::format("{:.2f}s", r.calib_seconds);
    print_line(fmt::format("{:<28} {:>7.2f}% {:>7} {:>7.2f}% {:>9} {:>10.0f} img/s", r.variant,
                           100.0 * r.result.top1(), drop, 100.0 * r.result.top5(), calib,
                           r.result.throughput()));
  }
}

Status run_demo(const DemoOptions& o) {
  const fs::path dir(o.data_dir);
  std::error_code ec;
  for (const char* f : {kImages, kLabels}) {
    if (!fs::exists(dir / f, ec)) {
      return Status::not_found("the Fashion-MNIST test set is missing (" + (dir / f).string() +
                               "): install Debian package dataset-fashion-mnist");
    }
  }
  std::string model_path = o.model;
  if (model_path.empty()) {
    QUENCH_ASSIGN_OR_RETURN(model_path, find_bundled_model());
  }

  std::vector<DemoRow> rows;
  QUENCH_ASSIGN_OR_RETURN(DemoRow base, evaluate_variant("float32", model_path, o));
  rows.push_back(std::move(base));
  if (!o.fp32_only) {
    if (!fs::exists(dir / kTrainImages, ec))
      return Status::not_found("the Fashion-MNIST training images are missing (" +
                               (dir / kTrainImages).string() + "): they calibrate the quantized rows");
    for (const Variant& v : kVariants) {
      QUENCH_ASSIGN_OR_RETURN(DemoRow row, quantized_variant(v, model_path, o));
      rows.push_back(std::move(row));
    }
  }

  const int threads = effective_threads(o.threads);
  if (o.json) {
    nlohmann::ordered_json j;
    j["model"] = model_path;
    j["samples"] = rows.front().result.samples;
    j["batch"] = rows.front().result.batch;
    j["threads"] = threads;
    auto a = nlohmann::ordered_json::array();
    for (const DemoRow& r : rows) {
      a.push_back({{"variant", r.variant},
                   {"model", r.model},
                   {"top1", r.result.top1()},
                   {"top5", r.result.top5()},
                   {"throughput_per_s", r.result.throughput()},
                   {"wall_s", r.result.wall_seconds}});
      if (r.calib_seconds >= 0) {
        a.back()["calib_s"] = r.calib_seconds;
        a.back()["drop_points"] = 100.0 * (rows.front().result.top1() - r.result.top1());
      }
    }
    j["results"] = a;
    print_line(j.dump());
    return Status();
  }
  print_line(fmt::format("quench demo: Fashion-MNIST test set, {} images", rows.front().result.samples));
  print_line(fmt::format("model:   {} ({})", fs::path(model_path).stem().string(), model_path));
  print_line(fmt::format("threads: {}   batch: {}", threads, rows.front().result.batch));
  if (rows.size() > 1)
    print_line(fmt::format("quantized rows: calibrated on the first {} training images; "
                           "int32 biases, asymmetric uint8 activations, symmetric int weights",
                           kCalibSamples));
  print_line("");
  print_table(rows);
  return Status();
}

}  // namespace

CliCommand add_demo_command(CLI::App& app) {
  auto o = std::make_shared<DemoOptions>();
  CLI::App* sub = app.add_subcommand(
      "demo", "Evaluate the bundled Fashion-MNIST model, float and quantized several ways, on the "
              "10k test images");
  sub->add_option("-t,--threads", o->threads, "Intra-op threads (0 = all cores)")
      ->check(CLI::Range(0, 4096));
  sub->add_option("-b,--batch", o->batch, "Batch size")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20))
      ->capture_default_str();
  sub->add_option("--model", o->model, "Use this model instead of the bundled one");
  sub->add_option("--data-dir", o->data_dir, "Folder holding the Fashion-MNIST test files")
      ->capture_default_str();
  sub->add_flag("--json", o->json, "Print one JSON object instead of text");
  sub->add_flag("--fp32-only", o->fp32_only, "Only the float32 row (no quantized variants)");
  return {sub, [o] { return run_demo(*o); }};
}

}  // namespace quench::cli
