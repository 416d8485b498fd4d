// modelslim parameter files (read back with read_npy) and the atomic-write contract of every
// exporter: a failed export names the path and leaves no file, partial or temporary.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/file_io.h"
#include "data/npy.h"
#include "export/export.h"
#include "fashion_qm.h"
#include "quant/quantize.h"

namespace quench {
namespace {

using nlohmann::json;
using testing::fashion_layers;

const Encoding& encoding_of(const QuantizedModel& qm, const std::string& value) {
  for (const QuantPoint& p : qm.points)
    if (p.value == value) return *p.encoding;
  ADD_FAILURE() << "no point " << value;
  return *qm.points.front().encoding;
}

std::vector<double> as_doubles(const std::vector<float>& v) { return {v.begin(), v.end()}; }
std::vector<double> as_doubles(const std::vector<int32_t>& v) { return {v.begin(), v.end()}; }

// "/features/features.0/Conv" -> "_features_features.0_Conv"
std::string stem(const std::string& node) {
  std::string s = node;
  for (char& c : s)
    if (c == '/' || c == ':') c = '_';
  return s;
}

TEST(ModelslimParams, PerLayerNpyFilesMatchEncodings) {
  QuantizedModel qm = testing::fashion_quantized_model(testing::fashion_w8a8());
  testing::TempDir dir("modelslim");
  const std::string out = dir.file("params");  // created by the exporter
  ASSERT_TRUE(export_modelslim_params(qm, out).ok());
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(out)) files.push_back(e.path().filename());
  EXPECT_EQ(files.size(), 5u * 5u + 1u);

  for (const testing::FashionLayer& l : fashion_layers()) {
    SCOPED_TRACE(l.node);
    const std::string prefix = out + "/" + stem(l.node);
    const Encoding& in = encoding_of(qm, l.input);
    const Encoding& we = encoding_of(qm, l.weight);
    auto input_scale = read_npy(prefix + ".input_scale.npy");
    ASSERT_TRUE(input_scale.ok()) << input_scale.status().message();
    EXPECT_EQ(input_scale->dtype(), DType::kFloat32);
    EXPECT_EQ(input_scale->to_double_vector(), as_doubles(in.scale));
    EXPECT_EQ(read_npy(prefix + ".input_offset.npy")->to_double_vector(), as_doubles(in.zero_point));
    auto weight_scale = read_npy(prefix + ".weight_scale.npy").value();
    EXPECT_EQ(weight_scale.shape(), Shape{we.num_params()});
    EXPECT_EQ(weight_scale.to_double_vector(), as_doubles(we.scale));
    EXPECT_EQ(read_npy(prefix + ".weight_offset.npy")->to_double_vector(), as_doubles(we.zero_point));
    auto qw = read_npy(prefix + ".quant_weight.npy").value();
    Tensor want = quantize(qm.model->graph->find_value(l.weight)->constant, we).value();
    EXPECT_EQ(qw.dtype(), DType::kInt8);
    EXPECT_EQ(qw.shape(), want.shape());
    EXPECT_EQ(qw.to_int64_vector(), want.to_int64_vector());
  }
  json index = json::parse(read_file(out + "/quant_params.json").value());
  const json& first = index["layers"]["/features/features.0/Conv"];
  EXPECT_EQ(first["file_prefix"], "_features_features.0_Conv");
  EXPECT_EQ(first["weight"], "onnx::Conv_40");
  EXPECT_EQ(first["input"], "input");
  EXPECT_EQ(first["w_bit"], 8);
  // The second Conv reads the MaxPool output, whose grid is the Relu's.
  EXPECT_EQ(index["layers"]["/features/features.4/Conv"]["input"], "/features/features.3/MaxPool_output_0");
}

TEST(ModelslimParams, LayerWithFloatInputHasNoInputFiles) {
  QuantizedModel qm = testing::fashion_quantized_model(testing::fashion_w8a8());
  for (QuantPoint& p : qm.points)
    if (p.value == "input") p.enabled = false;
  testing::TempDir dir("modelslim_noinput");
  ASSERT_TRUE(export_modelslim_params(qm, dir.path()).ok());
  EXPECT_FALSE(std::filesystem::exists(dir.file("_features_features.0_Conv.input_scale.npy")));
  EXPECT_TRUE(std::filesystem::exists(dir.file("_features_features.0_Conv.weight_scale.npy")));
  json index = json::parse(read_file(dir.file("quant_params.json")).value());
  EXPECT_TRUE(index["layers"]["/features/features.0/Conv"]["input"].is_null());
}

std::string tmp_name(const std::string& path) { return path + ".tmp." + std::to_string(::getpid()); }

TEST(AtomicExport, MissingFolderIsAnIoErrorAndLeavesNothing) {
  QuantizedModel qm = testing::fashion_quantized_model(testing::fashion_w8a8());
  testing::TempDir dir("atomic_missing");
  const std::string missing = dir.file("no_such_folder");
  struct Case {
    const char* what;
    std::function<Status(const std::string&)> run;
  };
  const Case cases[] = {
      {"qdq", [&](const std::string& p) { return export_qdq_onnx(qm, p); }},
      {"aimet", [&](const std::string& p) { return export_aimet_encodings(qm, p, AimetEncodingVersion::k1_0_0); }},
      {"vaiq", [&](const std::string& p) { return export_vaiq_quant_info(qm, p); }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const std::string path = missing + "/out.file";
    Status s = c.run(path);
    EXPECT_EQ(s.code(), StatusCode::kIoError);
    EXPECT_EQ(s.message(),
              path + ": cannot create " + tmp_name(path) + " (No such file or directory)");
  }
  EXPECT_TRUE(dir.listing().empty());
}

TEST(AtomicExport, FailedRenameLeavesNoTemporaryFile) {
  QuantizedModel qm = testing::fashion_quantized_model(testing::fashion_w8a8());
  testing::TempDir dir("atomic_rename");
  // The destination is a folder: the temporary file is written, the rename fails.
  const std::string target = dir.file("taken");
  std::filesystem::create_directory(target);
  Status s = export_vaiq_quant_info(qm, target);
  EXPECT_EQ(s.code(), StatusCode::kIoError);
  EXPECT_EQ(s.message(), target + ": rename failed (Is a directory)");
  Status q = export_qdq_onnx(qm, target);
  EXPECT_EQ(q.code(), StatusCode::kIoError);
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"taken"});
}

TEST(AtomicExport, ModelslimRemovesWhatItWroteOnFailure) {
  QuantizedModel qm = testing::fashion_quantized_model(testing::fashion_w8a8());
  testing::TempDir dir("atomic_modelslim");
  // The last layer's quant_weight file cannot be written: everything before it goes again.
  const std::string blocker = dir.file("_classifier_classifier.4_Gemm.quant_weight.npy");
  std::filesystem::create_directory(blocker);
  Status s = export_modelslim_params(qm, dir.path());
  EXPECT_EQ(s.code(), StatusCode::kIoError);
  EXPECT_EQ(s.message(), blocker + ": rename failed (Is a directory)");
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"_classifier_classifier.4_Gemm.quant_weight.npy"});

  // A folder that cannot be created (its parent is a file).
  std::ofstream(dir.file("plain_file")) << "x";
  const std::string bad = dir.file("plain_file") + "/params";
  Status m = export_modelslim_params(qm, bad);
  EXPECT_EQ(m.code(), StatusCode::kIoError);
  EXPECT_EQ(m.message(), "modelslim export: cannot create folder '" + bad + "' (Not a directory)");
}

}  // namespace
}  // namespace quench
