// ONNX import / export: error messages for bad files, typed-field and 4-bit tensors, opaque parts,
// graph structure. Fixtures come from tests/onnx/data/make_fixtures.py (onnx 1.12).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
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

const Tensor& initializer(const Model& m, const std::string& name) {
  static const Tensor kNone;
  const Value* v = m.graph->find_value(name);
  return v ? v->constant : kNone;
}

TEST(OnnxErrors, MissingFileNamesThePath) {
  const std::string path = "/nonexistent/dir/model.onnx";
  Result<Model> m = load_model(path);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(m.status().message().rfind(path + ": cannot open file", 0), 0u) << m.status().message();
}

TEST(OnnxErrors, TruncatedFile) {
  Result<std::string> bytes = read_file(fixture("typed_fields.onnx"));
  ASSERT_TRUE(bytes.ok());
  TempDir dir("onnx_truncated");
  const std::string path = dir.file("cut.onnx");
  ASSERT_TRUE(write_file_atomic(path, std::string_view(*bytes).substr(0, bytes->size() - 100)).ok());
  Result<Model> m = load_model(path);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kInvalid);
  EXPECT_EQ(m.status().message(),
            path + ": not an ONNX model: failed to parse ModelProto (truncated or corrupt file?)");
}

TEST(OnnxErrors, NotAnOnnxFile) {
  TempDir dir("onnx_text");
  const std::string path = dir.file("notes.onnx");
  ASSERT_TRUE(write_file_atomic(path, "hello, this is a text file, not a model\n").ok());
  Result<Model> m = load_model(path);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().message().rfind(path + ": not an ONNX model", 0), 0u) << m.status().message();
}

TEST(OnnxErrors, ModelWithoutGraph) {
  Result<Model> m = load_model(fixture("no_graph.onnx"));
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("not an ONNX model: ModelProto has no graph"),
            std::string::npos)
      << m.status().message();
}

TEST(OnnxErrors, RawDataSizeMismatchNamesInitializerAndSizes) {
  Result<Model> m = load_model(fixture("bad_raw_size.onnx"));
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kInvalid);
  EXPECT_NE(m.status().message().find(
                "initializer 'w': raw_data holds 20 bytes, expected 24 for float32[2, 3]"),
            std::string::npos)
      << m.status().message();
}

TEST(OnnxErrors, StringInitializerIsUnsupported) {
  Result<Model> m = load_model(fixture("string_init.onnx"));
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(m.status().message().find("initializer 'names': string tensors are not supported"),
            std::string::npos)
      << m.status().message();
}

TEST(OnnxErrors, CycleIsRefused) {
  Result<Model> m = load_model(fixture("cycle.onnx"));
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("graph 'g': graph has a cycle through Relu 'n1', Relu 'n2'"),
            std::string::npos)
      << m.status().message();
}

TEST(OnnxErrors, DanglingInputLoadsAndVerifyGraphReportsIt) {
  Result<Model> m = load_model(fixture("dangling.onnx"));
  ASSERT_TRUE(m.ok()) << m.status().message();
  const Value* missing = m->graph->find_value("missing");
  ASSERT_NE(missing, nullptr);
  EXPECT_EQ(missing->producer, nullptr);
  Status s = verify_graph(*m->graph);
  EXPECT_NE(s.message().find("input 1 'missing' is dangling"), std::string::npos) << s.message();
}

TEST(OnnxTensors, TypedFieldsOfEveryDtype) {
  Result<Model> r = load_model(fixture("typed_fields.onnx"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  const Model& m = *r;
  EXPECT_EQ(initializer(m, "f32").to_double_vector(), (std::vector<double>{1.5, -2.0, 3.25}));
  EXPECT_EQ(initializer(m, "f64").to_double_vector(), (std::vector<double>{0.1, -1e300}));
  EXPECT_EQ(initializer(m, "i64").to_int64_vector(), (std::vector<int64_t>{-(int64_t{1} << 62), 5}));
  EXPECT_EQ(initializer(m, "i32").to_int64_vector(), (std::vector<int64_t>{-7, 2147483647}));
  EXPECT_EQ(initializer(m, "i16").to_int64_vector(), (std::vector<int64_t>{-300, 300}));
  EXPECT_EQ(initializer(m, "u16").to_int64_vector(), (std::vector<int64_t>{65535, 1}));
  EXPECT_EQ(initializer(m, "i8").to_int64_vector(), (std::vector<int64_t>{-128, 0, 127}));
  EXPECT_EQ(initializer(m, "u8").to_int64_vector(), (std::vector<int64_t>{255, 3}));
  EXPECT_EQ(initializer(m, "bool").to_int64_vector(), (std::vector<int64_t>{1, 0, 1}));
  const Tensor& f16 = initializer(m, "f16");
  ASSERT_EQ(f16.dtype(), DType::kFloat16);
  EXPECT_EQ(f16.data<uint16_t>()[0], 0x3C00);  // 1.0
  EXPECT_EQ(f16.data<uint16_t>()[1], 0xB800);  // -0.5
  const Tensor& bf16 = initializer(m, "bf16");
  ASSERT_EQ(bf16.dtype(), DType::kBFloat16);
  EXPECT_EQ(bfloat16_to_float(bf16.data<uint16_t>()[0]), 1.5f);
  EXPECT_EQ(bfloat16_to_float(bf16.data<uint16_t>()[1]), -2.0f);
  const Tensor& u32 = initializer(m, "u32");
  ASSERT_EQ(u32.dtype(), DType::kUInt32);
  EXPECT_EQ(u32.data<uint32_t>()[0], 4294967295u);
  EXPECT_EQ(u32.data<uint32_t>()[1], 9u);
  EXPECT_EQ(initializer(m, "u64").data<uint64_t>()[0], 18446744073709551615ull);
  const Tensor& i4 = initializer(m, "i4");
  ASSERT_EQ(i4.dtype(), DType::kInt4);
  ASSERT_EQ(i4.shape(), (Shape{5}));
  const int8_t* i4p = static_cast<const int8_t*>(i4.raw_data());
  EXPECT_EQ(std::vector<int>(i4p, i4p + 5), (std::vector<int>{-1, -8, 7, 1, -7}));
  const Tensor& u4 = initializer(m, "u4");
  ASSERT_EQ(u4.dtype(), DType::kUInt4);
  const uint8_t* u4p = static_cast<const uint8_t*>(u4.raw_data());
  EXPECT_EQ(std::vector<int>(u4p, u4p + 3), (std::vector<int>{15, 2, 10}));
  const Tensor& f8 = initializer(m, "f8");
  ASSERT_EQ(f8.dtype(), DType::kFloat8E4M3FN);
  EXPECT_EQ(f8.data<uint8_t>()[0], 0x38);
  EXPECT_EQ(f8.data<uint8_t>()[1], 0xC0);

  // Re-exported as raw_data, the values are the same bit for bit.
  Result<std::string> original = read_file(fixture("typed_fields.onnx"));
  Result<std::string> exported = serialize_model(m);
  ASSERT_TRUE(original.ok() && exported.ok());
  EXPECT_NE(*original, *exported);  // typed fields became raw_data...
  Result<std::string> diff = diff_models(*original, *exported);
  ASSERT_TRUE(diff.ok());
  EXPECT_EQ(*diff, "");  // ...with the same values
}

TEST(OnnxTensors, Int4PacksTwoPerByteLowNibbleFirst) {
  Tensor t = Tensor::empty(DType::kInt4, {3});
  int8_t* p = static_cast<int8_t*>(t.raw_data());
  p[0] = 1, p[1] = -1, p[2] = 7;
  Result<std::string> bytes = serialize_tensor(t);
  ASSERT_TRUE(bytes.ok());
  // dims: 3, data_type: 22, raw_data: 0xF1 (1, -1), 0x07 (7, padding 0).
  EXPECT_EQ(*bytes, std::string("\x08\x03\x10\x16\x4a\x02\xf1\x07", 8));

  // Every int4 and uint4 value survives, odd and even counts.
  for (DType dtype : {DType::kInt4, DType::kUInt4}) {
    for (int64_t n : {15, 16}) {
      Tensor src = Tensor::empty(dtype, {n});
      uint8_t* sp = static_cast<uint8_t*>(src.raw_data());
      for (int64_t i = 0; i < n; ++i) {
        sp[i] = dtype == DType::kInt4 ? static_cast<uint8_t>(static_cast<int8_t>(i - 8))
                                      : static_cast<uint8_t>(i);
      }
      Result<std::string> ser = serialize_tensor(src, "q");
      ASSERT_TRUE(ser.ok());
      Result<Tensor> back = parse_tensor(*ser);
      ASSERT_TRUE(back.ok()) << back.status().message();
      ASSERT_EQ(back->dtype(), dtype);
      ASSERT_EQ(back->shape(), (Shape{n}));
      EXPECT_EQ(std::memcmp(back->raw_data(), src.raw_data(), static_cast<size_t>(n)), 0)
          << dtype_name(dtype) << " n=" << n;
    }
  }
}

TEST(OnnxTensors, BackendTestDataPbFiles) {
  const std::string dir = "/usr/share/libonnx-testdata/data/node/";
  if (!fs::exists(dir)) GTEST_SKIP() << "libonnx-testdata not installed";
  // Values printed by onnx.numpy_helper.to_array on the same files.
  Result<Tensor> x = load_tensor(dir + "test_abs/test_data_set_0/input_0.pb");
  ASSERT_TRUE(x.ok()) << x.status().message();
  ASSERT_EQ(x->dtype(), DType::kFloat32);
  ASSERT_EQ(x->shape(), (Shape{3, 4, 5}));
  EXPECT_EQ(x->data<float>()[0], 1.764052391052246f);
  EXPECT_EQ(x->data<float>()[1], 0.40015721321105957f);
  EXPECT_EQ(x->data<float>()[59], -0.3627411723136902f);
  Result<Tensor> h = load_tensor(dir + "test_cast_FLOAT_to_FLOAT16/test_data_set_0/output_0.pb");
  ASSERT_TRUE(h.ok()) << h.status().message();
  ASSERT_EQ(h->dtype(), DType::kFloat16);
  ASSERT_EQ(h->shape(), (Shape{3, 4}));
  EXPECT_EQ(h->data<uint16_t>()[0], 14436);
  EXPECT_EQ(half_to_float(h->data<uint16_t>()[11]), 0.52880859375f);
  Result<Tensor> i = load_tensor(dir + "test_argmax_default_axis_example/test_data_set_0/output_0.pb");
  ASSERT_TRUE(i.ok()) << i.status().message();
  EXPECT_EQ(i->to_int64_vector(), (std::vector<int64_t>{1, 1}));
  ASSERT_EQ(i->shape(), (Shape{1, 2}));

  Result<Tensor> bad = parse_tensor("\x0a\xff");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("failed to parse TensorProto"), std::string::npos);
}

TEST(OnnxTensors, HugeDimsWithoutDataAreRefusedBeforeAllocating) {
  // dims [2^40] float32 with 4 bytes of raw_data: 4 TB must not be allocated.
  const std::string raw("\x08\x80\x80\x80\x80\x80\x20\x10\x01\x4a\x04\0\0\0\0", 15);
  Result<Tensor> t = parse_tensor(raw);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().message(),
            "tensor: raw_data holds 4 bytes, expected 4398046511104 for float32[1099511627776]");
  Result<Tensor> empty = parse_tensor(raw.substr(0, 9));  // no data at all
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("holds no data (expected 1099511627776 values"),
            std::string::npos)
      << empty.status().message();
}

// Every truncation and many single-byte corruptions of small models: import either succeeds or
// returns an error; it never crashes (run under QUENCH_SANITIZE to catch memory errors).
TEST(OnnxErrors, CorruptBytesNeverCrash) {
  int errors = 0, loaded = 0;
  for (const char* name : {"typed_fields.onnx", "opaque.onnx", "old_style.onnx"}) {
    Result<std::string> bytes = read_file(fixture(name));
    ASSERT_TRUE(bytes.ok());
    for (size_t n = 0; n < bytes->size(); ++n) {
      Result<Model> m = parse_model(std::string_view(*bytes).substr(0, n));
      m.ok() ? ++loaded : ++errors;
      for (unsigned char value : {0x00, 0x7f, 0xff}) {
        std::string corrupt = *bytes;
        corrupt[n] = static_cast<char>(value);
        Result<Model> c = parse_model(corrupt);
        if (c.ok()) {
          (void)serialize_model(*c);
          ++loaded;
        } else {
          EXPECT_FALSE(c.status().message().empty());
          ++errors;
        }
      }
    }
  }
  EXPECT_GT(errors, 0);
  EXPECT_GT(loaded, 0);
}

TEST(OnnxModel, OpaquePartsSurviveTheRoundTrip) {
  Result<std::string> original = read_file(fixture("opaque.onnx"));
  ASSERT_TRUE(original.ok());
  Result<Model> m = parse_model(*original);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->producer_name, "fixtures");
  EXPECT_EQ(m->producer_version, "1.0");
  EXPECT_EQ(m->domain, "org.quench");
  EXPECT_EQ(m->model_version, 3);
  EXPECT_EQ(m->doc_string, "model doc");
  EXPECT_EQ(m->opset("local"), 1);
  EXPECT_EQ(m->graph->doc_string, "graph doc");
  ASSERT_EQ(m->metadata_props.size(), 2u);
  // Constant nodes stay nodes, their tensor in the attribute.
  const Node* c = m->graph->nodes()[0];
  EXPECT_EQ(c->op_type, "Constant");
  ASSERT_NE(c->attr("value"), nullptr);
  EXPECT_EQ(c->attr("value")->t.to_double_vector(), (std::vector<double>{1.0, 1.0}));
  const Value* x = m->graph->find_value("x");
  ASSERT_TRUE(x && x->has_shape && x->shape.size() == 2);
  EXPECT_EQ(x->shape[0].symbol, "batch");
  EXPECT_EQ(x->shape[1].value, 3);
  EXPECT_EQ(m->graph->find_value("s")->dtype, DType::kUndefined);  // a sequence
  EXPECT_EQ(m->graph->find_value("y")->has_shape, false);

  Result<std::string> exported = serialize_model(*m);
  ASSERT_TRUE(exported.ok()) << exported.status().message();
  Result<std::string> diff = diff_models(*original, *exported);
  ASSERT_TRUE(diff.ok());
  EXPECT_EQ(*diff, "");
  // The unknown field (field 99 = 7) at model, graph and attribute level, all three kept.
  const std::string unknown("\x98\x06\x07", 3);
  size_t count = 0;
  for (size_t at = exported->find(unknown); at != std::string::npos; at = exported->find(unknown, at + 1)) ++count;
  EXPECT_EQ(count, 3u);
  // NodeProto.metadata_props of ONNX 1.16 (an unknown field to 1.12) stays on its node.
  EXPECT_NE(exported->find(std::string("\x4a\x06\x0a\x01k\x12\x01v", 8)), std::string::npos);
}

TEST(OnnxModel, DiffReportsAChangedAttribute) {
  const std::string path = "/usr/share/libonnx-testdata/data/node/test_conv_with_strides_padding/model.onnx";
  if (!fs::exists(path)) GTEST_SKIP() << "libonnx-testdata not installed";
  Result<std::string> original = read_file(path);
  Result<Model> m = load_model(path);
  ASSERT_TRUE(original.ok() && m.ok());
  Node* conv = m->graph->nodes()[0];
  for (Attribute& a : conv->attributes)
    if (a.name == "strides") a.ints = {3, 3};
  Result<std::string> exported = serialize_model(*m);
  ASSERT_TRUE(exported.ok());
  Result<std::string> diff = diff_models(*original, *exported);
  ASSERT_TRUE(diff.ok());
  EXPECT_NE(diff->find("ints"), std::string::npos) << *diff;
}

TEST(OnnxModel, DiffReportsOneChangedWeightBit) {
  Result<std::string> original = read_file(fixture("old_style.onnx"));
  Result<Model> m = load_model(fixture("old_style.onnx"));
  ASSERT_TRUE(original.ok() && m.ok());
  Result<std::string> same = serialize_model(*m);
  ASSERT_TRUE(same.ok());
  // (old_style.onnx lists its nodes out of order, so compare with its sorted export.)
  EXPECT_NE(diff_models(*original, *same).value(), "");
  Tensor& w = m->graph->initializers[0]->constant;
  w.data<float>()[5] = std::nextafter(w.data<float>()[5], 1.0f);
  Result<std::string> changed = serialize_model(*m);
  ASSERT_TRUE(changed.ok());
  Result<std::string> diff = diff_models(*same, *changed);
  ASSERT_TRUE(diff.ok());
  EXPECT_NE(diff->find("modified: graph.initializer[0].raw_data"), std::string::npos) << *diff;
}

TEST(OnnxModel, OldStyleInitializerInputsAndUnsortedNodes) {
  Result<Model> m = load_model(fixture("old_style.onnx"));
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->ir_version, 3);
  EXPECT_EQ(m->opset(), 7);
  const Graph& g = *m->graph;
  ASSERT_EQ(g.inputs.size(), 2u);
  ASSERT_EQ(g.initializers.size(), 1u);
  EXPECT_EQ(g.inputs[1], g.initializers[0]);  // one Value in both lists
  EXPECT_EQ(g.initializers[0]->constant.to_double_vector(), std::vector<double>(6, 0.25));
  ASSERT_EQ(g.num_nodes(), 2u);
  EXPECT_EQ(g.nodes()[0]->name, "first");  // topologically sorted on import
  EXPECT_TRUE(verify_graph(g).ok());
  Result<std::string> exported = serialize_model(*m);
  ASSERT_TRUE(exported.ok());
  Result<Model> again = parse_model(*exported);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->graph->inputs.size(), 2u);
  EXPECT_EQ(again->graph->initializers.size(), 1u);
}

TEST(OnnxModel, SubgraphsGetValuesForOuterScopeNames) {
  const std::string path =
      "/usr/share/libonnx-testdata/data/node/test_range_float_type_positive_delta_expanded/model.onnx";
  if (!fs::exists(path)) GTEST_SKIP() << "libonnx-testdata not installed";
  Result<Model> m = load_model(path);
  ASSERT_TRUE(m.ok()) << m.status().message();
  const Node* loop = nullptr;
  for (const Node* n : m->graph->nodes())
    if (n->op_type == "Loop") loop = n;
  ASSERT_NE(loop, nullptr);
  ASSERT_TRUE(loop->attr("body") && loop->attr("body")->g);
  const Graph& body = *loop->attr("body")->g;
  const Value* delta = body.find_value("delta");  // defined in the outer graph
  ASSERT_NE(delta, nullptr);
  EXPECT_EQ(delta->producer, nullptr);
  EXPECT_EQ(std::count(body.inputs.begin(), body.inputs.end(), delta), 0);
  EXPECT_FALSE(delta->consumers.empty());
}

TEST(OnnxModel, InMemoryModelGetsIrVersion8) {
  auto model = testing::single_op_model({"Relu"}, {testing::random_tensor({2, 2})});
  model->ir_version = 0;
  Result<std::string> bytes = serialize_model(*model);
  ASSERT_TRUE(bytes.ok());
  Result<Model> back = parse_model(*bytes);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->ir_version, 8);
  EXPECT_EQ(back->opset(), 17);
  ASSERT_EQ(back->graph->inputs.size(), 1u);
  EXPECT_EQ(back->graph->inputs[0]->dtype, DType::kFloat32);
  EXPECT_EQ(back->graph->inputs[0]->static_shape(), (Shape{2, 2}));
}

}  // namespace
}  // namespace quench::onnx
