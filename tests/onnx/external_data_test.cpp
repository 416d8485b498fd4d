// External data: loading what the onnx package writes, saving with a forced threshold, the
// automatic choice above 2 GB, and locations that try to leave the model's folder.
#include <gtest/gtest.h>

#include <filesystem>
#include <unistd.h>

#include "core/file_io.h"
#include "onnx/onnx_io.h"
#include "testutil.h"

namespace quench::onnx {
namespace {

namespace fs = std::filesystem;

std::string fixture(const std::string& name) {
  return testing::source_path("tests/onnx/data/" + name);
}

using TempDir = testing::TempDir;

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

TEST(OnnxExternalData, LoadsWhatTheOnnxPackageWrites) {
  Result<Model> m = load_model(fixture("ext/model.onnx"));
  ASSERT_TRUE(m.ok()) << m.status().message();
  const Tensor& w = m->graph->find_value("w")->constant;
  ASSERT_EQ(w.shape(), (Shape{3, 4}));
  std::vector<double> expected;
  for (int i = 0; i < 12; ++i) expected.push_back(i * 0.5);
  EXPECT_EQ(w.to_double_vector(), expected);
  EXPECT_EQ(m->graph->find_value("b")->constant.to_int64_vector(),
            (std::vector<int64_t>{-3, 7, int64_t{1} << 40}));
}

TEST(OnnxExternalData, SaveWithThresholdRoundTrips) {
  // Weights big enough to get the page alignment, small ones that stay inline.
  auto model = testing::single_op_model({"Add"}, {testing::random_tensor({2, 3}, -1, 1, 3),
                                                  testing::random_tensor({2, 3}, -1, 1, 4)},
                                        {false, true});
  Graph& g = *model->graph;
  Value* big = g.add_value("big").value();
  big->constant = testing::random_tensor({300, 1000}, -1, 1, 5);  // 1.2 MB
  g.initializers.push_back(big);
  Value* q = g.add_value("q4").value();
  q->constant = Tensor::zeros(DType::kInt4, {4097});
  static_cast<int8_t*>(q->constant.raw_data())[4096] = -3;
  g.initializers.push_back(q);

  TempDir dir("onnx_ext_save");
  const std::string path = dir.file("model.onnx");
  SaveOptions options;
  options.external_data_threshold = 1000;
  ASSERT_TRUE(save_model(*model, path, options).ok());
  // The data file next to the model, no temporary files left behind.
  EXPECT_EQ(dir.listing(), (std::vector<std::string>{"model.onnx", "model.onnx.data"}));
  EXPECT_LT(fs::file_size(path), 2000u);
  EXPECT_GE(fs::file_size(path + ".data"), 1200000u + 2049u);

  Result<Model> back = load_model(path);
  ASSERT_TRUE(back.ok()) << back.status().message();
  for (const Value* v : g.initializers) {
    const Value* b = back->graph->find_value(v->name);
    ASSERT_NE(b, nullptr) << v->name;
    EXPECT_TRUE(same_bits(b->constant, v->constant)) << v->name;
  }
  // With the data back inline, the model is the one we saved.
  Result<std::string> a_bytes = serialize_model(*model);
  Result<std::string> b_bytes = serialize_model(*back);
  ASSERT_TRUE(a_bytes.ok() && b_bytes.ok());
  EXPECT_EQ(*a_bytes, *b_bytes);

  // Saving again over the same files works (the data was read into memory).
  ASSERT_TRUE(save_model(*back, path, options).ok());
  Result<Model> third = load_model(path);
  ASSERT_TRUE(third.ok()) << third.status().message();
  EXPECT_TRUE(same_bits(third->graph->find_value("big")->constant, big->constant));

  // Without a threshold a small model is written inline, in one file.
  TempDir inline_dir("onnx_ext_inline");
  ASSERT_TRUE(save_model(*model, inline_dir.file("m.onnx")).ok());
  EXPECT_EQ(inline_dir.listing(), (std::vector<std::string>{"m.onnx"}));
  Result<std::string> inline_bytes = read_file(inline_dir.file("m.onnx"));
  ASSERT_TRUE(inline_bytes.ok());
  EXPECT_EQ(*inline_bytes, *a_bytes);
}

TEST(OnnxExternalData, AutomaticAbove2GB) {
  SaveOptions automatic;
  EXPECT_EQ(external_data_threshold_for(1000, automatic), 0);
  EXPECT_EQ(external_data_threshold_for(kProtobufLimitBytes, automatic), 0);
  EXPECT_EQ(external_data_threshold_for(kProtobufLimitBytes + 1, automatic), 1024);
  EXPECT_EQ(external_data_threshold_for(int64_t{5} << 30, automatic), 1024);
  SaveOptions forced;
  forced.external_data_threshold = 4096;
  EXPECT_EQ(external_data_threshold_for(1000, forced), 4096);
  EXPECT_EQ(external_data_threshold_for(int64_t{5} << 30, forced), 4096);
}

TEST(OnnxExternalData, RefusesLocationsOutsideTheModelFolder) {
  Result<Model> up = load_model(fixture("escape_dotdot.onnx"));
  ASSERT_FALSE(up.ok());
  EXPECT_EQ(up.status().code(), StatusCode::kInvalid);
  EXPECT_NE(up.status().message().find("initializer 'w': external data location '../secret.bin' "
                                       "escapes the model's folder"),
            std::string::npos)
      << up.status().message();
  Result<Model> abs = load_model(fixture("escape_abs.onnx"));
  ASSERT_FALSE(abs.ok());
  EXPECT_NE(abs.status().message().find("location '/etc/passwd' escapes the model's folder"),
            std::string::npos)
      << abs.status().message();
}

TEST(OnnxExternalData, MissingOrShortDataFile) {
  TempDir dir("onnx_ext_missing");
  Result<std::string> model = read_file(fixture("ext/model.onnx"));
  ASSERT_TRUE(model.ok());
  ASSERT_TRUE(write_file_atomic(dir.file("model.onnx"), *model).ok());
  Result<Model> m = load_model(dir.file("model.onnx"));
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kNotFound);
  EXPECT_NE(m.status().message().find("initializer 'w': external data file '" +
                                      dir.file("weights.bin") + "' cannot be opened"),
            std::string::npos)
      << m.status().message();

  ASSERT_TRUE(write_file_atomic(dir.file("weights.bin"), std::string(30, '\0')).ok());
  m = load_model(dir.file("model.onnx"));
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("initializer 'w': external data needs bytes [0, 48) of '" + dir.file("weights.bin") + "', which has only 30 bytes"), std::string::npos)
      << m.status().message();
}

}  // namespace
}  // namespace quench::onnx
