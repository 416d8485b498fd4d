#include "config/config_json.h"

#include <algorithm>
#include <cmath>

namespace quench::config_internal {

std::string key_path(const std::string& parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  return parent + "." + std::string(key);
}

std::string index_path(const std::string& parent, size_t index) {
  return parent + "[" + std::to_string(index) + "]";
}

std::string show(const Json& v) {
  std::string s = v.dump();
  constexpr size_t kMax = 60;
  if (s.size() > kMax) s = s.substr(0, kMax - 3) + "...";
  return s;
}

const char* json_type_name(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::boolean: return "a boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: return "an integer";
    case Json::value_t::number_float: return "a number";
    case Json::value_t::string: return "a string";
    case Json::value_t::array: return "an array";
    case Json::value_t::object: return "an object";
    default: return "a value";
  }
}

std::string join(std::span<const std::string_view> names) {
  std::string out;
  for (std::string_view n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

std::string make_prefix(std::string_view source_name, std::string_view label) {
  if (source_name.empty()) return std::string(label);
  return std::string(source_name) + ": " + std::string(label);
}

Status JsonReader::error(const std::string& path, const std::string& what) const {
  if (path.empty()) return Status::invalid(prefix_ + ": " + what);
  return Status::invalid(prefix_ + ": " + path + ": " + what);
}

Status JsonReader::type_error(const Json& v, const std::string& path, const char* expected) const {
  return error(path, std::string("expected ") + expected + " (got " + show(v) + ")");
}

Status JsonReader::expect_object(const Json& v, const std::string& path) const {
  if (v.is_object()) return Status();
  return type_error(v, path, "an object");
}

Status JsonReader::check_keys(const Json& obj, const std::string& path,
                              std::span<const std::string_view> allowed) const {
  QUENCH_RETURN_IF_ERROR(expect_object(obj, path));
  for (const auto& [key, value] : obj.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
      return error(key_path(path, key), "unknown key (allowed: " + join(allowed) + ")");
  }
  return Status();
}

Result<bool> JsonReader::read_bool(const Json& v, const std::string& path) const {
  if (!v.is_boolean()) return type_error(v, path, "a boolean");
  return v.get<bool>();
}

Result<bool> JsonReader::read_py_bool(const Json& v, const std::string& path) const {
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    if (s == "True") return true;
    if (s == "False") return false;
  }
  return type_error(v, path, "\"True\", \"False\" or a boolean");
}

Result<int64_t> JsonReader::read_int(const Json& v, const std::string& path) const {
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX)) return error(path, show(v) + " is too large");
    return static_cast<int64_t>(u);
  }
  if (!v.is_number_integer()) return type_error(v, path, "an integer");
  return v.get<int64_t>();
}

Result<int64_t> JsonReader::read_int_in(const Json& v, const std::string& path, int64_t lo,
                                        int64_t hi) const {
  QUENCH_ASSIGN_OR_RETURN(int64_t x, read_int(v, path));
  if (x < lo || x > hi)
    return error(path, std::to_string(x) + " is out of range [" + std::to_string(lo) + ", " +
                           std::to_string(hi) + "]");
  return x;
}

Result<double> JsonReader::read_number(const Json& v, const std::string& path) const {
  if (!v.is_number()) return type_error(v, path, "a number");
  const double x = v.get<double>();
  if (!std::isfinite(x)) return error(path, show(v) + " is not finite");
  return x;
}

Result<std::string> JsonReader::read_string(const Json& v, const std::string& path) const {
  if (!v.is_string()) return type_error(v, path, "a string");
  return v.get<std::string>();
}

Result<std::string> JsonReader::read_enum(const Json& v, const std::string& path,
                                          std::span<const std::string_view> allowed) const {
  QUENCH_ASSIGN_OR_RETURN(std::string s, read_string(v, path));
  if (std::find(allowed.begin(), allowed.end(), s) == allowed.end())
    return error(path, show(v) + " is not one of " + join(allowed));
  return s;
}

Result<Json> parse_json_object(std::string_view text, const JsonReader& reader) {
  Json root;
  try {
    root = Json::parse(text.begin(), text.end());
  } catch (const Json::parse_error& e) {
    // nlohmann's what() starts with "[json.exception.parse_error.101] "; the rest has the line
    // and column.
    std::string what = e.what();
    const size_t close = what.find("] ");
    if (what.starts_with("[json.exception.") && close != std::string::npos)
      what = what.substr(close + 2);
    return reader.error("", "not valid JSON: " + what);
  }
  if (!root.is_object())
    return reader.error("", std::string("expected a JSON object at the top level (got ") +
                                json_type_name(root) + ")");
  return root;
}

}  // namespace quench::config_internal
