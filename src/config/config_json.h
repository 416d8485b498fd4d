// quench config (internal): typed reads of JSON values with errors that name the JSON path.
//
// Every front-end reads its file through these helpers so that all messages have one shape:
//   <prefix>: <path>: expected a boolean (got "yes")
//   <prefix>: <path>: unknown key (allowed: a, b, c)
//   <prefix>: <path>: "foo" is not one of a, b, c
//   <prefix>: <path>: 17 is out of range [2, 16]
// where <prefix> is "vai_q config" (after the source name, if any) and <path> is
// "layer_quantize_config[1].overall_quantize_config.method".
//
//   JsonReader r("vai_q config");
//   QUENCH_RETURN_IF_ERROR(r.check_keys(obj, "overall_quantize_config", kQuantKeys));
//   QUENCH_ASSIGN_OR_RETURN(bool cle, r.read_bool(obj["include_cle"], "include_cle"));
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "config/config_formats.h"
#include "core/status.h"

namespace quench::config_internal {

// Keys keep their file order, so the first unknown key reported is the first one in the file.
using Json = nlohmann::ordered_json;

// "a.b" / "a[3]"; a key under the root is the key alone.
std::string key_path(const std::string& parent, std::string_view key);
std::string index_path(const std::string& parent, size_t index);

// A value as it appears in JSON ("entropy" quoted, false, 8), cut to ~60 characters.
std::string show(const Json& v);
// Names a JSON type for "expected ..." messages: "a boolean", "a string", ...
const char* json_type_name(const Json& v);

// Joins {"a", "b", "c"} into "a, b, c".
std::string join(std::span<const std::string_view> names);

class JsonReader {
 public:
  // `prefix` is the source name (may be empty) and the format label, e.g. "cfg.json: vai_q config".
  explicit JsonReader(std::string prefix) : prefix_(std::move(prefix)) {}

  const std::string& prefix() const { return prefix_; }
  // "<prefix>: <path>: <what>" (or "<prefix>: <what>" for the root).
  Status error(const std::string& path, const std::string& what) const;

  Status expect_object(const Json& v, const std::string& path) const;
  // Every key of `obj` (an object) must be in `allowed`.
  Status check_keys(const Json& obj, const std::string& path,
                    std::span<const std::string_view> allowed) const;

  Result<bool> read_bool(const Json& v, const std::string& path) const;
  // AIMET writes booleans as the strings "True" / "False"; JSON booleans are accepted too.
  Result<bool> read_py_bool(const Json& v, const std::string& path) const;
  Result<int64_t> read_int(const Json& v, const std::string& path) const;
  Result<int64_t> read_int_in(const Json& v, const std::string& path, int64_t lo, int64_t hi) const;
  Result<double> read_number(const Json& v, const std::string& path) const;
  Result<std::string> read_string(const Json& v, const std::string& path) const;
  Result<std::string> read_enum(const Json& v, const std::string& path,
                                std::span<const std::string_view> allowed) const;

 private:
  Status type_error(const Json& v, const std::string& path, const char* expected) const;
  std::string prefix_;
};

// Parses text into a JSON object; kInvalid with nlohmann's line/column when it is not JSON or
// not an object.
Result<Json> parse_json_object(std::string_view text, const JsonReader& reader);

// "<source>: <label>" or "<label>".
std::string make_prefix(std::string_view source_name, std::string_view label);

// The front-ends, on an already parsed object.
Result<QuantConfig> vaiq_from_json(const Json& root, const JsonReader& r);
Result<QuantConfig> modelslim_from_json(const Json& root, const JsonReader& r);
Result<QuantConfig> aimet_from_json(const Json& root, const JsonReader& r, int default_output_bw,
                                    int default_param_bw);

}  // namespace quench::config_internal
