// quench quantize MODEL --calib DATA [--config FILE] [-o OUTDIR]: calibrates the model, writes the
// QDQ ONNX model and the encodings files, and prints a summary (FP32 vs quantized accuracy with
// labels, otherwise output SQNR and cosine similarity).
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "commands.h"
#include "config/config_formats.h"
#include "core/file_io.h"
#include "data/npy.h"
#include "export/export.h"
#include "quantize_flow.h"

namespace quench::cli {
namespace {

namespace fs = std::filesystem;

// Formats a config cannot express (bfloat16 in AIMET encodings) are skipped with a warning when
// they come from this default list, and are an error when --export names them.
constexpr const char* kDefaultExports = "qdq,aimet,vai_q";

struct QuantizeOptions {
  std::string model;
  std::string calib, calib_labels;
  std::string eval, eval_labels;
  int64_t calib_size = 512;
  int64_t eval_limit = 0;
  int64_t batch = 64;
  int threads = 0;
  std::string config, config_format = "auto";
  std::string method;
  std::string weights;  // per-channel | per-tensor
  int w_bits = 0, a_bits = 0;
  int default_output_bw = 8, default_param_bw = 8;
  std::string out = "quantized";
  std::string exports;  // "" = kDefaultExports
  std::string save_outputs;
  bool skip_bad_batches = false;
  bool json = false;
  // Accuracy recovery (algo/ptq.h); each adds to what the config asks for.
  bool cle = false, relu6_to_relu = false, silu_to_hswish = false;
  std::string bias_correction;  // empirical | analytical | in-calibration
  bool adaround = false;
  int64_t adaround_iterations = 0, adaround_samples = 0;
  int admm = 0, easy_quant = 0;  // iterations; 0 = off
  bool squant = false, round_opt = false;
  int amp_num = 0;
  std::optional<double> max_drop, min_sqnr;
  std::string disable;  // comma list of node names kept float
  bool keep_first_last = false, keep_add = false;
  std::optional<float> scale;
  std::string mean, std, layout = "nchw";
};

Result<DataOptions> data_options(const QuantizeOptions& o, const Model& model, int64_t limit) {
  DataOptions opt;
  opt.scale = o.scale;
  opt.limit = limit;
  QUENCH_ASSIGN_OR_RETURN(opt.layout, parse_layout(o.layout));
  if (!o.mean.empty()) {
    QUENCH_ASSIGN_OR_RETURN(opt.mean, parse_float_list(o.mean, "--mean"));
  }
  if (!o.std.empty()) {
    QUENCH_ASSIGN_OR_RETURN(opt.std, parse_float_list(o.std, "--std"));
  }
  std::vector<const Value*> inputs = feed_inputs(model);
  if (inputs.size() == 1) opt = data_options_for_model(opt, *inputs[0], false);
  return opt;
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

// Command-line settings override the defaults of the config (not its per-layer rules).
Status apply_overrides(const QuantizeOptions& o, QuantConfig& c) {
  if (!o.method.empty()) {
    QUENCH_ASSIGN_OR_RETURN(CalibMethod m, parse_calib_method(o.method));
    for (TensorQuantConfig* t : {&c.activation, &c.input}) {
      const ObserverConfig d = observer_config_for(m);
      t->observer.method = m;
      t->observer.num_bins = d.num_bins;
    }
  }
  if (!o.weights.empty()) {
    if (o.weights == "per-channel") c.weight.spec.granularity = Granularity::kPerChannel;
    else if (o.weights == "per-tensor") c.weight.spec.granularity = Granularity::kPerTensor;
    else return Status::invalid("--weights: '" + o.weights + "' is not per-channel or per-tensor");
  }
  if (o.w_bits) c.weight.spec.bits = o.w_bits;
  if (o.a_bits) {
    c.activation.spec.bits = o.a_bits;
    c.input.spec.bits = o.a_bits;
  }
  AlgorithmOptions& a = c.algorithms;
  // AIMET's CLE replaces ReLU6 by ReLU so that equalization passes it.
  if (o.cle) a.cle = a.convert_relu6_to_relu = true;
  if (o.relu6_to_relu) a.convert_relu6_to_relu = true;
  if (o.silu_to_hswish) a.convert_silu_to_hswish = true;
  if (!o.bias_correction.empty()) {
    a.bias_correction = true;
    if (o.bias_correction == "empirical") a.bias_correction_kind = BiasCorrectionKind::kEmpirical;
    else if (o.bias_correction == "analytical") a.bias_correction_kind = BiasCorrectionKind::kAnalytical;
    else if (o.bias_correction == "in-calibration") a.bias_correction_kind = BiasCorrectionKind::kInCalibration;
    else return Status::invalid("--bias-correction: '" + o.bias_correction +
                                "' is not empirical, analytical or in-calibration");
  }
  if (o.adaround) a.adaround = true;
  if (o.adaround_iterations) a.adaround_iterations = o.adaround_iterations;
  if (o.adaround_samples) a.adaround_samples = o.adaround_samples;
  if (o.admm) {
    a.admm = true;
    a.admm_iterations = o.admm;
  }
  if (o.easy_quant) {
    a.easy_quant = true;
    a.easy_quant_iterations = o.easy_quant;
  }
  if (o.squant) a.squant = true;
  if (o.round_opt) a.round_opt = true;
  if (o.amp_num) a.amp_num = o.amp_num;
  if (o.max_drop && o.min_sqnr) return Status::invalid("--max-drop and --min-sqnr: give one budget, not both");
  if (o.max_drop) a.max_drop_points = o.max_drop;
  if (o.min_sqnr) a.min_sqnr_db = o.min_sqnr;
  for (const std::string& n : split_list(o.disable)) c.disabled_nodes.push_back(n);
  if (o.keep_first_last) c.keep_first_last_float = true;
  if (o.keep_add) c.keep_add_float = true;
  return Status();
}


Status run_quantize(const QuantizeOptions& o) {
  QUENCH_ASSIGN_OR_RETURN(std::shared_ptr<Model> model, load_model_file(o.model));
  QuantConfig config;
  if (!o.config.empty()) {
    QUENCH_ASSIGN_OR_RETURN(ConfigFormat fmt, parse_config_format(o.config_format));
    QUENCH_ASSIGN_OR_RETURN(std::string text, read_file(o.config));
    Result<QuantConfig> parsed =
        parse_quant_config(text, fmt, o.config, o.default_output_bw, o.default_param_bw);
    if (!parsed.ok() && fmt != ConfigFormat::kAuto) {
      // A file in another format fails on its first key; say what the file looks like.
      Result<ConfigFormat> seen = detect_config_format(text);
      if (seen.ok() && *seen != fmt)
        return Status(parsed.status().code(),
                      parsed.status().message() + " (--config-format is " + o.config_format +
                          " but the file looks like a " + config_format_name(*seen) + " config)");
    }
    if (!parsed.ok()) return parsed.status();
    config = std::move(parsed).value();
  } else {
    config = default_quant_config();
  }
  QUENCH_RETURN_IF_ERROR(apply_overrides(o, config));
  const bool exports_given = !o.exports.empty();
  const std::vector<std::string> exports = split_list(exports_given ? o.exports : kDefaultExports);
  for (const std::string& e : exports)
    if (e != "qdq" && e != "aimet" && e != "aimet-0.6.1" && e != "vai_q" && e != "modelslim")
      return Status::invalid("--export: unknown format '" + e +
                             "' (qdq, aimet, aimet-0.6.1, vai_q, modelslim)");

  std::unique_ptr<Dataset> calib;
  if (!o.calib.empty()) {
    QUENCH_ASSIGN_OR_RETURN(DataOptions opt, data_options(o, *model, 0));
    QUENCH_ASSIGN_OR_RETURN(calib, open_dataset(o.calib, o.calib_labels, opt));
  } else if (!config.data_free) {
    return Status::invalid("--calib is required (only a data-free modelslim config runs without data)");
  }
  // Evaluation: the --eval set, else the calibration set.
  std::unique_ptr<Dataset> eval_data;
  std::string eval_path = o.eval.empty() ? o.calib : o.eval;
  if (!o.eval.empty()) {
    QUENCH_ASSIGN_OR_RETURN(DataOptions opt, data_options(o, *model, o.eval_limit));
    QUENCH_ASSIGN_OR_RETURN(eval_data, open_dataset(o.eval, o.eval_labels, opt));
    if (eval_data->size() == 0)
      return Status::invalid("evaluation set is empty: " + eval_data->describe() + " has no samples");
  } else if (!o.calib.empty()) {
    QUENCH_ASSIGN_OR_RETURN(DataOptions opt, data_options(o, *model, o.eval_limit));
    QUENCH_ASSIGN_OR_RETURN(eval_data, open_dataset(o.calib, o.calib_labels, opt));
  }
  CalibrateOptions co;
  co.samples = o.calib_size;
  co.batch = o.batch;
  co.threads = o.threads;
  co.skip_bad_batches = o.skip_bad_batches;
  if (config.algorithms.max_drop_points) {
    if (!eval_data || !eval_data->has_labels())
      return Status::invalid("--max-drop needs labelled evaluation data (--eval with --eval-labels, "
                             "or --calib with --calib-labels); --min-sqnr needs no labels");
    co.metric = [&](QuantSim& s) -> Result<double> {
      RunFn q = [&s](const Executor::Feeds& f) { return s.run(f); };
      QUENCH_ASSIGN_OR_RETURN(EvalResult e, evaluate(*model, q, *eval_data, o.batch, eval_path));
      return 100.0 * e.top1();  // percent: the budget is in points
    };
  }
  QUENCH_ASSIGN_OR_RETURN(Calibrated cal, calibrate(model, config, calib.get(), co));

  QuantSim& sim = *cal.sim;
  std::optional<EvalResult> fp32, quant;
  OutputAgreement agree;
  if (eval_data) {
    // The reference is the model as given: CLE, ReLU6 -> ReLU and bias correction change the
    // sim's own FP32 model, and their effect belongs to the quantized side of the comparison.
    ExecutorOptions eo;
    eo.num_threads = o.threads;
    QUENCH_ASSIGN_OR_RETURN(std::unique_ptr<Executor> fp_exec, Executor::create(model, eo));
    RunFn fp = [&](const Executor::Feeds& f) { return fp_exec->run(f); };
    // The quantized first output of every evaluated sample, for --save-outputs.
    std::vector<float> saved;
    Shape saved_row;
    RunFn q = [&](const Executor::Feeds& f) -> Result<std::vector<Tensor>> {
      QUENCH_ASSIGN_OR_RETURN(std::vector<Tensor> out, sim.run(f));
      if (!o.save_outputs.empty() && !out.empty() && out[0].dtype() == DType::kFloat32) {
        QUENCH_ASSIGN_OR_RETURN(Tensor y, to_plain(out[0]));
        saved.insert(saved.end(), y.data<float>(), y.data<float>() + y.numel());
        saved_row.assign(y.shape().begin() + 1, y.shape().end());
      }
      return out;
    };
    QUENCH_ASSIGN_OR_RETURN(fp32, evaluate(*model, fp, *eval_data, o.batch, eval_path));
    QUENCH_ASSIGN_OR_RETURN(quant, evaluate(*model, q, *eval_data, o.batch, eval_path, fp, &agree));
    if (!o.save_outputs.empty()) {
      const int64_t row = shape_numel(saved_row);
      // Rows beyond the data set (padding of a fixed batch) are dropped.
      Shape shape = saved_row;
      shape.insert(shape.begin(), quant->samples);
      saved.resize(static_cast<size_t>(quant->samples * row));
      QUENCH_RETURN_IF_ERROR(write_npy(o.save_outputs, Tensor::from_vector<float>(shape, saved)));
    }
  } else if (!o.save_outputs.empty()) {
    return Status::invalid("--save-outputs needs evaluation data (--eval or --calib)");
  }

  // Outputs.
  std::error_code ec;
  fs::create_directories(o.out, ec);
  if (ec) return Status::io_error("-o " + o.out + ": cannot create the folder: " + ec.message());
  const std::string stem = fs::path(o.model).stem().string();
  QuantizedModel qm = sim.quantized_model();
  std::vector<std::string> written, warnings = cal.warnings;
  for (const std::string& e : exports) {
    std::string path;
    Status st;
    if (e == "qdq") {
      path = (fs::path(o.out) / (stem + "_qdq.onnx")).string();
      st = export_qdq_onnx(qm, path);
    } else if (e == "aimet") {
      path = (fs::path(o.out) / (stem + ".encodings")).string();
      st = export_aimet_encodings(qm, path, AimetEncodingVersion::k1_0_0);
    } else if (e == "aimet-0.6.1") {
      path = (fs::path(o.out) / (stem + "_0.6.1.encodings")).string();
      st = export_aimet_encodings(qm, path, AimetEncodingVersion::k0_6_1);
    } else if (e == "vai_q") {
      path = (fs::path(o.out) / "quant_info.json").string();
      st = export_vaiq_quant_info(qm, path);
    } else if (e == "modelslim") {
      path = (fs::path(o.out) / "modelslim").string();
      st = export_modelslim_params(qm, path);
    }
    if (!st.ok() && st.code() == StatusCode::kUnsupported && !exports_given) {
      warnings.push_back(st.message() + "; not written");
      std::fprintf(stderr, "quench: warning: %s\n", warnings.back().c_str());
      continue;
    }
    QUENCH_RETURN_IF_ERROR(st);
    written.push_back(path);
  }

  int64_t n_points[4] = {0, 0, 0, 0};
  for (const QuantPoint& p : qm.points)
    if (p.enabled && p.encoding) ++n_points[static_cast<int>(p.kind)];
  nlohmann::ordered_json j;
  j["model"] = o.model;
  j["config"] = o.config.empty() ? "default" : o.config;
  j["config_source"] = config.source;
  j["calibration"] = {{"data", o.calib.empty() ? "random (data-free)" : o.calib},
                      {"samples", cal.calib_samples},
                      {"seconds", cal.calib_seconds}};
  j["quantizers"] = {{"inputs", n_points[0]},
                     {"activations", n_points[1]},
                     {"weights", n_points[2]},
                     {"biases", n_points[3]}};
  if (fp32 && quant) {
    j["eval"] = {{"data", eval_path}, {"samples", quant->samples}};
    if (quant->labeled) {
      j["eval"]["fp32_top1"] = fp32->top1();
      j["eval"]["quant_top1"] = quant->top1();
      j["eval"]["drop_points"] = 100.0 * (fp32->top1() - quant->top1());
    }
    j["eval"]["top1_agreement"] = agree.agreement();
    j["eval"]["sqnr_db"] = agree.sqnr_db;
    j["eval"]["cosine"] = agree.cosine;
  }
  nlohmann::ordered_json steps = nlohmann::ordered_json::array();
  for (const PtqStep& st : cal.report.steps)
    steps.push_back({{"step", st.name}, {"seconds", st.seconds}, {"lines", st.lines}});
  j["steps"] = steps;
  j["outputs"] = written;
  j["warnings"] = warnings;
  const std::string summary_path = (fs::path(o.out) / "summary.json").string();
  QUENCH_RETURN_IF_ERROR(write_file_atomic(summary_path, j.dump(2) + "\n"));
  if (o.json) {
    print_line(j.dump());
    return Status();
  }
  print_line(fmt::format("model:        {}", o.model));
  // The config's defaults as the command line left them (per-layer rules come on top).
  print_line(fmt::format("config:       {} ({})", o.config.empty() ? "built-in defaults" : o.config,
                         config.source));
  print_line(fmt::format("weights:      {}", config.weight.spec.describe()));
  print_line(fmt::format("activations:  {}, {}", config.activation.spec.describe(),
                         calib_method_name(config.activation.observer.method)));
  print_line(fmt::format("calibration:  {} samples in {:.2f} s", cal.calib_samples, cal.calib_seconds));
  print_line(fmt::format("quantizers:   {} inputs, {} activations, {} weights, {} biases",
                         n_points[0], n_points[1], n_points[2], n_points[3]));
  // The steps beyond preparation and calibration, with what they did.
  for (const PtqStep& st : cal.report.steps) {
    if (st.name == "prepare" || st.name == "calibrate") continue;
    print_line(fmt::format("{:<13} {:.2f} s", st.name + ":", st.seconds));
    for (const std::string& l : st.lines) print_line("              " + l);
  }
  if (fp32 && quant) {
    if (quant->labeled) {
      print_line(fmt::format("top-1:        fp32 {:.2f} %  quantized {:.2f} %  drop {:.2f} points",
                             100 * fp32->top1(), 100 * quant->top1(),
                             100 * (fp32->top1() - quant->top1())));
    }
    print_line(fmt::format("agreement:    top-1 {:.2f} %  SQNR {:.1f} dB  cosine {:.5f} ({} samples)",
                           100 * agree.agreement(), agree.sqnr_db, agree.cosine, agree.samples));
  }
  for (const std::string& w : written) print_line("wrote:        " + w);
  print_line("wrote:        " + summary_path);
  return Status();
}

}  // namespace

CliCommand add_quantize_command(CLI::App& app) {
  auto o = std::make_shared<QuantizeOptions>();
  CLI::App* sub = app.add_subcommand("quantize", "Calibrate and quantize a model; write QDQ ONNX and encodings");
  sub->add_option("MODEL", o->model, "FP32 ONNX model")->required();
  sub->add_option("--calib", o->calib, "Calibration data: IDX, .npy or image folder");
  sub->add_option("--calib-labels", o->calib_labels, "Labels of the calibration data (for accuracy)");
  sub->add_option("--calib-size", o->calib_size, "Calibration samples")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40))
      ->capture_default_str();
  sub->add_option("--eval", o->eval, "Evaluation data (default: the calibration data)");
  sub->add_option("--eval-labels", o->eval_labels, "Labels of the evaluation data");
  sub->add_option("--eval-limit", o->eval_limit, "Evaluate on the first N samples only (0 = all)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
  sub->add_option("--config", o->config, "Quantization config (vai_q, modelslim or AIMET JSON)");
  sub->add_option("--config-format", o->config_format, "vai_q, modelslim, aimet or auto")
      ->capture_default_str();
  sub->add_option("--method", o->method,
                  "Activation range method: minmax, moving_average, percentile, mse, entropy, "
                  "histogram, sigma, tf_enhanced, vaiq_*, ifmr, hfmg");
  sub->add_option("--weights", o->weights, "Weight granularity: per-channel or per-tensor");
  sub->add_option("--w-bits", o->w_bits, "Weight bit width")->check(CLI::Range(2, 16));
  sub->add_option("--a-bits", o->a_bits, "Activation bit width")->check(CLI::Range(2, 16));
  sub->add_option("--default-output-bw", o->default_output_bw, "AIMET config: activation bit width")
      ->check(CLI::Range(2, 16));
  sub->add_option("--default-param-bw", o->default_param_bw, "AIMET config: parameter bit width")
      ->check(CLI::Range(2, 16));
  sub->add_option("-o,--out", o->out, "Output folder")->capture_default_str();
  sub->add_option("--export", o->exports,
                  std::string("Comma list of qdq, aimet, aimet-0.6.1, vai_q, modelslim (default: ") +
                      kDefaultExports + ")");
  sub->add_option("-b,--batch", o->batch, "Batch size")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20))
      ->capture_default_str();
  sub->add_option("-t,--threads", o->threads, "Intra-op threads (0 = all cores)")
      ->check(CLI::Range(0, 4096));
  sub->add_option("--save-outputs", o->save_outputs,
                  "Write the quantized model's first output on the evaluation data to this .npy");
  sub->add_flag("--skip-bad-batches", o->skip_bad_batches,
                "Skip calibration batches holding NaN/Inf (default: fail)");
  sub->add_option("--scale", o->scale, "Multiply raw values by S (default: 1/255 for uint8 data)");
  sub->add_option("--mean", o->mean, "Subtract after scaling: one value or one per channel");
  sub->add_option("--std", o->std, "Divide after subtracting the mean");
  sub->add_option("--layout", o->layout, "nchw or nhwc")->capture_default_str();
  sub->add_flag("--json", o->json, "Print the summary as one JSON object");
  // Accuracy recovery.
  sub->add_flag("--cle", o->cle, "Cross-layer equalization with high-bias absorption (ReLU6 -> ReLU first)");
  sub->add_flag("--relu6-to-relu", o->relu6_to_relu, "Replace Clip(0, 6) by Relu");
  sub->add_flag("--silu-to-hswish", o->silu_to_hswish, "Replace x * Sigmoid(x) by HardSwish(x)");
  sub->add_option("--bias-correction", o->bias_correction,
                  "Bias correction: empirical, analytical or in-calibration");
  sub->add_flag("--adaround", o->adaround, "AdaRound weight rounding (learned per layer)");
  sub->add_option("--adaround-iterations", o->adaround_iterations,
                  "AdaRound steps per layer (default 10000, 15000 below 8 bits)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 30));
  sub->add_option("--adaround-samples", o->adaround_samples, "AdaRound cached samples per layer")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 30));
  sub->add_option("--admm", o->admm, "modelslim ADMM weight scales, at most N steps")
      ->check(CLI::Range(1, 1000000));
  sub->add_option("--easy-quant", o->easy_quant, "EasyQuant scale search, at most N rounds per layer")
      ->check(CLI::Range(1, 1000000));
  sub->add_flag("--squant", o->squant, "SQuant data-free weight rounding");
  sub->add_flag("--round-opt", o->round_opt, "modelslim round_opt: AdaRound with data, SQuant without");
  sub->add_option("--amp-num", o->amp_num, "Keep the N most sensitive layers in float")
      ->check(CLI::Range(0, 1000000));
  sub->add_option("--max-drop", o->max_drop,
                  "Accuracy budget: fall back the fewest layers so top-1 drops at most P points")
      ->check(CLI::Range(0.0, 100.0));
  sub->add_option("--min-sqnr", o->min_sqnr,
                  "Accuracy budget without labels: fall back until the output SQNR reaches DB")
      ->check(CLI::Range(-1000.0, 1000.0));
  sub->add_option("--disable", o->disable, "Comma list of node names kept in float");
  sub->add_flag("--keep-first-last", o->keep_first_last, "First and last weighted layers stay float");
  sub->add_flag("--keep-add", o->keep_add, "Add outputs stay float");
  return {sub, [o] { return run_quantize(*o); }};
}

}  // namespace quench::cli
