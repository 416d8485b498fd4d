// quench data: streaming datasets for evaluation and calibration.
//
// A Dataset hands out batches of samples without ever holding the whole data set in memory: .npy
// files are read by row ranges (positioned reads), IDX files (gzipped or not, as MNIST ships them)
// are decompressed as a stream, image folders are decoded one file at a time.
//
//   ArrayReader   a typed array on disk (.npy or IDX) read along axis 0, rows in their own dtype.
//   Dataset       batches of float32 samples [B, ...] plus optional int64 labels [B].
//   DataOptions   how raw values become model inputs: x * scale, then (x - mean) / std per channel.
//
// Value conversion: uint8 data is multiplied by `scale` (default 1/255); other dtypes are converted
// to float32 as they are unless `scale` is given. mean/std hold one value (all elements) or one per
// channel; the channel axis is axis 1 of the batch for Layout::kNCHW and the last axis for kNHWC.
//
//   DataOptions opt;                          // uint8 pixels -> [0, 1]
//   QUENCH_ASSIGN_OR_RETURN(auto ds, open_dataset("t10k-images-idx3-ubyte.gz",
//                                                 "t10k-labels-idx1-ubyte.gz", opt));
//   while (true) {
//     QUENCH_ASSIGN_OR_RETURN(std::optional<Batch> b, ds->next_batch(64));
//     if (!b) break;
//     QUENCH_ASSIGN_OR_RETURN(Tensor x, fit_to_input(b->data, model_input));  // [B,28,28] -> [B,1,28,28]
//     ...
//   }
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"

namespace quench {

// A typed array stored in a file, read sequentially along axis 0 (the sample axis).
class ArrayReader {
 public:
  virtual ~ArrayReader() = default;
  virtual const std::string& path() const = 0;
  virtual DType dtype() const = 0;
  // The whole array's shape; rank >= 1, shape()[0] is the number of rows.
  virtual const Shape& shape() const = 0;
  // Reads the next `count` rows (1 <= count <= remaining()) as a plain tensor [count, ...].
  virtual Result<Tensor> read_rows(int64_t count) = 0;
  // Back to row 0.
  virtual Status rewind() = 0;
  // Rows read since the last rewind.
  virtual int64_t position() const = 0;

  int64_t num_rows() const { return shape()[0]; }
  int64_t remaining() const { return num_rows() - position(); }
  Shape row_shape() const { return Shape(shape().begin() + 1, shape().end()); }
};

// Opens a .npy or IDX (optionally gzipped) file, chosen by its first bytes.
Result<std::unique_ptr<ArrayReader>> open_array_reader(const std::string& path);

enum class Layout { kNCHW, kNHWC };
std::string_view layout_name(Layout layout);  // "nchw" / "nhwc"

struct DataOptions {
  // Multiplies raw values. Unset: 1/255 for uint8 data, 1 for every other dtype.
  std::optional<float> scale;
  // Empty, one value, or one value per channel (then std needs the same count, or one value).
  std::vector<float> mean;
  std::vector<float> std;
  // Channel axis for per-channel mean/std, and the layout images are produced in.
  Layout layout = Layout::kNCHW;
  // Images only: decode to this many channels (1 = grey, 3 = RGB).
  int channels = 3;
  // Images only: resize every image to height x width (bilinear). 0 = keep the size of the images
  // (they must then all have the same size).
  int height = 0;
  int width = 0;
  // Only the first `limit` samples (0 = all).
  int64_t limit = 0;
};

struct Batch {
  Tensor data;                   // float32 [B, ...]
  std::optional<Tensor> labels;  // int64 [B] when the data set has labels
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  // Number of samples (after DataOptions::limit).
  virtual int64_t size() const = 0;
  // Shape of one sample as it appears in batches (without the batch axis).
  virtual Shape sample_shape() const = 0;
  virtual bool has_labels() const = 0;
  // The next at most max_batch samples (max_batch >= 1); an empty optional after the last one.
  virtual Result<std::optional<Batch>> next_batch(int64_t max_batch) = 0;
  // Starts over from the first sample (reopens sequential sources such as gzip streams).
  virtual Status reset() = 0;
  // One line for messages and reports: "idx 't10k-images-idx3-ubyte.gz' (10000 x [28, 28] uint8)".
  virtual std::string describe() const = 0;
};

// Opens a data set: `data_path` is a .npy file, an IDX file (gzipped or not) or a folder of PNG /
// JPEG images (labels from sorted class subfolder names when it has subfolders). `labels_path`
// ("" = none) is a .npy or IDX file of integer labels, one per sample ([N] or [N, 1]); image
// folders take their labels from class subfolders instead.
Result<std::unique_ptr<Dataset>> open_dataset(const std::string& data_path,
                                              const std::string& labels_path,
                                              const DataOptions& options);

// Turns raw rows (any numeric dtype, [B, ...]) into float32 model input: x * scale, then
// (x - mean) / std along the channel axis of `options.layout`. The raw dtype picks the default
// scale when options.scale is unset (1/255 for uint8, else 1). Float32 data with nothing to do
// is passed through without a copy.
class Normalizer {
 public:
  // Checks mean/std against the channel count of rows of shape `row_shape`; `place` names the
  // data in error messages.
  static Result<Normalizer> create(const DataOptions& options, DType raw_dtype,
                                   const Shape& row_shape, const std::string& place);
  Result<Tensor> apply(const Tensor& raw) const;

 private:
  float scale_ = 1.0f;
  std::vector<float> mean_;      // per channel (size channels_), or empty
  std::vector<float> inv_std_;   // per channel, or empty
  int64_t channels_ = 1;         // 1 when mean/std are single values
  int channel_axis_ = 1;         // in the batch tensor; -1 = last
};

// A model input's declared shape as the data layer sees it (no IR dependency).
struct InputSpec {
  std::string name;
  std::vector<int64_t> dims;         // -1: symbolic or unknown
  std::vector<std::string> symbols;  // dim_param per dim ("" when none); may be empty
  // "[batch, 1, 28, 28]"; unknown dims without a symbol print as "?".
  std::string shape_string() const;
};

// Makes a batch [B, r...] fit a model input [d0, d...]: returned unchanged when the row shape
// matches (unknown dims match anything), reshaped when the two differ only by axes of size 1
// (a channel axis: [28, 28] -> [1, 28, 28]) or when one side is a flat vector of the same element
// count. A known batch dimension d0 must equal B. Anything else is an error naming both shapes:
//   data rows have shape [28, 28] (784 elements) but model input 'input' expects [N, 3, 32, 32]
Result<Tensor> fit_to_input(const Tensor& batch, const InputSpec& input);

}  // namespace quench
