// `quench quantize` end to end: the files it writes (QDQ model, encodings, quant_info, summary),
// the summary's numbers against references computed here, the committed example configs, and the
// exact messages and exit codes for bad input (config keys and rules, bit widths, NaN / Inf and
// empty calibration data). Each run uses 64 Fashion-MNIST test images (noise when the Debian
// package is missing) and the bundled models/fashion_cnn.onnx, so the whole file stays fast.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "data/idx.h"
#include "data/npy.h"
#include "onnx/onnx_io.h"
#include "runtime/executor.h"
#include "testutil.h"
#include "cli_harness.h"

namespace quench {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::TempDir;

const std::string kModel = QUENCH_SOURCE_DIR "/models/fashion_cnn.onnx";
const std::string kFashion = "/usr/share/datasets/fashion-mnist/";
constexpr int64_t kSamples = 64;

// --- Running the binary (as tests/cli/cli_test.cpp does) -----------------------------------------

using testing::CliResult;
using testing::slurp;

// stdout and stderr go to files, so stderr is never a terminal: no progress bar may appear.
CliResult quench(const TempDir& dir, const std::vector<std::string>& args) {
  CliResult r = testing::run_quench(dir, args);
  EXPECT_EQ(r.err.find('\r'), std::string::npos) << "progress output on a non-terminal stderr";
  EXPECT_EQ(r.out.find('\r'), std::string::npos);
  return r;
}

// File and folder names in `path`, sorted.
std::vector<std::string> listing(const std::string& path) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(path, ec)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

json read_json(const std::string& path) {
  json j = json::parse(slurp(path), nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << path << " is not valid JSON";
  return j;
}

// --- Data ----------------------------------------------------------------------------------------

struct Images {
  Tensor x;       // float32 [64, 1, 28, 28] in [0, 1]
  Tensor labels;  // int64 [64]
  bool real = false;
};

// The first 64 Fashion-MNIST test images, or deterministic noise with labels i % 10.
Images fashion_images() {
  Images d;
  d.x = Tensor::empty(DType::kFloat32, {kSamples, 1, 28, 28});
  d.labels = Tensor::empty(DType::kInt64, {kSamples});
  auto reader = open_idx_reader(kFashion + "t10k-images-idx3-ubyte.gz");
  Result<Tensor> labels = read_idx(kFashion + "t10k-labels-idx1-ubyte.gz");
  if (reader.ok() && labels.ok()) {
    Result<Tensor> rows = (*reader)->read_rows(kSamples);
    if (rows.ok()) {
      for (int64_t i = 0; i < d.x.numel(); ++i) d.x.data<float>()[i] = rows->data<uint8_t>()[i] / 255.0f;
      for (int64_t i = 0; i < kSamples; ++i) d.labels.data<int64_t>()[i] = labels->data<uint8_t>()[i];
      d.real = true;
      return d;
    }
  }
  Tensor noise = testing::random_tensor({kSamples, 1, 28, 28}, 0.0f, 1.0f, 5);
  std::copy_n(noise.data<float>(), noise.numel(), d.x.data<float>());
  for (int64_t i = 0; i < kSamples; ++i) d.labels.data<int64_t>()[i] = i % 10;
  return d;
}

const Images& images() {
  static const Images d = fashion_images();
  return d;
}

std::string write_tensor(const TempDir& dir, const std::string& name, const Tensor& t) {
  const std::string path = dir.file(name);
  Status s = write_npy(path, t);
  EXPECT_TRUE(s.ok()) << s.message();
  return path;
}

std::string write_text(const TempDir& dir, const std::string& name, const std::string& text) {
  std::ofstream(dir.file(name), std::ios::binary) << text;
  return dir.file(name);
}

// The logits of `model_path` on the 64 images, run by quench's own executor.
Tensor run_model(const std::string& model_path) {
  Result<Model> m = onnx::load_model(model_path);
  EXPECT_TRUE(m.ok()) << m.status().message();
  if (!m.ok()) return Tensor();
  auto exec = Executor::create(std::make_shared<Model>(std::move(m).value()));
  EXPECT_TRUE(exec.ok()) << exec.status().message();
  if (!exec.ok()) return Tensor();
  auto out = (*exec)->run({{"input", images().x}});
  EXPECT_TRUE(out.ok()) << out.status().message();
  if (!out.ok()) return Tensor();
  auto plain = to_plain(out->at(0));
  EXPECT_TRUE(plain.ok());
  return plain.ok() ? *plain : Tensor();
}

int64_t correct_top1(const Tensor& logits) {
  int64_t correct = 0;
  for (int64_t i = 0; i < kSamples; ++i) {
    const float* row = logits.data<float>() + i * 10;
    const int64_t best = std::max_element(row, row + 10) - row;
    correct += best == images().labels.data<int64_t>()[i];
  }
  return correct;
}

// Input `index` (1: weight, 2: bias) of every Conv and Gemm of the bundled model.
std::vector<std::string> layer_inputs(int index) {
  std::vector<std::string> names;
  Result<Model> m = onnx::load_model(kModel);
  EXPECT_TRUE(m.ok());
  if (!m.ok()) return names;
  for (const Node* n : m->graph->nodes())
    if ((n->op_type == "Conv" || n->op_type == "Gemm") && n->inputs.size() > static_cast<size_t>(index))
      names.push_back(n->inputs[static_cast<size_t>(index)]->name);
  return names;
}

int count_ops(const Model& m, const std::string& op_type) {
  int n = 0;
  for (const Node* node : m.graph->nodes()) n += node->op_type == op_type;
  return n;
}

const json* find_named(const json& list, const std::string& name) {
  for (const json& e : list)
    if (e.value("name", "") == name) return &e;
  return nullptr;
}

json quantizers(int64_t inputs, int64_t activations, int64_t weights, int64_t biases) {
  return json{{"inputs", inputs}, {"activations", activations}, {"weights", weights}, {"biases", biases}};
}

// --- Happy path ----------------------------------------------------------------------------------

TEST(QuantizeCli, WritesQdqModelEncodingsAndSummaryWithLabels) {
  TempDir dir("qcli_happy");
  const std::string x = write_tensor(dir, "x.npy", images().x);
  const std::string y = write_tensor(dir, "y.npy", images().labels);
  const std::string out = dir.file("out");
  CliResult r = quench(dir, {"quantize", kModel, "--calib", x, "--calib-labels", y, "-o", out, "-b", "8"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(listing(out), (std::vector<std::string>{"fashion_cnn.encodings", "fashion_cnn_qdq.onnx",
                                                                "quant_info.json", "summary.json"}));

  // summary.json: FP32 accuracy as quench's executor computes it on the same images.
  json s = read_json(out + "/summary.json");
  const int64_t fp32_correct = correct_top1(run_model(kModel));
  if (images().real) {
    EXPECT_GE(fp32_correct, kSamples * 85 / 100);  // a 93 % model
  }
  EXPECT_EQ(s["model"], kModel);
  EXPECT_EQ(s["config"], "default");
  EXPECT_EQ(s["calibration"]["data"], x);
  EXPECT_EQ(s["calibration"]["samples"], kSamples);
  EXPECT_EQ(s["quantizers"], quantizers(1, 5, 5, 5));
  EXPECT_EQ(s["eval"]["samples"], kSamples);
  EXPECT_DOUBLE_EQ(s["eval"]["fp32_top1"].get<double>(), static_cast<double>(fp32_correct) / kSamples);
  const double quant_top1 = s["eval"]["quant_top1"].get<double>();
  EXPECT_NEAR(s["eval"]["drop_points"].get<double>(),
              100.0 * (s["eval"]["fp32_top1"].get<double>() - quant_top1), 1e-9);
  EXPECT_GE(s["eval"]["top1_agreement"].get<double>(), 0.9);
  EXPECT_GT(s["eval"]["sqnr_db"].get<double>(), 25.0);
  EXPECT_GT(s["eval"]["cosine"].get<double>(), 0.999);
  EXPECT_LE(s["eval"]["cosine"].get<double>(), 1.0 + 1e-9);
  EXPECT_EQ(s["outputs"], json({out + "/fashion_cnn_qdq.onnx", out + "/fashion_cnn.encodings",
                                out + "/quant_info.json"}));
  EXPECT_EQ(s["warnings"], json::array());

  // The printed summary carries the same numbers.
  EXPECT_NE(r.out.find("calibration:  64 samples in "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("quantizers:   1 inputs, 5 activations, 5 weights, 5 biases\n"), std::string::npos);
  EXPECT_NE(r.out.find(fmt::format("top-1:        fp32 {:.2f} %  quantized {:.2f} %", 100.0 * fp32_correct / kSamples,
                                   100.0 * quant_top1)),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("wrote:        " + out + "/summary.json\n"), std::string::npos) << r.out;

  // The QDQ model loads in quench, holds one Q/DQ pair per input / activation quantizer and a DQ
  // per weight and bias, and classifies the images as the simulation did (within one image: the
  // executor's int8 path and the simulation may round one borderline logit differently).
  Result<Model> qdq = onnx::load_model(out + "/fashion_cnn_qdq.onnx");
  ASSERT_TRUE(qdq.ok()) << qdq.status().message();
  EXPECT_EQ(count_ops(*qdq, "QuantizeLinear"), 6);
  EXPECT_EQ(count_ops(*qdq, "DequantizeLinear"), 6 + 5 + 5);
  const int64_t qdq_correct = correct_top1(run_model(out + "/fashion_cnn_qdq.onnx"));
  EXPECT_LE(std::abs(static_cast<double>(qdq_correct) - quant_top1 * kSamples), 1.0);

  // AIMET encodings 1.0.0: the input is min-max asymmetric uint8 over the data; weights are
  // per-channel symmetric int8, scale = max |w| / 127 per output channel.
  json enc = read_json(out + "/fashion_cnn.encodings");
  EXPECT_EQ(enc["version"], "1.0.0");
  ASSERT_TRUE(enc["activation_encodings"].is_array());
  EXPECT_EQ(enc["activation_encodings"].size(), 6u);
  EXPECT_EQ(enc["param_encodings"].size(), 10u);
  const float* px = images().x.data<float>();
  const float lo = std::min(0.0f, *std::min_element(px, px + images().x.numel()));
  const float hi = *std::max_element(px, px + images().x.numel());
  const json* in = find_named(enc["activation_encodings"], "input");
  ASSERT_NE(in, nullptr) << enc["activation_encodings"].dump();
  EXPECT_EQ((*in)["bw"], 8);
  EXPECT_EQ((*in)["is_sym"], false);
  EXPECT_NEAR((*in)["scale"][0].get<double>(), (hi - lo) / 255.0, 1e-7);
  EXPECT_EQ((*in)["offset"][0], 0);
  Result<Model> fp32 = onnx::load_model(kModel);
  ASSERT_TRUE(fp32.ok());
  const Value* w = nullptr;
  for (const Node* n : fp32->graph->nodes())
    if (n->name == "/features/features.0/Conv") w = n->inputs[1];
  ASSERT_TRUE(w && w->is_constant());
  const json* we = find_named(enc["param_encodings"], w->name);
  ASSERT_NE(we, nullptr) << w->name;
  EXPECT_EQ((*we)["enc_type"], "PER_CHANNEL");
  ASSERT_EQ((*we)["scale"].size(), 32u);
  const Tensor& wt = w->constant;
  for (int64_t c = 0; c < 32; ++c) {
    float m = 0.0f;
    for (int64_t k = 0; k < 9; ++k) m = std::max(m, std::abs(wt.data<float>()[c * 9 + k]));
    EXPECT_NEAR((*we)["scale"][c].get<double>(), m / 127.0, 1e-6 * m) << "channel " << c;
  }

  // vai_q quant_info.json: the weight gets an entry under "param".
  json qi = read_json(out + "/quant_info.json");
  ASSERT_TRUE(qi.contains("param")) << qi.dump();
  EXPECT_TRUE(qi["param"].contains(w->name)) << qi["param"].dump();
}

TEST(QuantizeCli, WithoutLabelsJsonSummaryHasSqnrAndCosine) {
  TempDir dir("qcli_nolabels");
  const std::string x = write_tensor(dir, "x.npy", images().x);
  const std::string out = dir.file("out");
  CliResult r = quench(dir, {"quantize", kModel, "--calib", x, "-o", out, "--eval-limit", "32", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  ASSERT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  json j = json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  EXPECT_EQ(j, read_json(out + "/summary.json"));
  EXPECT_EQ(j["eval"]["samples"], 32);
  EXPECT_FALSE(j["eval"].contains("fp32_top1"));
  EXPECT_FALSE(j["eval"].contains("quant_top1"));
  EXPECT_GT(j["eval"]["sqnr_db"].get<double>(), 25.0);
  EXPECT_GT(j["eval"]["cosine"].get<double>(), 0.999);
  EXPECT_EQ(j["calibration"]["samples"], kSamples);  // --eval-limit does not limit calibration
}

// --export picks the files; --w-bits / --a-bits reach the encodings.
TEST(QuantizeCli, ExportListAndBitWidthOptions) {
  TempDir dir("qcli_export");
  const std::string x = write_tensor(dir, "x.npy", images().x);
  const std::string out = dir.file("out");
  CliResult r = quench(dir, {"quantize", kModel, "--calib", x, "-o", out, "--eval-limit", "8", "--export",
                             "aimet-0.6.1,modelslim", "--w-bits", "4", "--a-bits", "6"});
  ASSERT_EQ(r.code, 0) << r.err;
  // The summary shows the defaults as the options left them.
  EXPECT_NE(r.out.find("config:       built-in defaults (default)\n"
                       "weights:      int4 sym per-channel(axis 0) half_even\n"
                       "activations:  uint6 asym per-tensor half_even, minmax\n"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(listing(out),
            (std::vector<std::string>{"fashion_cnn_0.6.1.encodings", "modelslim", "summary.json"}));
  json enc = read_json(out + "/fashion_cnn_0.6.1.encodings");
  EXPECT_EQ(enc["version"], "0.6.1");
  const json& in = enc["activation_encodings"]["input"][0];
  EXPECT_EQ(in["bitwidth"], 6);
  const float* px = images().x.data<float>();
  const float hi = *std::max_element(px, px + images().x.numel());
  EXPECT_NEAR(in["scale"].get<double>(), hi / 63.0, 1e-7);
  ASSERT_TRUE(enc["param_encodings"].is_object());
  const std::vector<std::string> weights = layer_inputs(1);
  ASSERT_EQ(weights.size(), 5u);
  for (const std::string& w : weights) {
    ASSERT_TRUE(enc["param_encodings"].contains(w)) << w;
    EXPECT_EQ(enc["param_encodings"][w][0]["bitwidth"], 4) << w;
  }

  // modelslim: five .npy files per quantized layer (3 Conv + 2 Gemm) and the index.
  std::vector<std::string> files = listing(out + "/modelslim");
  EXPECT_EQ(files.size(), 5u * 5u + 1u);
  json index = read_json(out + "/modelslim/quant_params.json");
  ASSERT_EQ(index["layers"].size(), 5u) << index.dump();
  for (const auto& [layer, entry] : index["layers"].items()) {
    EXPECT_EQ(entry["w_bit"], 4) << layer;
    EXPECT_EQ(entry["a_bit"], 6) << layer;
    for (const char* suffix : {".input_scale.npy", ".input_offset.npy", ".weight_scale.npy", ".weight_offset.npy",
                               ".quant_weight.npy"})
      EXPECT_TRUE(std::count(files.begin(), files.end(), entry["file_prefix"].get<std::string>() + suffix))
          << layer << suffix;
  }
  const std::string scale_file = out + "/modelslim/_features_features.0_Conv.input_scale.npy";
  Result<Tensor> scale = read_npy(scale_file);
  ASSERT_TRUE(scale.ok()) << scale.status().message();
  ASSERT_EQ(scale->numel(), 1);
  ASSERT_EQ(scale->dtype(), DType::kFloat32);
  EXPECT_NEAR(scale->data<float>()[0], hi / 63.0, 1e-7);  // the model input feeds the first Conv

  // An unknown entry is an error naming it, before any work (nothing written).
  const std::string out2 = dir.file("out2");
  r = quench(dir, {"quantize", kModel, "--calib", x, "-o", out2, "--export", "qdq,onnx"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "quench: error: --export: unknown format 'onnx' (qdq, aimet, aimet-0.6.1, vai_q, modelslim)\n");
  EXPECT_EQ(r.out, "");
  EXPECT_FALSE(fs::exists(out2));
}

// --- Config files --------------------------------------------------------------------------------

struct ExampleCase {
  const char* file;  // under examples/
  const char* source;
  json quantizers;
  bool aimet_written;     // false: bfloat16 points, which AIMET encodings cannot describe
  const char* warning;    // expected in summary.json's warnings ("" = none)
};

TEST(QuantizeCli, CommittedExampleConfigsRunEndToEnd) {
  const std::string kBf16Warning =
      "AIMET encodings export: input 'input' uses bfloat16; AIMET encodings describe integer and "
      "float16 tensors only; not written";
  const std::string kFirstLast =
      "kept in float as first/last layer: Conv '/features/features.0/Conv', Gemm '/classifier/classifier.4/Gemm'";
  const std::vector<ExampleCase> cases = {
      {"vai_q/int_config.json", "vai_q", quantizers(1, 5, 5, 5), true, ""},
      {"vai_q/bfloat16_config.json", "vai_q", quantizers(1, 5, 5, 5), false, kBf16Warning.c_str()},
      {"vai_q/mix_precision_config.json", "vai_q", quantizers(1, 5, 5, 5), false, kBf16Warning.c_str()},
      {"modelslim/data_free.json", "modelslim", quantizers(0, 3, 3, 3), true, kFirstLast.c_str()},
      {"modelslim/label_free.json", "modelslim", quantizers(0, 4, 4, 4), true, ""},
      {"aimet/default_config.json", "aimet", quantizers(1, 5, 5, 0), true, ""},
      {"aimet/per_channel_config.json", "aimet", quantizers(1, 5, 5, 0), true, ""},
  };
  TempDir dir("qcli_examples");
  const std::string x = write_tensor(dir, "x.npy", images().x);
  const std::string y = write_tensor(dir, "y.npy", images().labels);
  int ran = 0;
  for (const ExampleCase& c : cases) {
    const std::string config = testing::source_path(std::string("examples/") + c.file);
    if (!fs::exists(config)) {
      std::printf("note: %s is missing; skipped\n", config.c_str());
      continue;
    }
    ++ran;
    const std::string out = dir.file(std::string("out_") + std::to_string(ran));
    CliResult r = quench(dir, {"quantize", kModel, "--calib", x, "--calib-labels", y, "--config", config, "-o",
                               out, "-b", "32", "--eval-limit", "16", "--json"});
    ASSERT_EQ(r.code, 0) << c.file << ": " << r.err;
    json j = json::parse(r.out, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << c.file << ": " << r.out;
    EXPECT_EQ(j["config"], config);
    EXPECT_EQ(j["config_source"], c.source) << c.file;
    EXPECT_EQ(j["quantizers"], c.quantizers) << c.file;
    EXPECT_EQ(j["eval"]["samples"], 16) << c.file;
    EXPECT_TRUE(j["eval"].contains("quant_top1")) << c.file;
    EXPECT_TRUE(fs::exists(out + "/fashion_cnn_qdq.onnx")) << c.file;
    EXPECT_TRUE(fs::exists(out + "/quant_info.json")) << c.file;
    EXPECT_EQ(fs::exists(out + "/fashion_cnn.encodings"), c.aimet_written) << c.file;
    const json warnings = std::string(c.warning).empty() ? json::array() : json::array({c.warning});
    EXPECT_EQ(j["warnings"], warnings) << c.file;
    std::string err;
    for (const json& w : warnings) err += "quench: warning: " + w.get<std::string>() + "\n";
    EXPECT_EQ(r.err, err) << c.file;
    EXPECT_TRUE(onnx::load_model(out + "/fashion_cnn_qdq.onnx").ok()) << c.file;
  }
  if (ran == 0) GTEST_SKIP() << "no example config is committed yet";
}

struct ConfigErrorCase {
  const char* name;
  const char* json;         // written to <name>.json
  const char* format;       // --config-format ("" = not given)
  std::string message;      // after "quench: error: <path>: "
};

// Each bad config fails with exit 1 before calibration, naming the file, the JSON path and the rule.
TEST(QuantizeCli, ConfigErrorsNamePathValueAndRule) {
  const std::vector<ConfigErrorCase> cases = {
      {"vaiq_unknown_key", R"({"overall_quantize_config": {"datatype": "int", "bit_widht": 8}})", "",
       "vai_q config: overall_quantize_config.bit_widht: unknown key (allowed: datatype, bit_width, method, "
       "round_mode, symmetry, per_channel, signed, narrow_range, scale_type, calib_statistic_method, percentage)"},
      {"modelslim_unknown_key", R"({"w_bit": 8, "a_bits": 8})", "",
       "modelslim config: a_bits: unknown key (allowed: w_bit, a_bit, w_signed, a_signed, w_sym, a_sym, "
       "input_shape, act_quant, act_method, quant_mode, disable_names, amp_num, keep_acc, sigma)"},
      {"aimet_unknown_key", R"({"defaults": {"ops": {}, "params": {}, "bogus": 1}, "op_type": {}})", "",
       "aimet config: defaults.bogus: unknown key (allowed: ops, params, strict_symmetric, unsigned_symmetric, "
       "per_channel_quantization, supported_kernels, hw_version)"},
      {"vaiq_conflict_cpu",
       R"({"target_device": "CPU", "overall_quantize_config": {"datatype": "int", "scale_type": "float",
           "method": "entropy", "symmetry": false, "calib_statistic_method": "max"}})",
       "", "vai_q config: overall_quantize_config.method: \"entropy\" needs symmetry=true for int input on CPU (got false)"},
      {"vaiq_conflict_dpu",
       R"({"target_device": "DPU", "overall_quantize_config": {"per_channel": true}})", "vai_q",
       "vai_q config: overall_quantize_config.per_channel: true is not allowed for int input on target_device "
       "DPU (allowed: false)"},
      {"vaiq_bit_width", R"({"overall_quantize_config": {"datatype": "int", "bit_width": 20}})", "",
       "vai_q config: overall_quantize_config.bit_width: 20 is out of range [2, 16]"},
      {"vaiq_layer_bit_width",
       R"({"layer_quantize_config": [{"layer_type": "Conv", "quantizable_data_type": ["weights"],
           "overall_quantize_config": {"datatype": "int", "bit_width": 1}}]})",
       "", "vai_q config: layer_quantize_config[0].overall_quantize_config.bit_width: 1 is out of range [2, 16]"},
      {"modelslim_bit_width", R"({"w_bit": 20})", "modelslim", "modelslim config: w_bit: 20 is out of range [2, 16]"},
      {"format_mismatch", R"({"target_device": "CPU", "overall_quantize_config": {"datatype": "int"}})", "modelslim",
       "modelslim config: target_device: unknown key (allowed: w_bit, a_bit, w_signed, a_signed, w_sym, a_sym, "
       "input_shape, act_quant, act_method, quant_mode, disable_names, amp_num, keep_acc, sigma) "
       "(--config-format is modelslim but the file looks like a vai_q config)"},
      {"format_mismatch_aimet", R"({"w_bit": 8, "quant_mode": 1})", "aimet",
       "aimet config: w_bit: unknown key (allowed: defaults, params, op_type, supergroups, model_input, "
       "model_output, default_output_bw, default_param_bw) (--config-format is aimet but the file looks like "
       "a modelslim config)"},
      {"not_json", R"({"w_bit": )", "", "config: not valid JSON: parse error at line 1, column 11: syntax "
       "error while parsing value - unexpected end of input; expected '[', '{', or a literal"},
  };
  TempDir dir("qcli_config_errors");
  const std::string x = write_tensor(dir, "x.npy", images().x);
  for (const ConfigErrorCase& c : cases) {
    const std::string config = write_text(dir, std::string(c.name) + ".json", c.json);
    std::vector<std::string> args = {"quantize", kModel, "--calib", x, "--config", config, "-o", dir.file("out")};
    if (*c.format) {
      args.push_back("--config-format");
      args.push_back(c.format);
    }
    CliResult r = quench(dir, args);
    EXPECT_EQ(r.code, 1) << c.name;
    EXPECT_EQ(r.err, "quench: error: " + config + ": " + c.message + "\n") << c.name;
    EXPECT_EQ(r.out, "") << c.name;
  }
  EXPECT_FALSE(fs::exists(dir.file("out")));

  // A --config-format that is no format.
  const std::string config = write_text(dir, "ok.json", R"({"w_bit": 8})");
  CliResult r = quench(dir, {"quantize", kModel, "--calib", x, "--config", config, "--config-format", "tflite"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "quench: error: config format \"tflite\" is not one of auto, vai_q, modelslim, aimet\n");
}

TEST(QuantizeCli, BitWidthOptionsOutOfRangeAreUsageErrors) {
  TempDir dir("qcli_bits");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--w-bits", "1"}, {"--w-bits", "17"}, {"--a-bits", "17"}, {"--a-bits", "0"}};
  for (const auto& [option, value] : cases) {
    CliResult r = quench(dir, {"quantize", kModel, "--calib", dir.file("x.npy"), option, value});
    EXPECT_EQ(r.code, 2) << option << " " << value;
    EXPECT_EQ(r.err, "quench: error: " + option + ": Value " + value +
                         " not in range 2 to 16 (see quench quantize --help)\n");
  }
}

// --- Calibration data ----------------------------------------------------------------------------

TEST(QuantizeCli, NanOrInfInCalibrationDataFailsOrSkipsTheBatch) {
  TempDir dir("qcli_nan");
  Tensor bad = images().x.clone();
  const int64_t row = 40, element = 3 * 28 + 4;  // batch 40 / 16 = 2, element 8 * 784 + 88 = 6360
  bad.data<float>()[row * 784 + element] = std::nanf("");
  const std::string x = write_tensor(dir, "nan.npy", bad);
  const std::string out = dir.file("out");
  CliResult r = quench(dir, {"quantize", kModel, "--calib", x, "-o", out, "-b", "16"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "quench: error: calibration batch 2: value 'input' (model input) holds NaN at element 6360 "
                   "of float32[16, 1, 28, 28]\n");
  EXPECT_EQ(r.out, "");
  EXPECT_FALSE(fs::exists(out));

  bad.data<float>()[row * 784 + element] = 1.0f;
  bad.data<float>()[5 * 784] = -INFINITY;  // batch 0, element 5 * 784 = 3920
  write_tensor(dir, "nan.npy", bad);
  r = quench(dir, {"quantize", kModel, "--calib", x, "-o", out, "-b", "16"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "quench: error: calibration batch 0: value 'input' (model input) holds -Inf at element 3920 "
                   "of float32[16, 1, 28, 28]\n");

  // --skip-bad-batches: a warning line, and the summary counts only the samples used.
  r = quench(dir, {"quantize", kModel, "--calib", x, "-o", out, "-b", "16", "--eval-limit", "4",
                   "--skip-bad-batches"});
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string warning = "calibration batch 0: value 'input' (model input) holds -Inf at element 3920 of "
                              "float32[16, 1, 28, 28]; batch skipped";
  EXPECT_EQ(r.err, "quench: warning: " + warning + "\n");
  json s = read_json(out + "/summary.json");
  EXPECT_EQ(s["calibration"]["samples"], kSamples - 16);
  EXPECT_EQ(s["warnings"], json::array({warning}));
  EXPECT_TRUE(fs::exists(out + "/fashion_cnn_qdq.onnx"));

  // Every batch bad: nothing left to calibrate on.
  for (int64_t b = 0; b < 4; ++b) bad.data<float>()[b * 16 * 784] = std::nanf("");
  write_tensor(dir, "nan.npy", bad);
  r = quench(dir, {"quantize", kModel, "--calib", x, "-o", dir.file("out_all"), "-b", "16",
                   "--skip-bad-batches"});
  EXPECT_EQ(r.code, 1);
  std::string expect;
  for (int64_t b = 0; b < 4; ++b)
    expect += "quench: warning: calibration batch " + std::to_string(b) +
              ": value 'input' (model input) holds NaN at element 0 of float32[16, 1, 28, 28]; batch skipped\n";
  expect += "quench: error: every calibration batch (4) held NaN or Inf: nothing to calibrate on\n";
  EXPECT_EQ(r.err, expect);
}

TEST(QuantizeCli, EmptyCalibrationOrEvaluationSetIsAnError) {
  TempDir dir("qcli_empty");
  const std::string empty = write_tensor(dir, "empty.npy", Tensor::zeros(DType::kFloat32, {0, 1, 28, 28}));
  const std::string x = write_tensor(dir, "x.npy", images().x);
  const std::string out = dir.file("out");
  CliResult r = quench(dir, {"quantize", kModel, "--calib", empty, "-o", out});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "quench: error: calibration set is empty: '" + empty +
                       "' (0 x [1, 28, 28] float32) has no samples\n");
  EXPECT_EQ(r.out, "");
  EXPECT_FALSE(fs::exists(out));
  r = quench(dir, {"quantize", kModel, "--calib", x, "--eval", empty, "-o", out});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "quench: error: evaluation set is empty: '" + empty +
                       "' (0 x [1, 28, 28] float32) has no samples\n");
  EXPECT_FALSE(fs::exists(out));
}

TEST(QuantizeCli, DataFreeModelslimConfigRunsWithoutCalibrationData) {
  TempDir dir("qcli_datafree");
  const std::string config = write_text(dir, "data_free.json", R"({"quant_mode": 0, "input_shape": [1, 28, 28]})");
  const std::string out = dir.file("out");
  CliResult r = quench(dir, {"quantize", kModel, "--config", config, "-o", out});
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string first_last =
      "kept in float as first/last layer: Conv '/features/features.0/Conv', Gemm '/classifier/classifier.4/Gemm'";
  EXPECT_EQ(r.err, "quench: warning: " + first_last + "\n");
  json s = read_json(out + "/summary.json");
  EXPECT_EQ(s["config_source"], "modelslim");
  EXPECT_EQ(s["calibration"]["data"], "random (data-free)");
  EXPECT_EQ(s["calibration"]["samples"], 1);  // one random batch of input_shape
  EXPECT_EQ(s["quantizers"], quantizers(0, 3, 3, 3));
  EXPECT_FALSE(s.contains("eval"));
  EXPECT_EQ(s["warnings"], json::array({first_last}));
  EXPECT_TRUE(onnx::load_model(out + "/fashion_cnn_qdq.onnx").ok());
  EXPECT_EQ(r.out.find("top-1:"), std::string::npos) << r.out;

  // Any other config (and no config) needs data.
  const std::string label_free = write_text(dir, "label_free.json", R"({"quant_mode": 1})");
  for (const std::vector<std::string>& extra : {std::vector<std::string>{"--config", label_free},
                                                std::vector<std::string>{}}) {
    std::vector<std::string> args = {"quantize", kModel, "-o", dir.file("out2")};
    args.insert(args.end(), extra.begin(), extra.end());
    r = quench(dir, args);
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(r.err, "quench: error: --calib is required (only a data-free modelslim config runs without data)\n");
    EXPECT_FALSE(fs::exists(dir.file("out2")));
  }
}

}  // namespace
}  // namespace quench

namespace quench {
namespace {

// The accuracy-recovery flags run their steps in the pipeline's order, and together they bring the
// 4-bit per-tensor model closer to FP32 than plain rounding on the same data.
TEST(QuantizeCli, AccuracyRecoveryFlagsRunTheirStepsInOrder) {
  TempDir dir("qcli_recovery");
  const std::string x = write_tensor(dir, "x.npy", images().x);
  const std::vector<std::string> base = {"quantize", kModel, "--calib", x, "--w-bits", "4",
                                         "--weights", "per-tensor", "--export", "qdq", "--json"};
  auto run = [&](const std::string& out, std::vector<std::string> extra) {
    std::vector<std::string> args = base;
    args.push_back("-o");
    args.push_back(dir.file(out));
    args.insert(args.end(), extra.begin(), extra.end());
    CliResult r = quench(dir, args);
    EXPECT_EQ(r.code, 0) << r.err;
    return read_json(dir.file(out) + "/summary.json");
  };
  const json plain = run("plain", {});
  const json rec = run("rec", {"--cle", "--bias-correction", "empirical", "--adaround",
                               "--adaround-iterations", "200", "--adaround-samples", "64", "--admm", "20",
                               "--easy-quant", "2", "--amp-num", "1"});
  std::vector<std::string> steps;
  for (const json& s : rec["steps"]) steps.push_back(s["step"]);
  const std::vector<std::string> expected = {"prepare", "cle", "admm", "calibrate", "adaround",
                                             "bias_correction", "recalibrate", "easy_quant", "amp_num"};
  EXPECT_EQ(steps, expected);
  std::vector<std::string> plain_steps;
  for (const json& s : plain["steps"]) plain_steps.push_back(s["step"]);
  EXPECT_EQ(plain_steps, (std::vector<std::string>{"prepare", "calibrate"}));
  // AdaRound reports every weighted layer of the bundled model (3 Conv, 2 Gemm; amp_num then
  // keeps one layer float).
  for (const json& s : rec["steps"]) {
    if (s["step"] == "adaround") {
      EXPECT_EQ(s["lines"].size(), 5u) << s.dump();
    }
  }
  EXPECT_GT(rec["eval"]["sqnr_db"].get<double>(), plain["eval"]["sqnr_db"].get<double>() + 3.0)
      << "plain " << plain["eval"].dump() << " recovered " << rec["eval"].dump();
  EXPECT_TRUE(onnx::load_model(dir.file("rec") + "/fashion_cnn_qdq.onnx").ok());

  // The SQNR budget needs no labels and says what it did.
  const json budget = run("budget", {"--min-sqnr", "25"});
  EXPECT_EQ(budget["steps"].back()["step"], "accuracy_budget");
}

TEST(QuantizeCli, AccuracyRecoveryFlagErrors) {
  TempDir dir("qcli_recovery_errors");
  const std::string x = write_tensor(dir, "x.npy", images().x);
  struct Case {
    std::vector<std::string> extra;
    std::string message;
  };
  const Case cases[] = {
      {{"--max-drop", "0.5"},
       "quench: error: --max-drop needs labelled evaluation data (--eval with --eval-labels, or "
       "--calib with --calib-labels); --min-sqnr needs no labels\n"},
      {{"--max-drop", "0.5", "--min-sqnr", "30"},
       "quench: error: --max-drop and --min-sqnr: give one budget, not both\n"},
      {{"--bias-correction", "sideways"},
       "quench: error: --bias-correction: 'sideways' is not empirical, analytical or in-calibration\n"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = {"quantize", kModel, "--calib", x, "-o", dir.file("out")};
    args.insert(args.end(), c.extra.begin(), c.extra.end());
    CliResult r = quench(dir, args);
    EXPECT_EQ(r.code, 1) << c.extra[0];
    EXPECT_EQ(r.err, c.message);
    EXPECT_FALSE(fs::exists(dir.file("out")));
  }
}

}  // namespace
}  // namespace quench

namespace quench {
namespace {

// The config switches of vai_q (include_cle, include_bias_corr: in-calibration, as vai_q does it)
// and modelslim (keep_acc, amp_num) run the same pipeline steps as the flags.
TEST(QuantizeCli, ConfigSwitchesRunTheRecoverySteps) {
  TempDir dir("qcli_config_switches");
  const std::string x = write_tensor(dir, "x.npy", images().x);
  struct Case {
    std::string json;
    std::vector<std::string> steps;
    std::string line;  // a line one of the steps must print
  };
  const Case cases[] = {
      {R"({"convert_relu6_to_relu": false, "include_cle": true, "include_bias_corr": true})",
       {"prepare", "cle", "calibrate", "bias_correction", "recalibrate"}, "(in-calibration)"},
      {R"({"quant_mode": 1, "act_method": 1, "amp_num": 1, "keep_acc": {"admm": [true, 10]}})",
       {"prepare", "admm", "calibrate", "amp_num"}, "weight MSE"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.json);
    const std::string config = write_text(dir, "config.json", c.json);
    const std::string out = dir.file("out");
    fs::remove_all(out);
    CliResult r = quench(dir, {"quantize", kModel, "--calib", x, "--config", config, "-o", out,
                               "--export", "qdq"});
    ASSERT_EQ(r.code, 0) << r.err;
    json s = read_json(out + "/summary.json");
    std::vector<std::string> steps;
    bool line_found = false;
    for (const json& st : s["steps"]) {
      steps.push_back(st["step"]);
      for (const json& l : st["lines"]) line_found |= l.get<std::string>().find(c.line) != std::string::npos;
    }
    EXPECT_EQ(steps, c.steps);
    EXPECT_TRUE(line_found) << s["steps"].dump();
  }
}

}  // namespace
}  // namespace quench
