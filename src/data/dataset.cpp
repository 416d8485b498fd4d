#include "data/dataset.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "data/file_util.h"
#include "data/idx.h"
#include "data/image_folder.h"
#include "data/npy.h"

namespace quench {

using data_internal::quote_path;
using data_internal::ReadFile;

std::string_view layout_name(Layout layout) { return layout == Layout::kNCHW ? "nchw" : "nhwc"; }

Result<std::unique_ptr<ArrayReader>> open_array_reader(const std::string& path) {
  QUENCH_ASSIGN_OR_RETURN(ReadFile file, ReadFile::open(path));
  QUENCH_ASSIGN_OR_RETURN(std::string head, file.read_prefix(6));
  if (head.size() == 6 && head == std::string("\x93NUMPY", 6)) return open_npy_reader(path);
  auto byte = [&](size_t i) { return i < head.size() ? static_cast<unsigned char>(head[i]) : 0xff; };
  bool gz = byte(0) == 0x1f && byte(1) == 0x8b;
  bool idx = byte(0) == 0 && byte(1) == 0;
  if (gz || idx) return open_idx_reader(path);
  std::string bytes;
  for (size_t i = 0; i < head.size() && i < 4; ++i) {
    char hex[4];
    std::snprintf(hex, sizeof(hex), "%02x", byte(i));
    if (i) bytes += ' ';
    bytes += hex;
  }
  return Status::invalid(quote_path(path) + ": not a .npy or IDX file (it starts with bytes " +
                         (bytes.empty() ? "<empty file>" : bytes) + ")");
}

// --- Normalizer -----------------------------------------------------------------------------------

Result<Normalizer> Normalizer::create(const DataOptions& options, DType raw_dtype,
                                      const Shape& row_shape, const std::string& place) {
  Normalizer n;
  n.scale_ = options.scale ? *options.scale : (raw_dtype == DType::kUInt8 ? 1.0f / 255.0f : 1.0f);
  const size_t m = options.mean.size(), s = options.std.size();
  if (m == 0 && s == 0) return n;
  const size_t c = std::max(m, s);
  if ((m != 0 && m != 1 && m != c) || (s != 0 && s != 1 && s != c)) {
    return Status::invalid("mean has " + std::to_string(m) + " values and std has " +
                           std::to_string(s) + "; give one value or one per channel for each");
  }
  for (float v : options.std) {
    if (!(v > 0.0f)) return Status::invalid("std values must be positive (got " + std::to_string(v) + ")");
  }
  n.channels_ = static_cast<int64_t>(c);
  n.channel_axis_ = options.layout == Layout::kNCHW ? 1 : -1;
  if (c > 1) {
    const int64_t have = row_shape.empty()
                             ? 1
                             : (options.layout == Layout::kNCHW ? row_shape.front() : row_shape.back());
    if (have != static_cast<int64_t>(c)) {
      return Status::invalid(place + ": mean/std have " + std::to_string(c) +
                             " values (one per channel) but the data rows " +
                             shape_to_string(row_shape) + " have " + std::to_string(have) +
                             " channels on the " + (options.layout == Layout::kNCHW ? "first" : "last") +
                             " axis (layout " + std::string(layout_name(options.layout)) + ")");
    }
  }
  n.mean_.assign(c, 0.0f);
  n.inv_std_.assign(c, 1.0f);
  for (size_t i = 0; i < c; ++i) {
    if (m) n.mean_[i] = options.mean[m == 1 ? 0 : i];
    if (s) n.inv_std_[i] = 1.0f / options.std[s == 1 ? 0 : i];
  }
  return n;
}

Result<Tensor> Normalizer::apply(const Tensor& raw) const {
  if (raw.dtype() == DType::kFloat32 && scale_ == 1.0f && mean_.empty()) return raw;
  Tensor out = Tensor::empty(DType::kFloat32, raw.shape());
  QUENCH_RETURN_IF_ERROR(convert_tensor(raw, out));
  float* p = out.data<float>();
  const int64_t n = out.numel();
  if (mean_.empty()) {
    for (int64_t i = 0; i < n; ++i) p[i] *= scale_;
    return out;
  }
  // Elements after the channel axis share a channel: index -> (index / inner) % channels.
  int64_t inner = 1;
  if (channel_axis_ >= 0 && channels_ > 1) {
    for (int d = channel_axis_ + 1; d < out.rank(); ++d) inner *= out.dim(d);
  }
  for (int64_t i = 0; i < n; ++i) {
    size_t c = channels_ > 1 ? static_cast<size_t>((i / inner) % channels_) : 0;
    p[i] = (p[i] * scale_ - mean_[c]) * inv_std_[c];
  }
  return out;
}

// --- Arrays on disk (.npy, IDX) --------------------------------------------------------------------

namespace {

class ArrayDataset final : public Dataset {
 public:
  static Result<std::unique_ptr<Dataset>> open(const std::string& data_path,
                                               const std::string& labels_path,
                                               const DataOptions& options) {
    std::unique_ptr<ArrayDataset> ds(new ArrayDataset());
    QUENCH_ASSIGN_OR_RETURN(ds->data_, open_array_reader(data_path));
    if (!labels_path.empty()) {
      QUENCH_ASSIGN_OR_RETURN(ds->labels_, open_array_reader(labels_path));
      const ArrayReader& l = *ds->labels_;
      bool column = l.shape().size() == 2 && l.shape()[1] == 1;
      if (l.shape().size() != 1 && !column) {
        return Status::invalid(quote_path(labels_path) + ": labels must have shape [N] or [N, 1] (got " +
                               shape_to_string(l.shape()) + ")");
      }
      if (!dtype_is_integer(l.dtype()) && l.dtype() != DType::kBool) {
        return Status::invalid(quote_path(labels_path) + ": labels must be integers (got " +
                               std::string(dtype_name(l.dtype())) + ")");
      }
      if (l.num_rows() != ds->data_->num_rows()) {
        return Status::invalid(quote_path(labels_path) + " has " + std::to_string(l.num_rows()) +
                               " labels but " + quote_path(data_path) + " has " +
                               std::to_string(ds->data_->num_rows()) + " samples");
      }
    }
    ds->size_ = ds->data_->num_rows();
    if (options.limit > 0) ds->size_ = std::min(ds->size_, options.limit);
    QUENCH_ASSIGN_OR_RETURN(ds->normalizer_, Normalizer::create(options, ds->data_->dtype(),
                                                                ds->data_->row_shape(),
                                                                quote_path(data_path)));
    return std::unique_ptr<Dataset>(std::move(ds));
  }

  int64_t size() const override { return size_; }
  Shape sample_shape() const override { return data_->row_shape(); }
  bool has_labels() const override { return labels_ != nullptr; }

  Result<std::optional<Batch>> next_batch(int64_t max_batch) override {
    if (max_batch < 1) {
      return Status::invalid("batch size must be at least 1 (got " + std::to_string(max_batch) + ")");
    }
    int64_t n = std::min(max_batch, size_ - data_->position());
    if (n <= 0) return std::optional<Batch>();
    Batch b;
    QUENCH_ASSIGN_OR_RETURN(Tensor raw, data_->read_rows(n));
    QUENCH_ASSIGN_OR_RETURN(b.data, normalizer_.apply(raw));
    if (labels_) {
      QUENCH_ASSIGN_OR_RETURN(Tensor raw_labels, labels_->read_rows(n));
      Tensor labels = Tensor::empty(DType::kInt64, {n});
      QUENCH_RETURN_IF_ERROR(convert_tensor(raw_labels, labels));
      b.labels = labels;
    }
    return std::optional<Batch>(std::move(b));
  }

  Status reset() override {
    QUENCH_RETURN_IF_ERROR(data_->rewind());
    if (labels_) QUENCH_RETURN_IF_ERROR(labels_->rewind());
    return Status();
  }

  std::string describe() const override {
    return quote_path(data_->path()) + " (" + std::to_string(size_) + " x " +
           shape_to_string(data_->row_shape()) + " " + std::string(dtype_name(data_->dtype())) +
           (labels_ ? ", labels " + quote_path(labels_->path()) : std::string()) + ")";
  }

 private:
  ArrayDataset() = default;
  std::unique_ptr<ArrayReader> data_;
  std::unique_ptr<ArrayReader> labels_;
  Normalizer normalizer_;
  int64_t size_ = 0;
};

}  // namespace

Result<std::unique_ptr<Dataset>> open_dataset(const std::string& data_path,
                                              const std::string& labels_path,
                                              const DataOptions& options) {
  std::error_code ec;
  if (std::filesystem::is_directory(data_path, ec)) {
    if (!labels_path.empty()) {
      return Status::invalid(quote_path(data_path) +
                             " is an image folder: its labels come from its class subfolders, "
                             "a separate labels file is not accepted");
    }
    return open_image_folder(data_path, options);
  }
  return ArrayDataset::open(data_path, labels_path, options);
}

// --- Fitting rows to a model input ---------------------------------------------------------------

std::string InputSpec::shape_string() const {
  std::string out = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) out += ", ";
    if (i < symbols.size() && !symbols[i].empty()) out += symbols[i];
    else if (dims[i] >= 0) out += std::to_string(dims[i]);
    else out += "?";
  }
  return out + "]";
}

Result<Tensor> fit_to_input(const Tensor& batch, const InputSpec& input) {
  if (batch.rank() < 1) return Status::internal("fit_to_input: a batch needs a batch axis");
  const int64_t rows = batch.dim(0);
  const Shape r(batch.shape().begin() + 1, batch.shape().end());
  if (input.dims.empty()) {
    return Status::invalid("model input '" + input.name + "' is a scalar; it has no batch axis to "
                           "feed samples along");
  }
  if (input.dims[0] >= 0 && input.dims[0] != rows) {
    return Status::invalid("model input '" + input.name + "' has a fixed batch size of " +
                           std::to_string(input.dims[0]) + " but the batch has " +
                           std::to_string(rows) + " samples");
  }
  const std::vector<int64_t> m(input.dims.begin() + 1, input.dims.end());
  auto matches = [](const std::vector<int64_t>& want, const Shape& have) {
    if (want.size() != have.size()) return false;
    for (size_t i = 0; i < want.size(); ++i) {
      if (want[i] >= 0 && want[i] != have[i]) return false;
    }
    return true;
  };
  if (matches(m, r)) return batch;

  // Axes of size 1 carry no data: compare without them and reshape ([28, 28] -> [1, 28, 28]).
  Shape r_squeezed;
  for (int64_t d : r) {
    if (d != 1) r_squeezed.push_back(d);
  }
  std::vector<int64_t> m_squeezed;
  for (int64_t d : m) {
    if (d != 1) m_squeezed.push_back(d);
  }
  if (matches(m_squeezed, r_squeezed)) {
    Shape target{rows};
    size_t k = 0;
    for (int64_t d : m) {
      if (d == 1) {
        target.push_back(1);
      } else {
        target.push_back(d >= 0 ? d : r_squeezed[k]);
        ++k;
      }
    }
    return batch.reshaped(target);
  }
  // A flat vector on either side: [784] <-> [28, 28] (all model dims known).
  const bool all_known = std::all_of(m.begin(), m.end(), [](int64_t d) { return d >= 0; });
  int64_t m_numel = 1;
  for (int64_t d : m) m_numel *= d;
  if (all_known && m_numel == shape_numel(r) && (r_squeezed.size() <= 1 || m_squeezed.size() <= 1)) {
    Shape target{rows};
    target.insert(target.end(), m.begin(), m.end());
    return batch.reshaped(target);
  }
  std::string hint;
  Shape r_sorted = r_squeezed;
  std::vector<int64_t> m_sorted = m_squeezed;
  std::sort(r_sorted.begin(), r_sorted.end());
  std::sort(m_sorted.begin(), m_sorted.end());
  if (all_known && r_sorted == m_sorted) hint = " (channel order? see the layout option: nchw / nhwc)";
  return Status::invalid("data rows have shape " + shape_to_string(r) + " (" +
                         std::to_string(shape_numel(r)) + " elements) but model input '" +
                         input.name + "' expects " + input.shape_string() + hint);
}

}  // namespace quench
