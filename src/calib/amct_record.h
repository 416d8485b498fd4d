// quench calib: AMCT's QuantCalibrationOp for kv-cache quantization, and its record file.
//
// A KvCacheCalibrator is inserted after the key / value projections of an attention layer. Each
// forward(layer_name, x) passes x through unchanged and feeds it to that layer's IFMR or HFMG
// observer (SPEC A.2 / A.3; per tensor, or per channel along the last axis). When a layer has seen
// batch_num batches, its scales and offsets are computed and written to the record file, a text
// protobuf ScaleOffsetRecord as AMCT writes it:
//
//   record {
//     key: "model.layers.0.self_attn.k_proj"
//     kv_cache_value {
//       scale: 0.0123
//       offset: -3
//     }
//   }
//
// The file is created (or truncated, with a warning) when the calibrator is made. Each finished
// layer re-reads it, inserts or replaces its own entry (warning when the layer already had a
// kv_cache_value), keeps every other entry as it was, and rewrites it atomically (temporary file,
// then rename), so no record is ever lost or half-written. Warnings go to the `warn` callback
// (or are kept in warnings()): the library does not print.
//
//   QUENCH_ASSIGN_OR_RETURN(auto cal, KvCacheCalibrator::create(
//       "kv_cache.txt", nlohmann::json{{"act_algo", "hfmg"}, {"num_of_bins", 4096}}));
//   QUENCH_ASSIGN_OR_RETURN(Tensor y, cal->forward("layer0.k", k));   // y is k
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "calib/observer.h"
#include "core/status.h"
#include "core/tensor.h"
#include "quant/encoding.h"
#include "quant/quant_config.h"

namespace quench {

// One kv_cache_value: a scale and an offset (AMCT's, = the Encoding's zero_point) per tensor or
// per channel.
struct KvCacheRecord {
  std::vector<float> scale;
  std::vector<int32_t> offset;
};

// The kv_cache_value entries of a ScaleOffsetRecord text file, by layer name. Entries without a
// kv_cache_value are skipped. A malformed file is kInvalid naming the line.
Result<std::map<std::string, KvCacheRecord>> read_kv_cache_records(const std::string& path);

// Inserts or replaces the kv_cache_value of `layer` in the record file (which may be missing or
// empty), keeping every other entry and field. *replaced tells whether the layer had one already.
Status write_kv_cache_record(const std::string& path, const std::string& layer,
                             const KvCacheRecord& record, bool* replaced = nullptr);

// quant_algo_params (SPEC A.4) checked and turned into quench's observer config and int8 spec.
struct KvCacheQuantParams {
  ObserverConfig observer;  // kIfmr or kHfmg; per_channel along axis -1; batch_num >= 1
  QuantSpec spec;           // int8, signed, symmetric unless with_offset / asymmetric
};
// Errors are kInvalid and give the key path: `quant_algo_params.num_bits: 4 is not supported
// (must be 8)`, `quant_algo_params: unknown key "foo"`, `quant_algo_params.num_of_bins: only for
// act_algo "hfmg" (act_algo is "ifmr")`.
Result<KvCacheQuantParams> parse_kv_cache_quant_params(const nlohmann::json& params);

class KvCacheCalibrator {
 public:
  using WarnFn = std::function<void(const std::string&)>;

  // Checks quant_method ("kv_cache_quant" only) and the params, then creates or truncates
  // record_file.
  static Result<std::unique_ptr<KvCacheCalibrator>> create(
      const std::string& record_file, const nlohmann::json& quant_algo_params,
      const std::string& quant_method = "kv_cache_quant", WarnFn warn = nullptr);

  // Returns x unchanged (same storage). Feeds the layer's calibrator while it has seen at most
  // batch_num batches; the batch_num-th writes the layer's record. Later calls are pass-through.
  Result<Tensor> forward(const std::string& layer_name, const Tensor& x);

  // True once the layer's record was written.
  bool finished(const std::string& layer_name) const;
  // The encoding written for a finished layer (nullptr otherwise).
  const Encoding* encoding(const std::string& layer_name) const;
  const KvCacheQuantParams& params() const { return params_; }
  const std::string& record_file() const { return record_file_; }
  // Warnings issued so far (also passed to the callback, when one was given).
  const std::vector<std::string>& warnings() const { return warnings_; }

 private:
  KvCacheCalibrator(std::string record_file, KvCacheQuantParams params, WarnFn warn)
      : record_file_(std::move(record_file)), params_(std::move(params)), warn_(std::move(warn)) {}
  void warn(const std::string& message);

  struct Layer {
    std::unique_ptr<Observer> observer;
    int64_t seen = 0;
    bool done = false;
    Encoding encoding;
  };

  std::string record_file_;
  KvCacheQuantParams params_;
  WarnFn warn_;
  std::vector<std::string> warnings_;
  std::map<std::string, Layer> layers_;
};

}  // namespace quench
