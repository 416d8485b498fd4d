// quench calib: observers, the statistics that calibration collects.
//
// An observer sees a tensor batch after batch (update), can absorb another observer of the same kind
// that saw other batches (merge: calibration may be split across threads or processes), and turns
// what it saw into an Encoding for a QuantSpec (compute). Memory is bounded: min-max observers keep
// a few numbers, histogram observers a fixed number of bins; only IFMR keeps values, and only from
// its first batch_num batches (AMCT's rule, SPEC A.2).
//
// merge() is exact: observing batches b1..bk in one observer and bk+1..bn in another, then merging
// the second into the first, gives the same encoding, bit for bit, as observing b1..bn in one. The
// histograms make that possible by binning over a power-of-two range [-2^e, 2^e] whose bins only
// ever merge pairwise when the range grows, so a histogram depends on the data, not the batch order.
//
//   QUENCH_ASSIGN_OR_RETURN(auto obs, make_observer({.method = CalibMethod::kEntropy}));
//   for (const Tensor& batch : batches) QUENCH_RETURN_IF_ERROR(obs->update(batch));
//   QUENCH_ASSIGN_OR_RETURN(Encoding e, obs->compute(spec));
#pragma once

#include <memory>
#include <string>

#include "core/status.h"
#include "core/tensor.h"
#include "quant/encoding.h"
#include "quant/quant_config.h"

namespace quench {

class Observer {
 public:
  virtual ~Observer() = default;

  // Observes one batch (float32, plain). NaN or Inf in the batch is kInvalid naming the first bad
  // element's index; the observer is left as it was. A per-channel observer needs the same channel
  // count in every batch.
  virtual Status update(const Tensor& batch) = 0;
  // Absorbs `other`, which must be an observer made from the same ObserverConfig (else kInvalid).
  virtual Status merge(const Observer& other) = 0;
  // The encoding for `spec`. kInvalid when nothing was observed ("no calibration data"), or when the
  // spec does not suit the method (e.g. vai_q diffs with a float scale type).
  virtual Result<Encoding> compute(const QuantSpec& spec) const = 0;

  // A fresh observer with the same configuration and no data.
  virtual std::unique_ptr<Observer> clone_empty() const = 0;
  virtual const ObserverConfig& config() const = 0;
  // Batches observed so far (counting only those used, for batch_num-limited methods).
  virtual int64_t num_batches() const = 0;
  // Bytes the observer holds now, for memory reports and tests of the bound.
  virtual int64_t memory_bytes() const = 0;
};

// Checks the config (percentile range, bins, sigma, IFMR parameters...) and makes the observer.
// Errors are kInvalid and name the field: "observer.percentile: 120 is out of range (0, 100]".
Result<std::unique_ptr<Observer>> make_observer(const ObserverConfig& config);

// Index of the first NaN or +-Inf in x[0, n), or -1: the check every calibration batch and every
// quantized weight goes through (SSE2 blocks, on every thread for large n).
int64_t first_non_finite(const float* x, int64_t n);

}  // namespace quench
