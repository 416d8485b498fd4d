// The `quench` binary end to end: exit codes, the one-line error messages, and results of run /
// inspect / eval / bench on small models built here with the IR and onnx::save_model.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "data/idx.h"
#include "data/npy.h"
#include "ir/graph.h"
#include "onnx/onnx_io.h"
#include "cli_harness.h"

namespace quench {
namespace {

namespace fs = std::filesystem;


class Scratch {
 public:
  Scratch() {
    std::string tmpl = (fs::temp_directory_path() / "quench-cli-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) ADD_FAILURE() << "mkdtemp failed";
    path_ = tmpl;
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

using testing::CliResult;
using testing::slurp;

CliResult quench(const Scratch& dir, const std::vector<std::string>& args) {
  return testing::run_quench(dir, args);
}

Value* add_value(Graph& g, const std::string& name, std::vector<Dim> shape) {
  Value* v = g.add_value(name).value();
  v->dtype = DType::kFloat32;
  v->has_shape = true;
  v->shape = std::move(shape);
  return v;
}

Value* add_initializer(Graph& g, const std::string& name, Tensor t) {
  Value* v = g.add_value(name).value();
  v->dtype = t.dtype();
  v->has_shape = true;
  for (int64_t d : t.shape()) v->shape.push_back(Dim{d, ""});
  v->constant = std::move(t);
  g.initializers.push_back(v);
  return v;
}

const std::vector<float> kW = {1, 0, -1, 0, 1, 1, 2, 0, 0, -1, 1, 0.5f};  // [4, 3]
const std::vector<float> kB = {0.5f, -1, 0};

// y = Relu(x @ W + B), x: float32 [batch, 4] (or [batch, n] when `symbolic_features`), y: [batch, 3].
// The output is named "out/y:0" to exercise file-name sanitizing.
Model mlp_model(bool symbolic_features = false) {
  Model m;
  m.opset_imports.push_back({"", 17});
  m.producer_name = "quench-test";
  Graph& g = *m.graph;
  g.name = "mlp";
  Value* x = add_value(g, "x", {Dim{-1, "batch"}, symbolic_features ? Dim{-1, "n"} : Dim{4, ""}});
  g.inputs.push_back(x);
  Value* w = add_initializer(g, "W", Tensor::from_vector<float>({4, 3}, kW));
  Value* b = add_initializer(g, "B", Tensor::from_vector<float>({3}, kB));
  Value* mm = add_value(g, "mm", {Dim{-1, "batch"}, Dim{3, ""}});
  Value* add = add_value(g, "add", {Dim{-1, "batch"}, Dim{3, ""}});
  Value* y = add_value(g, "out/y:0", {Dim{-1, "batch"}, Dim{3, ""}});
  g.outputs.push_back(y);
  g.add_node("MatMul", "matmul", {x, w}, {mm});
  g.add_node("Add", "add", {mm, b}, {add});
  g.add_node("Relu", "relu", {add}, {y});
  return m;
}

std::vector<float> mlp_reference(const std::vector<float>& x, int64_t rows) {
  std::vector<float> y(static_cast<size_t>(rows * 3));
  for (int64_t r = 0; r < rows; ++r) {
    for (int j = 0; j < 3; ++j) {
      float s = kB[static_cast<size_t>(j)];
      for (int k = 0; k < 4; ++k) s += x[static_cast<size_t>(r * 4 + k)] * kW[static_cast<size_t>(k * 3 + j)];
      y[static_cast<size_t>(r * 3 + j)] = s > 0 ? s : 0;
    }
  }
  return y;
}

std::string save(const Model& m, const std::string& path) {
  Status s = onnx::save_model(m, path);
  EXPECT_TRUE(s.ok()) << s.message();
  return path;
}

TEST(Cli, EveryCommandHasHelp) {
  Scratch dir;
  for (std::string cmd : {"", "inspect", "run", "eval", "bench", "demo", "quantize"}) {
    std::vector<std::string> args;
    if (!cmd.empty()) args.push_back(cmd);
    args.push_back("--help");
    CliResult r = quench(dir, args);
    EXPECT_EQ(r.code, 0) << cmd << ": " << r.err;
    EXPECT_NE(r.out.find("Usage: quench"), std::string::npos) << cmd << ": " << r.out;
    EXPECT_EQ(r.err, "") << cmd;
  }
}

TEST(Cli, UsageErrorsExitWithTwo) {
  Scratch dir;
  CliResult r = quench(dir, {});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "quench: error: a command is required: inspect, run, eval, bench, demo or quantize (see quench "
                   "--help)\n");
  r = quench(dir, {"frobnicate"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "quench: error: unknown command 'frobnicate' (commands: inspect, run, eval, bench, "
                   "demo, quantize) (see quench --help)\n");
  r = quench(dir, {"run"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "quench: error: MODEL is required (see quench run --help)\n");
  r = quench(dir, {"bench", "m.onnx", "--threads", "lots"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err.rfind("quench: error: --threads", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST(Cli, MissingTruncatedAndForeignModelFiles) {
  Scratch dir;
  const std::string missing = dir.file("missing.onnx");
  for (std::string cmd : {"inspect", "bench"}) {
    CliResult r = quench(dir, {cmd, missing});
    EXPECT_EQ(r.code, 1) << cmd;
    EXPECT_EQ(r.err, "quench: error: model file '" + missing + "' does not exist\n") << cmd;
    EXPECT_EQ(r.out, "") << cmd;
  }
  // Half of a real model.
  std::string model = save(mlp_model(), dir.file("mlp.onnx"));
  std::string bytes = slurp(model);
  ASSERT_GT(bytes.size(), 100u);
  {
    std::ofstream(dir.file("half.onnx"), std::ios::binary) << bytes.substr(0, bytes.size() / 2);
    std::ofstream(dir.file("text.onnx")) << "this is not a model\nat all\n";
  }
  for (std::string name : {"half.onnx", "text.onnx"}) {
    CliResult r = quench(dir, {"inspect", dir.file(name)});
    EXPECT_EQ(r.code, 1) << name;
    EXPECT_EQ(r.err.rfind("quench: error: " + dir.file(name) + ": not an ONNX model", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(r.out, "");
  }
}

TEST(Cli, UnsupportedOpNamesOpAndNode) {
  Scratch dir;
  Model m;
  m.opset_imports.push_back({"", 17});
  Graph& g = *m.graph;
  Value* x = add_value(g, "x", {Dim{2, ""}});
  Value* h = add_value(g, "h", {Dim{2, ""}});
  Value* y = add_value(g, "y", {Dim{2, ""}});
  g.inputs.push_back(x);
  g.outputs.push_back(y);
  g.add_node("Relu", "n1", {x}, {h});
  g.add_node("FooBar", "n3", {h}, {y});
  std::string model = save(m, dir.file("foo.onnx"));
  ASSERT_TRUE(write_npy(dir.file("x.npy"), Tensor::from_vector<float>({2}, {1, -1})).ok());
  CliResult r = quench(dir, {"run", model, "--input", dir.file("x.npy")});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err.rfind("quench: error: unsupported op 'FooBar' (node 'n3'", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  // inspect lists it without failing.
  r = quench(dir, {"inspect", model, "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["unsupported_ops"].size(), 1u);
  EXPECT_EQ(j["unsupported_ops"][0]["op"], "FooBar");
  EXPECT_EQ(j["unsupported_ops"][0]["node"], "n3");
  r = quench(dir, {"inspect", model});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("  'FooBar' (node 'n3')\n"), std::string::npos) << r.out;
}

TEST(Cli, RunComputesAndWritesOutputs) {
  Scratch dir;
  std::string model = save(mlp_model(), dir.file("mlp.onnx"));
  const std::vector<float> x = {1, 2, 3, 4, -1, 0.5f, 2, -3};
  ASSERT_TRUE(write_npy(dir.file("x.npy"), Tensor::from_vector<float>({2, 4}, x)).ok());
  CliResult r = quench(dir, {"run", model, "--input", "x=" + dir.file("x.npy"), "--output",
                             dir.file("y.npy"), "--output-dir", dir.file("outs"), "--threads", "1"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  const std::vector<float> expect = mlp_reference(x, 2);
  for (std::string f : {dir.file("y.npy"), dir.file("outs/out_y_0.npy")}) {
    Result<Tensor> y = read_npy(f);
    ASSERT_TRUE(y.ok()) << y.status().message();
    ASSERT_EQ(y->shape(), (Shape{2, 3}));
    for (size_t i = 0; i < expect.size(); ++i) EXPECT_NEAR(y->data<float>()[i], expect[i], 1e-5) << f << " " << i;
  }
  EXPECT_NE(r.out.find("out/y:0: float32[2, 3] -> " + dir.file("y.npy")), std::string::npos) << r.out;
  // Without name= the file goes to the first input; without --output the values are printed.
  r = quench(dir, {"run", model, "--input", dir.file("x.npy")});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("out/y:0: float32[2, 3] [", 0), 0u) << r.out;
}

TEST(Cli, RunInputErrors) {
  Scratch dir;
  std::string model = save(mlp_model(), dir.file("mlp.onnx"));
  ASSERT_TRUE(write_npy(dir.file("bad_shape.npy"), Tensor::zeros(DType::kFloat32, {2, 5})).ok());
  ASSERT_TRUE(write_npy(dir.file("bad_type.npy"), Tensor::zeros(DType::kInt64, {2, 4})).ok());
  ASSERT_TRUE(write_npy(dir.file("x.npy"), Tensor::zeros(DType::kFloat32, {2, 4})).ok());
  CliResult r = quench(dir, {"run", model, "--input", dir.file("bad_shape.npy")});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "quench: error: input 'x': data has shape [2, 5] but the model expects [batch, 4]\n");
  r = quench(dir, {"run", model, "--input", dir.file("bad_type.npy")});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err.rfind("quench: error: input 'x': data has element type int64 but the model expects float32", 0), 0u)
      << r.err;
  r = quench(dir, {"run", model, "--input", dir.file("nope.npy")});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "quench: error: input 'x': '" + dir.file("nope.npy") + "': no such file\n");
  r = quench(dir, {"run", model, "--input", dir.file("x.npy"), "--input", dir.file("x.npy")});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "quench: error: 2 --input files given but the model has 1 input ('x')\n");
  r = quench(dir, {"run", model, "--input", "y=" + dir.file("x.npy")});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "quench: error: --input y=" + dir.file("x.npy") +
                       ": the model has no input named 'y' (inputs: 'x')\n");
  r = quench(dir, {"run", model});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "quench: error: no input given: use --input [name=]FILE.npy\n");
}

TEST(Cli, InspectJson) {
  Scratch dir;
  std::string model = save(mlp_model(), dir.file("mlp.onnx"));
  CliResult r = quench(dir, {"inspect", model, "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["producer"]["name"], "quench-test");
  EXPECT_EQ(j["opset_imports"][0]["version"], 17);
  ASSERT_EQ(j["inputs"].size(), 1u);
  EXPECT_EQ(j["inputs"][0]["name"], "x");
  EXPECT_EQ(j["inputs"][0]["dtype"], "float32");
  EXPECT_EQ(j["inputs"][0]["shape"], nlohmann::json::parse(R"(["batch", 4])"));
  EXPECT_EQ(j["outputs"][0]["name"], "out/y:0");
  EXPECT_EQ(j["op_histogram"], nlohmann::json::parse(R"({"Add": 1, "MatMul": 1, "Relu": 1})"));
  EXPECT_EQ(j["parameters"]["count"], 15);
  EXPECT_EQ(j["parameters"]["bytes"], 60);
  EXPECT_EQ(j["unsupported_ops"].size(), 0u);
  r = quench(dir, {"inspect", model});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("  x  float32  [batch, 4]\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("parameters:  15 (60 B) in 2 initializers\n"), std::string::npos) << r.out;
}

TEST(Cli, BenchJsonContract) {
  Scratch dir;
  std::string model = save(mlp_model(), dir.file("mlp.onnx"));
  CliResult r = quench(dir, {"bench", model, "--batch", "3", "--threads", "1", "--iterations", "4",
                             "--warmup", "1", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  for (const char* key : {"model", "batch", "threads", "iterations", "throughput_per_s", "latency_ms",
                          "peak_rss_mb", "peak_tensor_mb"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["model"], model);
  EXPECT_EQ(j["batch"], 3);
  EXPECT_EQ(j["threads"], 1);
  EXPECT_EQ(j["iterations"], 4);
  EXPECT_GT(j["throughput_per_s"].get<double>(), 0.0);
  for (const char* key : {"mean", "p50", "p90", "p99"}) EXPECT_GE(j["latency_ms"][key].get<double>(), 0.0) << key;
  EXPECT_LE(j["latency_ms"]["p50"].get<double>(), j["latency_ms"]["p99"].get<double>());
  EXPECT_GT(j["peak_rss_mb"].get<double>(), 1.0);
  EXPECT_GE(j["peak_tensor_mb"].get<double>(), 0.0);
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1);  // one line of JSON
}

TEST(Cli, BenchNeedsKnownDims) {
  Scratch dir;
  std::string model = save(mlp_model(/*symbolic_features=*/true), dir.file("sym.onnx"));
  CliResult r = quench(dir, {"bench", model, "--iterations", "1", "--warmup", "0"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "quench: error: input 'x' [batch, n]: dimension 1 ('n') is not known; give the whole "
                   "shape with --shape x=dims\n");
  r = quench(dir, {"bench", model, "--iterations", "1", "--warmup", "0", "--shape", "x=2,4", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["batch"], 2);
}

// Class scores y = Relu(x W + B): rows chosen so that two of four labels are the arg max.
TEST(Cli, EvalReportsAccuracy) {
  Scratch dir;
  std::string model = save(mlp_model(), dir.file("mlp.onnx"));
  const std::vector<float> x = {1, 0, 0, 0,   // y = [1.5, 0, 0]   -> class 0
                                0, 1, 0, 0,   // y = [0.5, 0, 1]   -> class 2
                                0, 0, 1, 0,   // y = [2.5, 0, 0]   -> class 0
                                0, 0, 0, 1};  // y = [0, 0, 0.5]   -> class 2
  ASSERT_TRUE(write_npy(dir.file("x.npy"), Tensor::from_vector<float>({4, 4}, x)).ok());
  ASSERT_TRUE(write_npy(dir.file("y.npy"), Tensor::from_vector<int64_t>({4}, {0, 1, 0, 1})).ok());
  CliResult r = quench(dir, {"eval", model, "--data", dir.file("x.npy"), "--labels", dir.file("y.npy"),
                             "--batch", "3", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");  // no progress when stderr is not a terminal
  nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["samples"], 4);
  EXPECT_EQ(j["correct_top1"], 2);
  EXPECT_EQ(j["correct_top5"], 4);  // 3 classes: top-3 holds every label
  EXPECT_DOUBLE_EQ(j["top1"].get<double>(), 0.5);
  r = quench(dir, {"eval", model, "--data", dir.file("x.npy"), "--labels", dir.file("y.npy")});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("top-1:       50.00 % (2/4)\n"), std::string::npos) << r.out;

  // A model with a fixed batch of 3 gets batches of 3, the last one padded; the count is the same.
  Model fixed = mlp_model();
  fixed.graph->inputs[0]->shape[0] = Dim{3, ""};
  std::string fixed_path = save(fixed, dir.file("fixed.onnx"));
  r = quench(dir, {"eval", fixed_path, "--data", dir.file("x.npy"), "--labels", dir.file("y.npy"),
                   "--batch", "64", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["batch"], 3);
  EXPECT_EQ(j["samples"], 4);
  EXPECT_EQ(j["correct_top1"], 2);

  r = quench(dir, {"eval", model, "--data", dir.file("missing.npy")});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "quench: error: '" + dir.file("missing.npy") + "': no such file\n");
  ASSERT_TRUE(write_npy(dir.file("x3.npy"), Tensor::zeros(DType::kFloat32, {4, 3})).ok());
  r = quench(dir, {"eval", model, "--data", dir.file("x3.npy")});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "quench: error: data rows have shape [3] (3 elements) but model input 'x' expects [batch, 4]\n");
}

// The same 60 Fashion-MNIST test images as an IDX file and as PNGs in class folders "0".."9" give
// the same accuracy with the bundled model (image size and channel count come from the model).
TEST(Cli, EvalImageFolderMatchesIdx) {
  const std::string root = "/usr/share/datasets/fashion-mnist/";
  const std::string model = QUENCH_SOURCE_DIR "/models/fashion_cnn.onnx";
  if (!fs::exists(root + "t10k-images-idx3-ubyte.gz") || !fs::exists(model)) {
    GTEST_SKIP() << "needs Fashion-MNIST and models/fashion_cnn.onnx";
  }
  Scratch dir;
  constexpr int64_t kCount = 60;
  Result<std::unique_ptr<ArrayReader>> images = open_idx_reader(root + "t10k-images-idx3-ubyte.gz");
  ASSERT_TRUE(images.ok()) << images.status().message();
  Result<Tensor> pixels = (*images)->read_rows(kCount);
  ASSERT_TRUE(pixels.ok());
  Result<Tensor> labels = read_idx(root + "t10k-labels-idx1-ubyte.gz");
  ASSERT_TRUE(labels.ok());
  for (int c = 0; c < 10; ++c) fs::create_directories(dir.file("png/" + std::to_string(c)));
  for (int64_t i = 0; i < kCount; ++i) {
    std::string f = dir.file("png/" + std::to_string(labels->data<uint8_t>()[i]) + "/" + std::to_string(1000 + i) + ".png");
    ASSERT_NE(stbi_write_png(f.c_str(), 28, 28, 1, pixels->data<uint8_t>() + i * 784, 28), 0);
  }
  CliResult a = quench(dir, {"eval", model, "--data", root + "t10k-images-idx3-ubyte.gz", "--labels",
                             root + "t10k-labels-idx1-ubyte.gz", "--limit", std::to_string(kCount),
                             "--batch", "16", "--json"});
  ASSERT_EQ(a.code, 0) << a.err;
  CliResult b = quench(dir, {"eval", model, "--data", dir.file("png"), "--batch", "7", "--json"});
  ASSERT_EQ(b.code, 0) << b.err;
  nlohmann::json ja = nlohmann::json::parse(a.out), jb = nlohmann::json::parse(b.out);
  EXPECT_EQ(ja["samples"], kCount);
  EXPECT_EQ(jb["samples"], kCount);
  EXPECT_GE(ja["correct_top1"].get<int64_t>(), kCount * 8 / 10);  // a 93 % model
  EXPECT_EQ(ja["correct_top1"], jb["correct_top1"]);
  EXPECT_EQ(ja["correct_top5"], jb["correct_top5"]);
}

TEST(Cli, DemoWithoutDatasetSaysWhatToInstall) {
  Scratch dir;
  CliResult r = quench(dir, {"demo", "--data-dir", dir.file("nowhere")});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "quench: error: the Fashion-MNIST test set is missing (" +
                       dir.file("nowhere/t10k-images-idx3-ubyte.gz") +
                       "): install Debian package dataset-fashion-mnist\n");
}

}  // namespace
}  // namespace quench
