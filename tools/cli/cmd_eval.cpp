// quench eval MODEL --data D [--labels L]: top-1 / top-5 accuracy and throughput over a data set
// streamed in batches (IDX, .npy or an image folder).
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "commands.h"

namespace quench::cli {

namespace {

// Class scores of one row: counts whether `label` is the best and among the best k.
void score_row(const float* s, int64_t classes, int64_t label, int64_t k, int64_t* top1, int64_t* topk) {
  // Rank of the label = number of classes scoring strictly higher (ties count in the label's
  // favour after the lower index: the first maximum is the top-1 prediction, as argmax picks it).
  const float mine = s[label];
  if (std::isnan(mine)) return;  // a NaN score is never a correct prediction
  int64_t better = 0;
  for (int64_t c = 0; c < classes; ++c) {
    if (s[c] > mine || (s[c] == mine && c < label) || std::isnan(s[c])) ++better;
  }
  if (better == 0) ++*top1;
  if (better < k) ++*topk;
}

// Adds one batch of outputs to the agreement statistics.
void compare_rows(const Tensor& ref, const Tensor& q, int64_t rows, OutputAgreement& a,
                  double& sum_ref2, double& sum_err2, double& cos_sum) {
  const int64_t width = ref.numel() / std::max<int64_t>(ref.dim(0), 1);
  const float* r = ref.data<float>();
  const float* x = q.data<float>();
  for (int64_t i = 0; i < rows; ++i) {
    const float* rr = r + i * width;
    const float* xr = x + i * width;
    double dot = 0, nr = 0, nx = 0;
    int64_t best_r = 0, best_x = 0;
    for (int64_t c = 0; c < width; ++c) {
      const double d = static_cast<double>(rr[c]) - xr[c];
      sum_ref2 += static_cast<double>(rr[c]) * rr[c];
      sum_err2 += d * d;
      a.max_abs_diff = std::max(a.max_abs_diff, std::abs(d));
      dot += static_cast<double>(rr[c]) * xr[c];
      nr += static_cast<double>(rr[c]) * rr[c];
      nx += static_cast<double>(xr[c]) * xr[c];
      if (rr[c] > rr[best_r]) best_r = c;
      if (xr[c] > xr[best_x]) best_x = c;
    }
    cos_sum += (nr > 0 && nx > 0) ? dot / std::sqrt(nr * nx) : (nr == nx ? 1.0 : 0.0);
    a.same_top1 += best_r == best_x;
    ++a.samples;
  }
}

}  // namespace

Result<EvalResult> evaluate(Executor& exec, Dataset& data, int64_t batch, const std::string& label) {
  return evaluate(exec.model(), [&](const Executor::Feeds& f) { return exec.run(f); }, data, batch,
                  label);
}

Result<EvalResult> evaluate(const Model& model, const RunFn& run, Dataset& data, int64_t batch,
                            const std::string& label, const RunFn& reference,
                            OutputAgreement* agreement) {
  double sum_ref2 = 0, sum_err2 = 0, cos_sum = 0;
  if (agreement) *agreement = OutputAgreement{};
  std::vector<const Value*> inputs = feed_inputs(model);
  if (inputs.size() != 1) {
    return Status::invalid(fmt::format("eval needs a model with one input; this one has {}",
                                       inputs.size()));
  }
  const Value& input = *inputs[0];
  if (input.dtype != DType::kUndefined && input.dtype != DType::kFloat32) {
    return Status::unsupported("eval feeds float32 data but model input '" + input.name + "' is " +
                               dtype_string(input.dtype));
  }
  const InputSpec spec = input_spec(input);
  EvalResult r;
  r.labeled = data.has_labels();
  // A fixed batch dimension decides the batch size.
  const bool fixed_batch = input.has_shape && !input.shape.empty() && input.shape[0].known();
  r.batch = fixed_batch ? input.shape[0].value : batch;
  if (r.batch < 1) return Status::invalid(fmt::format("batch size must be at least 1 (got {})", r.batch));
  QUENCH_RETURN_IF_ERROR(data.reset());
  Progress progress(stderr_is_terminal());
  const double t0 = now_seconds();
  while (true) {
    QUENCH_ASSIGN_OR_RETURN(std::optional<Batch> b, data.next_batch(r.batch));
    if (!b) break;
    const int64_t n = b->data.dim(0);
    Tensor x = b->data;
    if (fixed_batch && n < r.batch) {
      // Pad the last batch with zero rows; their predictions are ignored.
      Shape s = x.shape();
      s[0] = r.batch;
      Tensor padded = Tensor::zeros(DType::kFloat32, s);
      std::memcpy(padded.raw_data(), x.raw_data(), x.nbytes());
      x = padded;
    }
    QUENCH_ASSIGN_OR_RETURN(x, fit_to_input(x, spec));
    const double r0 = now_seconds();
    QUENCH_ASSIGN_OR_RETURN(std::vector<Tensor> out, run({{input.name, x}}));
    r.run_seconds += now_seconds() - r0;
    if (out.empty()) return Status::invalid("the model has no outputs");
    QUENCH_ASSIGN_OR_RETURN(Tensor scores, to_plain(out[0]));
    if (reference && agreement && scores.dtype() == DType::kFloat32) {
      QUENCH_ASSIGN_OR_RETURN(std::vector<Tensor> ref_out, reference({{input.name, x}}));
      QUENCH_ASSIGN_OR_RETURN(Tensor ref_scores, to_plain(ref_out.at(0)));
      if (ref_scores.shape() != scores.shape() || ref_scores.dtype() != DType::kFloat32)
        return Status::invalid("the reference run's output has shape " +
                               shape_to_string(ref_scores.shape()) + ", the run's " +
                               shape_to_string(scores.shape()));
      compare_rows(ref_scores, scores, n, *agreement, sum_ref2, sum_err2, cos_sum);
    }
    if (scores.rank() < 1 || scores.dim(0) != x.dim(0) || scores.numel() == 0) {
      return Status::invalid("output '" + model.graph->outputs[0]->name + "' has shape " +
                             shape_to_string(scores.shape()) + "; eval needs class scores [" +
                             std::to_string(x.dim(0)) + ", classes]");
    }
    if (scores.dtype() != DType::kFloat32) {
      Tensor f = Tensor::empty(DType::kFloat32, scores.shape());
      QUENCH_RETURN_IF_ERROR(convert_tensor(scores, f));
      scores = f;
    }
    const int64_t classes = scores.numel() / scores.dim(0);
    r.classes = classes;
    if (b->labels) {
      const int64_t* labels = b->labels->data<int64_t>();
      const int64_t k = std::min<int64_t>(5, classes);
      for (int64_t i = 0; i < n; ++i) {
        if (labels[i] < 0 || labels[i] >= classes) {
          return Status::invalid(fmt::format("{}: label {} of sample {} is outside the model's {} classes",
                                             label, labels[i], r.samples + i, classes));
        }
        score_row(scores.data<float>() + i * classes, classes, labels[i], k, &r.correct_top1,
                  &r.correct_top5);
      }
    }
    r.samples += n;
    progress.update(fmt::format("eval: {}/{} samples", r.samples, data.size()));
  }
  r.wall_seconds = now_seconds() - t0;
  progress.done();
  if (agreement && agreement->samples) {
    agreement->sqnr_db = sum_err2 > 0 ? 10.0 * std::log10(sum_ref2 / sum_err2) : INFINITY;
    agreement->cosine = cos_sum / static_cast<double>(agreement->samples);
  }
  return r;
}

DataOptions data_options_for_model(DataOptions options, const Value& input, bool size_given) {
  if (!input.has_shape || input.shape.size() != 4) return options;
  // Image geometry from the declared input: [N, C, H, W] or [N, H, W, C].
  const bool nchw = options.layout == Layout::kNCHW;
  const Dim& c = input.shape[nchw ? 1 : 3];
  const Dim& h = input.shape[nchw ? 2 : 1];
  const Dim& w = input.shape[nchw ? 3 : 2];
  if (c.known() && (c.value == 1 || c.value == 3)) options.channels = static_cast<int>(c.value);
  if (!size_given && h.known() && w.known() && h.value > 0 && w.value > 0) {
    options.height = static_cast<int>(h.value);
    options.width = static_cast<int>(w.value);
  }
  return options;
}

namespace {

struct EvalOptions {
  std::string model;
  std::string data;
  std::string labels;
  int64_t batch = 64;
  int threads = 0;
  int64_t limit = 0;
  std::optional<float> scale;
  std::string mean, std, layout = "nchw", size;
  bool json = false;
};

Status run_eval(const EvalOptions& o) {
  QUENCH_ASSIGN_OR_RETURN(std::shared_ptr<Model> model, load_model_file(o.model));
  DataOptions opt;
  opt.scale = o.scale;
  opt.limit = o.limit;
  QUENCH_ASSIGN_OR_RETURN(opt.layout, parse_layout(o.layout));
  if (!o.mean.empty()) {
    QUENCH_ASSIGN_OR_RETURN(opt.mean, parse_float_list(o.mean, "--mean"));
  }
  if (!o.std.empty()) {
    QUENCH_ASSIGN_OR_RETURN(opt.std, parse_float_list(o.std, "--std"));
  }
  if (!o.size.empty()) {
    QUENCH_ASSIGN_OR_RETURN(std::vector<int64_t> hw, parse_dims(o.size, "--size"));
    if (hw.size() != 2 || hw[0] < 1 || hw[1] < 1 || hw[0] > 65535 || hw[1] > 65535) {
      return Status::invalid("--size: '" + o.size + "' is not HxW (e.g. 224x224)");
    }
    opt.height = static_cast<int>(hw[0]);
    opt.width = static_cast<int>(hw[1]);
  }
  std::vector<const Value*> inputs = feed_inputs(*model);
  if (inputs.size() == 1) opt = data_options_for_model(opt, *inputs[0], !o.size.empty());
  QUENCH_ASSIGN_OR_RETURN(auto data, open_dataset(o.data, o.labels, opt));
  QUENCH_ASSIGN_OR_RETURN(auto exec, Executor::create(model, executor_options(o.threads)));
  QUENCH_ASSIGN_OR_RETURN(EvalResult r, evaluate(*exec, *data, o.batch, o.data));
  const int threads = effective_threads(o.threads);
  if (o.json) {
    nlohmann::ordered_json j;
    j["model"] = o.model;
    j["data"] = o.data;
    j["samples"] = r.samples;
    j["classes"] = r.classes;
    j["batch"] = r.batch;
    j["threads"] = threads;
    if (r.labeled) {
      j["top1"] = r.top1();
      j["top5"] = r.top5();
      j["correct_top1"] = r.correct_top1;
      j["correct_top5"] = r.correct_top5;
    } else {
      j["top1"] = nullptr;
      j["top5"] = nullptr;
    }
    j["throughput_per_s"] = r.throughput();
    j["wall_s"] = r.wall_seconds;
    j["inference_s"] = r.run_seconds;
    print_line(j.dump());
    return Status();
  }
  print_line(fmt::format("model:       {}", o.model));
  print_line(fmt::format("data:        {}", data->describe()));
  print_line(fmt::format("samples:     {} (batch {}, {} threads)", r.samples, r.batch, threads));
  if (r.labeled) {
    print_line(fmt::format("top-1:       {:.2f} % ({}/{})", 100.0 * r.top1(), r.correct_top1, r.samples));
    print_line(fmt::format("top-5:       {:.2f} % ({}/{})", 100.0 * r.top5(), r.correct_top5, r.samples));
  } else {
    print_line("top-1:       n/a (no labels)");
  }
  print_line(fmt::format("throughput:  {:.1f} samples/s", r.throughput()));
  print_line(fmt::format("wall time:   {:.3f} s (inference {:.3f} s)", r.wall_seconds, r.run_seconds));
  return Status();
}

}  // namespace

CliCommand add_eval_command(CLI::App& app) {
  auto o = std::make_shared<EvalOptions>();
  CLI::App* sub = app.add_subcommand("eval", "Top-1/top-5 accuracy and throughput on a data set");
  sub->add_option("MODEL", o->model, "ONNX model file")->required();
  sub->add_option("-d,--data", o->data,
                  "IDX file (gzipped or not), .npy file, or folder of PNG/JPEG images "
                  "(labels from class subfolders)")
      ->required();
  sub->add_option("-l,--labels", o->labels, "Labels: IDX or .npy file of integers, one per sample");
  sub->add_option("-b,--batch", o->batch, "Batch size")->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  sub->add_option("-t,--threads", o->threads, "Intra-op threads (0 = all cores)")
      ->check(CLI::Range(0, 4096));
  sub->add_option("--limit", o->limit, "Only the first N samples (0 = all)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
  sub->add_option("--scale", o->scale, "Multiply raw values by S (default: 1/255 for uint8 data, else 1)");
  sub->add_option("--mean", o->mean, "Subtract after scaling: one value or one per channel (m1,m2,m3)");
  sub->add_option("--std", o->std, "Divide after subtracting the mean: one value or one per channel");
  sub->add_option("--layout", o->layout, "Channel layout of the model input: nchw or nhwc")
      ->capture_default_str();
  sub->add_option("--size", o->size, "Images: resize to HxW (default: the model input's H and W)");
  sub->add_flag("--json", o->json, "Print one JSON object instead of text");
  return {sub, [o] { return run_eval(*o); }};
}

}  // namespace quench::cli
