// The dispatcher: format names, auto-detection from the top-level keys, JSON syntax errors, and
// load_quant_config on every example file.
#include <gtest/gtest.h>

#include <fstream>

#include "config/config_formats.h"
#include "testutil.h"

namespace quench {
namespace {

TEST(ConfigFormat, ParsesTheCliNames) {
  EXPECT_EQ(*parse_config_format("auto"), ConfigFormat::kAuto);
  EXPECT_EQ(*parse_config_format("vai_q"), ConfigFormat::kVaiq);
  EXPECT_EQ(*parse_config_format("modelslim"), ConfigFormat::kModelslim);
  EXPECT_EQ(*parse_config_format("aimet"), ConfigFormat::kAimet);
  Result<ConfigFormat> bad = parse_config_format("vaiq");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "config format \"vaiq\" is not one of auto, vai_q, modelslim, aimet");
  EXPECT_STREQ(config_format_name(ConfigFormat::kModelslim), "modelslim");
}

TEST(ConfigFormat, AutoDetectionLoadsEveryExample) {
  struct Row {
    const char* file;
    const char* source;
  };
  for (const Row& row : {Row{"examples/vai_q/int_config.json", "vai_q"},
                         Row{"examples/vai_q/bfloat16_config.json", "vai_q"},
                         Row{"examples/vai_q/mix_precision_config.json", "vai_q"},
                         Row{"examples/modelslim/data_free.json", "modelslim"},
                         Row{"examples/modelslim/label_free.json", "modelslim"},
                         Row{"examples/aimet/default_config.json", "aimet"},
                         Row{"examples/aimet/per_channel_config.json", "aimet"}}) {
    SCOPED_TRACE(row.file);
    Result<QuantConfig> c = load_quant_config(testing::source_path(row.file));
    ASSERT_TRUE(c.ok()) << c.status().message();
    EXPECT_EQ(c->source, row.source);
  }
}

TEST(ConfigFormat, DetectionCountsMatchingKeys) {
  EXPECT_EQ(*detect_config_format(R"({"target_device": "CPU"})"), ConfigFormat::kVaiq);
  EXPECT_EQ(*detect_config_format(R"({"sigma": 0})"), ConfigFormat::kModelslim);
  EXPECT_EQ(*detect_config_format(R"({"defaults": {}})"), ConfigFormat::kAimet);
  // Most matching keys wins; the chosen front-end then rejects the stray key.
  const char* mostly_vaiq = R"({"target_device": "CPU", "include_cle": false, "params": {}})";
  EXPECT_EQ(*detect_config_format(mostly_vaiq), ConfigFormat::kVaiq);
  Result<QuantConfig> r = parse_quant_config(mostly_vaiq, ConfigFormat::kAuto);
  ASSERT_FALSE(r.ok());
  const std::string expected = "vai_q config: params: unknown key (allowed";
  EXPECT_EQ(r.status().message().substr(0, expected.size()), expected);
}

TEST(ConfigFormat, DetectionFailuresListTheKeysSeen) {
  Result<QuantConfig> none = parse_quant_config(R"({"foo": 1, "bar": 2})", ConfigFormat::kAuto);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().message(),
            "config: cannot tell the config format from the top-level keys [\"foo\", \"bar\"] "
            "(vai_q: overall_quantize_config, tensor_quantize_config, layer_quantize_config...; "
            "modelslim: w_bit, a_bit, w_signed...; aimet: defaults, params, op_type...); pass the "
            "format explicitly");
  Result<ConfigFormat> tie = detect_config_format(R"({"w_bit": 8, "target_device": "CPU"})");
  ASSERT_FALSE(tie.ok());
  EXPECT_EQ(tie.status().message(),
            "config: the top-level keys fit several config formats equally (vai_q: "
            "target_device; modelslim: w_bit); pass the format explicitly");
  Result<ConfigFormat> empty = detect_config_format("{}");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), StatusCode::kInvalid);
}

TEST(ConfigFormat, NotJsonOrNotAnObject) {
  Result<QuantConfig> bad = parse_quant_config("{\"w_bit\": }", ConfigFormat::kAuto);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "config: not valid JSON: parse error at line 1, column 11: syntax error while parsing "
            "value - unexpected '}'; expected '[', '{', or a literal");
  Result<QuantConfig> array = parse_quant_config("[1, 2]", ConfigFormat::kModelslim, "x.json");
  ASSERT_FALSE(array.ok());
  EXPECT_EQ(array.status().message(),
            "x.json: modelslim config: expected a JSON object at the top level (got an array)");
}

TEST(ConfigFormat, LoadNamesTheFile) {
  testing::TempDir dir("config_load");
  const std::string path = dir.file("bad.json");
  std::ofstream(path) << R"({"w_bit": 99})";
  Result<QuantConfig> r = load_quant_config(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), path + ": modelslim config: w_bit: 99 is out of range [2, 16]");
  Result<QuantConfig> missing = load_quant_config(dir.file("missing.json"));
  EXPECT_FALSE(missing.ok());
}

}  // namespace
}  // namespace quench
