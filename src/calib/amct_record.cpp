// AMCT QuantCalibrationOp (kv_cache_quant) and its ScaleOffsetRecord file (SPEC A.4).
//
// 1. create(): quant_method must be "kv_cache_quant"; quant_algo_params is checked key by key
//    (unknown keys, keys of the other algorithm, types and ranges) and mapped onto an IFMR / HFMG
//    ObserverConfig and an int8 QuantSpec; the record file is created or truncated.
// 2. forward(layer, x): one observer per layer name; batches 1..batch_num are observed, the
//    batch_num-th computes the encoding and writes the layer's record; x is returned unchanged.
// 3. Writing a record re-reads the file, replaces or appends the layer's kv_cache_value, keeps
//    everything else, and writes the whole file atomically (core/file_io.h).
#include "calib/amct_record.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "calib/amct_textproto.h"
#include "calib/observer_factories.h"
#include "calib/observer_util.h"
#include "core/file_io.h"

namespace quench {

namespace {

using calib_internal::TextProtoField;

constexpr const char* kParams = "quant_algo_params";

Status key_error(const std::string& key, const std::string& message) {
  return Status::invalid(std::string(kParams) + "." + key + ": " + message);
}

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

Result<double> number_in(const nlohmann::json& v, const std::string& key, double lo, double hi,
                         const std::string& range) {
  if (!v.is_number()) return key_error(key, v.dump() + " must be a number in " + range);
  const double d = v.get<double>();
  if (!(d > lo && d <= hi)) return key_error(key, v.dump() + " is out of range " + range);
  return d;
}

// Parses the records of a file's text (empty text: none).
Result<std::vector<TextProtoField>> parse_record_text(const std::string& path,
                                                      const std::string& text) {
  auto r = calib_internal::parse_text_proto(text);
  if (!r.ok()) return r.status().with_context("record file " + path);
  return r;
}

Result<std::string> record_key(const std::string& path, const TextProtoField& record) {
  for (const TextProtoField& f : record.fields) {
    if (f.name != "key" || f.is_message) continue;
    auto k = calib_internal::unquote_text_proto_string(f.value);
    if (!k.ok())
      return k.status().with_context(
          fmt::format("record file {}: line {}: record.key", path, f.line));
    return k;
  }
  return std::string();
}

}  // namespace

Result<std::map<std::string, KvCacheRecord>> read_kv_cache_records(const std::string& path) {
  QUENCH_ASSIGN_OR_RETURN(std::string text, read_file(path));
  QUENCH_ASSIGN_OR_RETURN(std::vector<TextProtoField> top, parse_record_text(path, text));
  std::map<std::string, KvCacheRecord> out;
  for (const TextProtoField& record : top) {
    if (record.name != "record" || !record.is_message) continue;
    QUENCH_ASSIGN_OR_RETURN(std::string key, record_key(path, record));
    for (const TextProtoField& kv : record.fields) {
      if (kv.name != "kv_cache_value" || !kv.is_message) continue;
      KvCacheRecord rec;
      for (const TextProtoField& f : kv.fields) {
        char* end = nullptr;
        if (f.name == "scale") {
          const float v = std::strtof(f.value.c_str(), &end);
          if (end == f.value.c_str() || *end != '\0')
            return Status::invalid(fmt::format("record file {}: line {}: scale \"{}\" is not a "
                                               "number", path, f.line, f.value));
          rec.scale.push_back(v);
        } else if (f.name == "offset") {
          const long v = std::strtol(f.value.c_str(), &end, 10);
          if (end == f.value.c_str() || *end != '\0')
            return Status::invalid(fmt::format("record file {}: line {}: offset \"{}\" is not "
                                               "an integer", path, f.line, f.value));
          rec.offset.push_back(static_cast<int32_t>(v));
        }
      }
      out[key] = std::move(rec);
    }
  }
  return out;
}

Status write_kv_cache_record(const std::string& path, const std::string& layer,
                             const KvCacheRecord& record, bool* replaced) {
  if (replaced != nullptr) *replaced = false;
  std::string text;
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    QUENCH_ASSIGN_OR_RETURN(text, read_file(path));
  }
  QUENCH_ASSIGN_OR_RETURN(std::vector<TextProtoField> top, parse_record_text(path, text));

  std::vector<TextProtoField> values;
  for (float s : record.scale)
    values.push_back(
        calib_internal::text_proto_scalar("scale", calib_internal::format_text_proto_float(s)));
  for (int32_t o : record.offset)
    values.push_back(calib_internal::text_proto_scalar("offset", std::to_string(o)));
  TextProtoField kv = calib_internal::text_proto_message("kv_cache_value", std::move(values));

  TextProtoField* entry = nullptr;
  for (TextProtoField& r : top) {
    if (r.name != "record" || !r.is_message) continue;
    QUENCH_ASSIGN_OR_RETURN(std::string key, record_key(path, r));
    if (key == layer) {
      entry = &r;
      break;
    }
  }
  if (entry == nullptr) {
    top.push_back(calib_internal::text_proto_message(
        "record", {calib_internal::text_proto_scalar(
                       "key", calib_internal::quote_text_proto_string(layer))}));
    entry = &top.back();
  }
  // The layer's old kv_cache_value goes; its other fields (a `value` of weight records) stay.
  auto& fields = entry->fields;
  const size_t before = fields.size();
  std::erase_if(fields, [](const TextProtoField& f) { return f.name == "kv_cache_value"; });
  if (replaced != nullptr) *replaced = fields.size() != before;
  fields.push_back(std::move(kv));
  return write_file_atomic(path, calib_internal::print_text_proto(top));
}

Result<KvCacheQuantParams> parse_kv_cache_quant_params(const nlohmann::json& p) {
  if (!p.is_object())
    return Status::invalid(std::string(kParams) + ": must be a JSON object (got " +
                           p.type_name() + ")");
  std::string algo = "ifmr";
  if (p.contains("act_algo")) {
    const auto& v = p["act_algo"];
    if (!v.is_string() || (v.get<std::string>() != "ifmr" && v.get<std::string>() != "hfmg"))
      return key_error("act_algo", v.dump() + " is not one of \"ifmr\", \"hfmg\"");
    algo = v.get<std::string>();
  }
  static const std::vector<std::string> kCommon = {"act_algo",   "num_bits",  "with_offset",
                                                   "asymmetric", "batch_num", "quant_granularity"};
  static const std::vector<std::string> kIfmr = {"max_percentile", "min_percentile",
                                                 "search_range", "search_step"};
  static const std::vector<std::string> kHfmg = {"num_of_bins"};
  auto in = [](const std::vector<std::string>& set, const std::string& k) {
    return std::find(set.begin(), set.end(), k) != set.end();
  };
  for (const auto& [key, value] : p.items()) {
    if (in(kCommon, key)) continue;
    if (in(kIfmr, key) && algo != "ifmr")
      return key_error(key, "only for act_algo \"ifmr\" (act_algo is \"" + algo + "\")");
    if (in(kHfmg, key) && algo != "hfmg")
      return key_error(key, "only for act_algo \"hfmg\" (act_algo is \"" + algo + "\")");
    if (!in(kIfmr, key) && !in(kHfmg, key))
      return Status::invalid(std::string(kParams) + ": unknown key " + quoted(key) +
                             " (allowed: act_algo, num_bits, with_offset, asymmetric, batch_num, "
                             "quant_granularity; ifmr: max_percentile, min_percentile, "
                             "search_range, search_step; hfmg: num_of_bins)");
  }

  KvCacheQuantParams out;
  ObserverConfig& c = out.observer;
  c.method = algo == "ifmr" ? CalibMethod::kIfmr : CalibMethod::kHfmg;
  c.axis = -1;  // AMCT splits channels along the last dimension
  c.batch_num = 1;
  c.num_bins = 4096;
  QuantSpec& s = out.spec;
  s.bits = 8;
  s.is_signed = true;
  bool asymmetric = true;  // with_offset defaults to true

  if (p.contains("num_bits")) {
    const auto& v = p["num_bits"];
    if (!v.is_number_integer()) return key_error("num_bits", v.dump() + " must be the integer 8");
    if (v.get<int64_t>() != 8)
      return key_error("num_bits", v.dump() + " is not supported (must be 8)");
  }
  for (const char* key : {"with_offset", "asymmetric"}) {
    if (!p.contains(key)) continue;
    if (!p[key].is_boolean()) return key_error(key, p[key].dump() + " must be true or false");
  }
  if (p.contains("with_offset")) asymmetric = p["with_offset"].get<bool>();
  if (p.contains("asymmetric")) asymmetric = p["asymmetric"].get<bool>();  // wins
  if (p.contains("batch_num")) {
    const auto& v = p["batch_num"];
    if (!v.is_number_integer() || v.get<int64_t>() <= 0 || v.get<int64_t>() > (1 << 30))
      return key_error("batch_num", v.dump() + " is out of range (an integer > 0)");
    c.batch_num = static_cast<int>(v.get<int64_t>());
  }
  if (p.contains("quant_granularity")) {
    const auto& v = p["quant_granularity"];
    const std::string g = v.is_string() ? v.get<std::string>()
                          : v.is_number_integer() ? std::to_string(v.get<int64_t>())
                                                  : std::string("?");
    if (g == "0" || g == "per_tensor") {
      c.per_channel = false;
    } else if (g == "1" || g == "per_channel") {
      c.per_channel = true;
    } else {
      return key_error("quant_granularity",
                       v.dump() + " is not one of 0 (\"per_tensor\"), 1 (\"per_channel\")");
    }
  }
  if (p.contains("max_percentile")) {
    QUENCH_ASSIGN_OR_RETURN(c.ifmr_max_percentile,
                            number_in(p["max_percentile"], "max_percentile", 0.5, 1.0, "(0.5, 1]"));
  }
  if (p.contains("min_percentile")) {
    QUENCH_ASSIGN_OR_RETURN(c.ifmr_min_percentile,
                            number_in(p["min_percentile"], "min_percentile", 0.5, 1.0, "(0.5, 1]"));
  }
  if (p.contains("search_range")) {
    const auto& v = p["search_range"];
    if (!v.is_array() || v.size() != 2 || !v[0].is_number() || !v[1].is_number())
      return key_error("search_range", v.dump() + " must be two numbers [start, end]");
    c.ifmr_search_start = v[0].get<double>();
    c.ifmr_search_end = v[1].get<double>();
    if (!(c.ifmr_search_start > 0 && c.ifmr_search_start < c.ifmr_search_end))
      return key_error("search_range", v.dump() + " is out of range (0 < start < end)");
  }
  if (p.contains("search_step")) {
    const double span = c.ifmr_search_end - c.ifmr_search_start;
    QUENCH_ASSIGN_OR_RETURN(
        c.ifmr_search_step,
        number_in(p["search_step"], "search_step", 0.0, span + 1e-12,
                  fmt::format("(0, {}] (end - start of the search range)",
                              calib_internal::format_number(span))));
  }
  if (p.contains("num_of_bins")) {
    const auto& v = p["num_of_bins"];
    const int64_t n = v.is_number_integer() ? v.get<int64_t>() : 0;
    if (n != 1024 && n != 2048 && n != 4096 && n != 8192)
      return key_error("num_of_bins", v.dump() + " is not one of 1024, 2048, 4096, 8192");
    c.num_bins = static_cast<int>(n);
  }
  s.symmetric = !asymmetric;
  if (c.per_channel) {
    s.granularity = Granularity::kPerChannel;
    s.axis = -1;
  }
  // The observer factory checks the same ranges again; this catches any rule drift.
  QUENCH_RETURN_IF_ERROR(calib_internal::make_amct_observer(c).status().with_context(kParams));
  return out;
}

Result<std::unique_ptr<KvCacheCalibrator>> KvCacheCalibrator::create(
    const std::string& record_file, const nlohmann::json& quant_algo_params,
    const std::string& quant_method, WarnFn warn) {
  if (quant_method != "kv_cache_quant")
    return Status::invalid("quant_method: " + quoted(quant_method) +
                           " is not supported (only \"kv_cache_quant\")");
  QUENCH_ASSIGN_OR_RETURN(KvCacheQuantParams params,
                          parse_kv_cache_quant_params(quant_algo_params));
  std::unique_ptr<KvCacheCalibrator> cal(
      new KvCacheCalibrator(record_file, std::move(params), std::move(warn)));
  std::error_code ec;
  const bool existed = std::filesystem::exists(record_file, ec);
  QUENCH_RETURN_IF_ERROR(write_file_atomic(record_file, ""));
  if (existed) cal->warn("record file " + record_file + " already exists; it was truncated");
  return cal;
}

void KvCacheCalibrator::warn(const std::string& message) {
  warnings_.push_back(message);
  if (warn_) warn_(message);
}

bool KvCacheCalibrator::finished(const std::string& layer_name) const {
  auto it = layers_.find(layer_name);
  return it != layers_.end() && it->second.done;
}

const Encoding* KvCacheCalibrator::encoding(const std::string& layer_name) const {
  auto it = layers_.find(layer_name);
  return it != layers_.end() && it->second.done ? &it->second.encoding : nullptr;
}

Result<Tensor> KvCacheCalibrator::forward(const std::string& layer_name, const Tensor& x) {
  Layer& layer = layers_[layer_name];
  if (layer.done) return x;
  if (!layer.observer) {
    QUENCH_ASSIGN_OR_RETURN(layer.observer, calib_internal::make_amct_observer(params_.observer));
  }
  const std::string place =
      fmt::format("kv-cache calibration of layer {}, batch {}", quoted(layer_name),
                  layer.seen + 1);
  QUENCH_RETURN_IF_ERROR(layer.observer->update(x).with_context(place));
  ++layer.seen;
  if (layer.seen < params_.observer.batch_num) return x;

  auto computed = layer.observer->compute(params_.spec);
  if (!computed.ok()) return computed.status().with_context(place);
  Encoding e = std::move(computed).value();
  KvCacheRecord rec{e.scale, e.zero_point};
  bool replaced = false;
  QUENCH_RETURN_IF_ERROR(write_kv_cache_record(record_file_, layer_name, rec, &replaced));
  if (replaced)
    warn("layer " + layer_name + " already has kv_cache_value in record file " + record_file_ +
         "; it will be overwritten");
  layer.encoding = std::move(e);
  layer.done = true;
  layer.observer.reset();  // the values IFMR kept are no longer needed
  return x;
}

}  // namespace quench
