// Writes QDQ exports for the onnxruntime cross-check (tests/export/qdq_ort_check.mjs, CTest
// export_qdq_ort): each variant's model, its input and quench's own output on that input (the
// executor running the exported file), plus manifest.json, into <build>/export_qdq/.
//
//   variant            what onnxruntime must reproduce
//   fashion_w8a8       fashion_cnn, int8 per-channel weights, uint8 activations, opset 13
//   fashion_w4a8       the same with INT4 weights, opset 21
//   grid_*             one activation point on grids that need INT4 / UINT4 / INT16 / UINT16 or
//                      a Clip (narrow int8, 6-bit, 12-bit), and float16 / bfloat16 casts
//   matmul_block_int4  a per-block INT4 weight (DequantizeLinear block_size)
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/file_io.h"
#include "data/npy.h"
#include "export/export.h"
#include "fashion_qm.h"
#include "tiny_model.h"

namespace quench {
namespace {

using nlohmann::ordered_json;

const std::string kDir = std::string(QUENCH_BINARY_DIR) + "/export_qdq";

struct Variant {
  std::string name;
  QuantizedModel qm;
  Tensor input;
  float step;         // output quantization step (0: no output encoding)
  std::string check;  // "classifier": top-1 >= 99.5 % and |diff| <= 2 steps; "close": 1e-5
};

QuantizedModel identity_point(const QuantSpec& s, std::optional<Encoding> e) {
  testing::TinyModel t(13);
  Value* x = t.input("x", {8, 64});
  t.output(t.node("Identity", "id", {x}, "v"));
  QuantizedModel qm;
  qm.model = t.done();
  qm.points.push_back(testing::point_on("v", TensorKind::kActivation, "id", -1, s, std::move(e)));
  return qm;
}

std::vector<Variant> variants() {
  std::vector<Variant> v;
  Tensor images = testing::fashion_images("t10k-images-idx3-ubyte.gz", 0, 1000);
  for (auto [name, opts] : {std::pair{"fashion_w8a8", testing::fashion_w8a8()},
                            std::pair{"fashion_w4a8", testing::fashion_w4a8()}}) {
    QuantizedModel qm = testing::fashion_quantized_model(opts);
    float step = 0;
    for (const QuantPoint& p : qm.points)
      if (p.value == "logits") step = p.encoding->scale[0];
    v.push_back({name, qm, images, step, "classifier"});
  }
  struct Grid {
    const char* name;
    int bits;
    bool is_signed, symmetric, narrow;
    NumberFormat format;
  };
  const Grid grids[] = {
      {"grid_int8_narrow", 8, true, true, true, NumberFormat::kInt},
      {"grid_uint6", 6, false, false, false, NumberFormat::kInt},
      {"grid_int4", 4, true, true, false, NumberFormat::kInt},
      {"grid_uint4", 4, false, false, false, NumberFormat::kInt},
      {"grid_uint12", 12, false, false, false, NumberFormat::kInt},
      {"grid_int16", 16, true, true, false, NumberFormat::kInt},
      {"grid_float16", 16, true, true, false, NumberFormat::kFloat16},
      {"grid_bfloat16", 16, true, true, false, NumberFormat::kBFloat16},
  };
  Tensor x = testing::random_tensor({8, 64}, -3.0f, 3.0f, 17);
  for (const Grid& g : grids) {
    QuantSpec s;
    s.format = g.format;
    s.bits = g.bits;
    s.is_signed = g.is_signed;
    s.symmetric = g.symmetric;
    s.narrow_range = g.narrow;
    std::optional<Encoding> e;
    if (g.format == NumberFormat::kInt) e = encoding_from_range(s, {-2.0f}, {2.0f}).value();
    v.push_back({g.name, identity_point(s, e), x, 0.0f, "close"});
  }
  {
    Tensor w = testing::random_tensor({16, 8}, -1.0f, 1.0f, 18);
    testing::TinyModel t(13);
    Value* xv = t.input("x", {4, 16});
    t.output(t.node("MatMul", "mm", {xv, t.init("w", w)}, "y"));
    QuantSpec s;
    s.bits = 4;
    s.granularity = Granularity::kPerBlock;
    s.axis = 0;
    s.block_size = 8;
    QuantizedModel qm;
    qm.model = t.done();
    qm.points.push_back(testing::point_on(
        "w", TensorKind::kWeight, "mm", 1, s,
        encoding_from_range(s, std::vector<float>(16, -1.0f), std::vector<float>(16, 1.0f), {2, 8})
            .value()));
    v.push_back({"matmul_block_int4", qm, testing::random_tensor({4, 16}, -1.0f, 1.0f, 19), 0.0f,
                 "close"});
  }
  return v;
}

TEST(ExportQdqOrt, WriteModelsForOnnxruntime) {
  std::error_code ec;
  std::filesystem::remove_all(kDir, ec);
  std::filesystem::create_directories(kDir);
  ordered_json manifest = ordered_json::array();
  for (Variant& var : variants()) {
    SCOPED_TRACE(var.name);
    const std::string model_file = kDir + "/" + var.name + ".onnx";
    Status s = export_qdq_onnx(var.qm, model_file);
    ASSERT_TRUE(s.ok()) << s.message();
    // quench's side runs the file as written, not the in-memory model.
    auto loaded = onnx::load_model(model_file);
    ASSERT_TRUE(loaded.ok()) << loaded.status().message();
    const std::string input_name = loaded->graph->inputs.at(0)->name;
    std::vector<Tensor> out = testing::run_all(*loaded, {{input_name, var.input}});
    ASSERT_FALSE(out.empty());
    ASSERT_TRUE(write_npy(kDir + "/" + var.name + ".input.npy", var.input).ok());
    ASSERT_TRUE(write_npy(kDir + "/" + var.name + ".quench.npy", out[0]).ok());
    manifest.push_back({{"name", var.name},
                        {"model", var.name + ".onnx"},
                        {"opset", loaded->opset("")},
                        {"input", input_name},
                        {"input_file", var.name + ".input.npy"},
                        {"expected_file", var.name + ".quench.npy"},
                        {"step", var.step},
                        {"check", var.check}});
  }
  ASSERT_TRUE(write_file_atomic(kDir + "/manifest.json", manifest.dump(2)).ok());
}

}  // namespace
}  // namespace quench
