// AMCT QuantCalibrationOp (kv_cache_quant) and its ScaleOffsetRecord text file (SPEC A.4).
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <vector>

#include "calib/amct_record.h"
#include "calib/amct_textproto.h"
#include "core/file_io.h"
#include "testutil.h"

namespace quench {
namespace {

using nlohmann::json;

// The hash and bell data of amct_observers_test.cpp (expected numbers from the same reference).
double hash_uniform(uint64_t i) {
  uint32_t h = static_cast<uint32_t>(i) * 0x9E3779B1u;
  h ^= h >> 16;
  h *= 0x85EBCA6Bu;
  h ^= h >> 13;
  h *= 0xC2B2AE35u;
  h ^= h >> 16;
  return static_cast<double>(h) / 4294967296.0;
}

std::vector<float> bell(int64_t n, int64_t start, double scale) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) {
    const uint64_t i = static_cast<uint64_t>(k + start);
    const double s = hash_uniform(4 * i) + hash_uniform(4 * i + 1) + hash_uniform(4 * i + 2) +
                     hash_uniform(4 * i + 3) - 2.0;
    v[static_cast<size_t>(k)] = static_cast<float>(s * scale);
  }
  return v;
}

Tensor tensor_of(const std::vector<float>& v, Shape shape = {}) {
  if (shape.empty()) shape = {static_cast<int64_t>(v.size())};
  return Tensor::from_vector<float>(shape, v);
}

std::string slurp(const std::string& path) {
  auto r = read_file(path);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? r.value() : std::string();
}

std::unique_ptr<KvCacheCalibrator> make(const std::string& file, const json& params,
                                        std::vector<std::string>* warnings = nullptr) {
  KvCacheCalibrator::WarnFn fn;
  if (warnings != nullptr) fn = [warnings](const std::string& m) { warnings->push_back(m); };
  auto r = KvCacheCalibrator::create(file, params, "kv_cache_quant", fn);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? std::move(r).value() : nullptr;
}

TEST(KvCacheCalibrator, WritesTheRecordAfterBatchNumAndPassesXThrough) {
  testing::TempDir dir("kvcache_basic");
  const std::string file = dir.file("kv_cache.txt");
  auto cal = make(file, json{{"act_algo", "ifmr"}});  // with_offset defaults to true
  EXPECT_EQ(slurp(file), "");                          // created empty at construction
  std::vector<float> v = bell(1000, 0, 0.5);
  v.push_back(-1.5f);
  const Tensor x = tensor_of(v);
  auto y = cal->forward("k0", x);
  ASSERT_TRUE(y.ok()) << y.status().message();
  EXPECT_EQ(y->raw_data(), x.raw_data());  // the same tensor, untouched
  EXPECT_TRUE(cal->finished("k0"));
  // IFMR, asymmetric int8: the numbers of the IFMR reference (amct_observers_test.cpp).
  EXPECT_EQ(slurp(file),
            "record {\n"
            "  key: \"k0\"\n"
            "  kv_cache_value {\n"
            "    scale: 0.009225545\n"
            "    offset: 35\n"
            "  }\n"
            "}\n");
  // Later batches pass through without touching the record.
  ASSERT_TRUE(cal->forward("k0", tensor_of(bell(100, 7, 50.0))).ok());
  auto records = read_kv_cache_records(file);
  ASSERT_TRUE(records.ok()) << records.status().message();
  EXPECT_EQ(records->at("k0").scale, std::vector<float>{0.009225545451045036f});
  EXPECT_EQ(records->at("k0").offset, std::vector<int32_t>{35});
}

TEST(KvCacheCalibrator, PerChannelHfmgAfterThreeBatches) {
  testing::TempDir dir("kvcache_hfmg");
  const std::string file = dir.file("kv.txt");
  const json params = {{"act_algo", "hfmg"}, {"num_of_bins", 2048}, {"batch_num", 3},
                       {"quant_granularity", "1"}, {"with_offset", false}};
  auto cal = make(file, params);
  auto reference = make(dir.file("unused.txt"), params);
  for (int b = 0; b < 3; ++b) {
    const Tensor x = tensor_of(bell(400, 400 * b, 0.5 * (b + 1)), {2, 50, 4});
    EXPECT_FALSE(cal->finished("v0"));
    ASSERT_TRUE(cal->forward("v0", x).ok());
  }
  ASSERT_TRUE(cal->finished("v0"));
  const Encoding* e = cal->encoding("v0");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->param_shape, (Shape{4}));  // channels along the last axis
  EXPECT_TRUE(e->spec.symmetric);
  auto records = read_kv_cache_records(file);
  ASSERT_TRUE(records.ok());
  EXPECT_EQ(records->at("v0").scale, e->scale);
  EXPECT_EQ(records->at("v0").offset, (std::vector<int32_t>{0, 0, 0, 0}));
}

TEST(KvCacheCalibrator, IncrementalRecordsKeepOtherEntries) {
  testing::TempDir dir("kvcache_incremental");
  const std::string file = dir.file("kv_cache.txt");
  ASSERT_TRUE(write_file_atomic(file, "stale content").ok());
  std::vector<std::string> warnings;
  auto cal = make(file, json::object(), &warnings);
  EXPECT_EQ(warnings, std::vector<std::string>{"record file " + file +
                                               " already exists; it was truncated"});
  EXPECT_EQ(slurp(file), "");
  // A weight record written by someone else must survive the kv-cache updates.
  ASSERT_TRUE(write_file_atomic(file, "record {\n  key: \"fc\"\n  value {\n    scale_d: 0.5\n"
                                      "    offset_d: -3\n  }\n}\n").ok());
  ASSERT_TRUE(cal->forward("k0", tensor_of(bell(200, 0, 1.0))).ok());
  ASSERT_TRUE(cal->forward("v0", tensor_of(bell(200, 9, 2.0))).ok());
  EXPECT_EQ(warnings.size(), 1u);
  bool replaced = false;
  ASSERT_TRUE(write_kv_cache_record(file, "k0", {{0.25f, 1.0f}, {-1, 2}}, &replaced).ok());
  EXPECT_TRUE(replaced);
  const std::string text = slurp(file);
  EXPECT_EQ(text.find("record {\n  key: \"fc\"\n  value {\n    scale_d: 0.5\n"
                      "    offset_d: -3\n  }\n}\n"), 0u);  // kept, first, as written
  EXPECT_LT(text.find("key: \"k0\""), text.find("key: \"v0\""));  // order kept
  auto records = read_kv_cache_records(file);
  ASSERT_TRUE(records.ok()) << records.status().message();
  EXPECT_EQ(records->size(), 2u);  // k0, v0 (fc has no kv_cache_value)
  EXPECT_EQ(records->at("k0").scale, (std::vector<float>{0.25f, 1.0f}));
  EXPECT_EQ(records->at("k0").offset, (std::vector<int32_t>{-1, 2}));
  EXPECT_EQ(records->at("v0").scale, cal->encoding("v0")->scale);
}

TEST(KvCacheCalibrator, OverwriteWarningNamesLayerAndFile) {
  // Two calibrators sharing one record file (two ops of one model) that finish the same layer.
  testing::TempDir dir("kvcache_warn");
  const std::string file = dir.file("kv.txt");
  std::vector<std::string> warn_a, warn_b;
  auto a = make(file, json::object(), &warn_a);
  auto b = make(file, json::object(), &warn_b);
  ASSERT_TRUE(a->forward("layer.0", tensor_of(bell(100, 0, 1.0))).ok());
  ASSERT_TRUE(a->forward("layer.1", tensor_of(bell(100, 5, 1.0))).ok());
  EXPECT_TRUE(warn_a.empty());
  ASSERT_TRUE(b->forward("layer.0", tensor_of(bell(100, 3, 2.0))).ok());
  ASSERT_EQ(warn_b.size(), 2u);  // [0]: the file existed when b was made
  EXPECT_EQ(warn_b[1], "layer layer.0 already has kv_cache_value in record file " + file +
                           "; it will be overwritten");
  auto records = read_kv_cache_records(file);
  ASSERT_TRUE(records.ok());
  EXPECT_EQ(records->size(), 2u);
  EXPECT_EQ(records->at("layer.0").scale, b->encoding("layer.0")->scale);
  EXPECT_EQ(records->at("layer.1").scale, a->encoding("layer.1")->scale);
}

TEST(KvCacheCalibrator, LayerNamesRoundTripThroughEscapes) {
  testing::TempDir dir("kvcache_escape");
  const std::string file = dir.file("kv.txt");
  const std::string name = "attn.\"k\"\\proj \xe5\xb1\x82\n";
  ASSERT_TRUE(write_kv_cache_record(file, name, {{0.5f}, {-128}}).ok());
  EXPECT_EQ(slurp(file),
            "record {\n  key: \"attn.\\\"k\\\"\\\\proj \\345\\261\\202\\n\"\n"
            "  kv_cache_value {\n    scale: 0.5\n    offset: -128\n  }\n}\n");
  auto records = read_kv_cache_records(file);
  ASSERT_TRUE(records.ok());
  EXPECT_EQ(records->count(name), 1u);
}

TEST(KvCacheCalibrator, MalformedRecordFileNamesTheLine) {
  testing::TempDir dir("kvcache_bad");
  const std::string file = dir.file("kv.txt");
  ASSERT_TRUE(write_file_atomic(file, "record {\n  key: \"a\"\n  kv_cache_value {\n").ok());
  auto r = read_kv_cache_records(file);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "record file " + file +
                                      ": line 4: expected '}' to close \"kv_cache_value\" (got "
                                      "end of file)");
  // A failed update leaves the bad file as it was.
  const std::string before = slurp(file);
  EXPECT_EQ(write_kv_cache_record(file, "b", {{1.0f}, {0}}).message(), r.status().message());
  EXPECT_EQ(slurp(file), before);
  // Well-formed text with a bad value: reading names it (writing keeps it as written).
  ASSERT_TRUE(write_file_atomic(file, "record {\n  key: \"a\"\n  kv_cache_value {\n"
                                      "    scale: abc\n  }\n}\n").ok());
  EXPECT_EQ(read_kv_cache_records(file).status().message(),
            "record file " + file + ": line 4: scale \"abc\" is not a number");
}

TEST(KvCacheCalibrator, BadBatchNamesLayerAndBatch) {
  testing::TempDir dir("kvcache_nan");
  auto cal = make(dir.file("kv.txt"), json{{"batch_num", 2}});
  ASSERT_TRUE(cal->forward("k", tensor_of({1.0f, 2.0f})).ok());
  EXPECT_EQ(cal->forward("k", tensor_of({1.0f, NAN})).status().message(),
            "kv-cache calibration of layer \"k\", batch 2: element 1 is NaN (calibration data "
            "must be finite)");
  EXPECT_FALSE(cal->finished("k"));
}

struct ParamErrorCase {
  json params;
  std::string message;
};

TEST(KvCacheCalibrator, ParamValidation) {
  const std::vector<ParamErrorCase> cases = {
      {json{{"foo", 1}},
       "quant_algo_params: unknown key \"foo\" (allowed: act_algo, num_bits, with_offset, "
       "asymmetric, batch_num, quant_granularity; ifmr: max_percentile, min_percentile, "
       "search_range, search_step; hfmg: num_of_bins)"},
      {json{{"num_of_bins", 4096}},
       "quant_algo_params.num_of_bins: only for act_algo \"hfmg\" (act_algo is \"ifmr\")"},
      {json{{"act_algo", "hfmg"}, {"search_step", 0.1}},
       "quant_algo_params.search_step: only for act_algo \"ifmr\" (act_algo is \"hfmg\")"},
      {json{{"act_algo", "kl"}}, "quant_algo_params.act_algo: \"kl\" is not one of \"ifmr\", "
                                 "\"hfmg\""},
      {json{{"num_bits", 4}}, "quant_algo_params.num_bits: 4 is not supported (must be 8)"},
      {json{{"num_bits", "8"}}, "quant_algo_params.num_bits: \"8\" must be the integer 8"},
      {json{{"with_offset", 1}}, "quant_algo_params.with_offset: 1 must be true or false"},
      {json{{"batch_num", 0}},
       "quant_algo_params.batch_num: 0 is out of range (an integer > 0)"},
      {json{{"quant_granularity", 2}},
       "quant_algo_params.quant_granularity: 2 is not one of 0 (\"per_tensor\"), 1 "
       "(\"per_channel\")"},
      {json{{"max_percentile", 0.5}},
       "quant_algo_params.max_percentile: 0.5 is out of range (0.5, 1]"},
      {json{{"min_percentile", "high"}},
       "quant_algo_params.min_percentile: \"high\" must be a number in (0.5, 1]"},
      {json{{"search_range", {1.3, 0.7}}},
       "quant_algo_params.search_range: [1.3,0.7] is out of range (0 < start < end)"},
      {json{{"search_range", {0.7}}},
       "quant_algo_params.search_range: [0.7] must be two numbers [start, end]"},
      {json{{"search_range", {0.5, 1.0}}, {"search_step", 0.6}},
       "quant_algo_params.search_step: 0.6 is out of range (0, 0.5] (end - start of the search "
       "range)"},
      {json{{"act_algo", "hfmg"}, {"num_of_bins", 1000}},
       "quant_algo_params.num_of_bins: 1000 is not one of 1024, 2048, 4096, 8192"},
      {json::array(), "quant_algo_params: must be a JSON object (got array)"},
  };
  testing::TempDir dir("kvcache_params");
  for (const ParamErrorCase& tc : cases) {
    auto r = KvCacheCalibrator::create(dir.file("kv.txt"), tc.params);
    ASSERT_FALSE(r.ok()) << tc.params.dump();
    EXPECT_EQ(r.status().code(), StatusCode::kInvalid);
    EXPECT_EQ(r.status().message(), tc.message);
  }
  EXPECT_EQ(KvCacheCalibrator::create(dir.file("kv.txt"), json::object(), "weight_quant")
                .status()
                .message(),
            "quant_method: \"weight_quant\" is not supported (only \"kv_cache_quant\")");
  // asymmetric wins over with_offset; "per_channel" spelled out is accepted.
  auto p = parse_kv_cache_quant_params(
      json{{"with_offset", true}, {"asymmetric", false}, {"quant_granularity", "per_channel"}});
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_TRUE(p->spec.symmetric);
  EXPECT_TRUE(p->observer.per_channel);
  EXPECT_EQ(p->observer.axis, -1);
  EXPECT_EQ(p->observer.batch_num, 1);
  EXPECT_EQ(p->observer.method, CalibMethod::kIfmr);
}

TEST(TextProto, ParsesListsCommentsAndAngleBrackets) {
  auto r = calib_internal::parse_text_proto(
      "# header\nrecord < key: 'a' 'b' kv_cache_value { scale: [1.5, 2e-3]; offset: -1, } >\n");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(calib_internal::print_text_proto(r.value()),
            "record {\n  key: 'a' 'b'\n  kv_cache_value {\n    scale: 1.5\n    scale: 2e-3\n"
            "    offset: -1\n  }\n}\n");
  EXPECT_EQ(calib_internal::unquote_text_proto_string("'a' 'b'").value(), "ab");
  EXPECT_EQ(calib_internal::format_text_proto_float(1.0f), "1.0");
  EXPECT_EQ(calib_internal::format_text_proto_float(1e-05f), "1e-05");
}

}  // namespace
}  // namespace quench
