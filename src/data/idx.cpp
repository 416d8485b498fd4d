#include "data/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "data/file_util.h"

namespace quench {

using data_internal::checked_mul;
using data_internal::quote_path;
using data_internal::ReadFile;

namespace {

constexpr int kMaxRank = 16;

Result<DType> idx_dtype(int code, const std::string& place) {
  switch (code) {
    case 0x08: return DType::kUInt8;
    case 0x09: return DType::kInt8;
    case 0x0B: return DType::kInt16;
    case 0x0C: return DType::kInt32;
    case 0x0D: return DType::kFloat32;
    case 0x0E: return DType::kFloat64;
    default: {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "0x%02X", code);
      return Status::invalid(place + ": not an IDX file: element type " + hex +
                             " is none of 0x08 (uint8), 0x09 (int8), 0x0B (int16), 0x0C (int32), "
                             "0x0D (float32), 0x0E (float64)");
    }
  }
}

// IDX stores multi-byte elements big-endian.
void to_host_order(void* data, int64_t n, size_t elem) {
  if (elem == 1) return;
  auto* p = static_cast<unsigned char*>(data);
  for (int64_t i = 0; i < n; ++i, p += elem) std::reverse(p, p + elem);
}

class IdxReader final : public ArrayReader {
 public:
  ~IdxReader() override { close(); }

  static Result<std::unique_ptr<ArrayReader>> open(const std::string& path) {
    // Probe with a plain read first: it gives clean messages for missing files and directories,
    // the compressed flag and, for uncompressed files, the size to check against the header.
    QUENCH_ASSIGN_OR_RETURN(ReadFile probe, ReadFile::open(path));
    QUENCH_ASSIGN_OR_RETURN(std::string head, probe.read_prefix(2));
    std::unique_ptr<IdxReader> r(new IdxReader());
    r->path_ = path;
    r->gzipped_ = head.size() == 2 && static_cast<unsigned char>(head[0]) == 0x1f &&
                  static_cast<unsigned char>(head[1]) == 0x8b;
    QUENCH_RETURN_IF_ERROR(r->open_stream());
    if (!r->gzipped_ && probe.size() < r->header_bytes_ + r->data_bytes_) {
      return Status::invalid(r->truncated_message(probe.size() - r->header_bytes_));
    }
    return std::unique_ptr<ArrayReader>(std::move(r));
  }

  const std::string& path() const override { return path_; }
  DType dtype() const override { return dtype_; }
  const Shape& shape() const override { return shape_; }
  int64_t position() const override { return position_; }

  Status rewind() override {
    close();
    return open_stream();
  }

  Result<Tensor> read_rows(int64_t count) override {
    if (count < 1 || count > remaining()) {
      return Status::internal("idx read_rows(" + std::to_string(count) + ") with " +
                              std::to_string(remaining()) + " rows left");
    }
    if (!gz_) return Status::internal(quote_path(path_) + ": read after a failed rewind");
    Shape s = shape_;
    s[0] = count;
    QUENCH_ASSIGN_OR_RETURN(Tensor t, data_internal::allocate_tensor(dtype_, s, path_));
    const int64_t want = static_cast<int64_t>(t.nbytes());
    auto* dst = static_cast<char*>(t.raw_data());
    int64_t done = 0;
    while (done < want) {
      // gzread takes an unsigned int count: read in chunks of at most 1 GiB.
      unsigned chunk = static_cast<unsigned>(std::min<int64_t>(want - done, int64_t{1} << 30));
      int r = gzread(gz_, dst + done, chunk);
      if (r <= 0) {
        int64_t got = position_ * row_bytes_ + done;
        int err = Z_OK;
        const char* msg = gzerror(gz_, &err);
        if (r < 0 && err != Z_BUF_ERROR) {
          return Status::invalid(quote_path(path_) + ": corrupt compressed data after " +
                                 std::to_string(got) + " bytes of elements (" + msg + ")");
        }
        return Status::invalid(truncated_message(got));
      }
      done += r;
    }
    to_host_order(dst, t.numel(), dtype_size(dtype_));
    position_ += count;
    return t;
  }

 private:
  IdxReader() = default;

  void close() {
    if (gz_) gzclose(gz_);
    gz_ = nullptr;
  }

  std::string truncated_message(int64_t actual_data_bytes) const {
    std::string dims;
    for (size_t i = 0; i < shape_.size(); ++i) dims += (i ? " x " : "") + std::to_string(shape_[i]);
    return quote_path(path_) + ": truncated: expected " + std::to_string(header_bytes_ + data_bytes_) +
           " bytes" + (gzipped_ ? " after decompression" : "") + " (" +
           std::to_string(header_bytes_) + "-byte header + " + dims + " " +
           std::string(dtype_name(dtype_)) + "), got " +
           std::to_string(header_bytes_ + std::max<int64_t>(actual_data_bytes, 0));
  }

  // Opens the stream and reads and checks the header.
  Status open_stream() {
    position_ = 0;
    gz_ = gzopen(path_.c_str(), "rb");
    if (!gz_) return Status::io_error(quote_path(path_) + ": cannot open");
    gzbuffer(gz_, 1 << 17);
    unsigned char magic[4];
    int got = gzread(gz_, magic, 4);
    const std::string place = quote_path(path_);
    if (got != 4) {
      return Status::invalid(place + ": not an IDX file: " + std::to_string(std::max(got, 0)) +
                             " bytes, shorter than the 4-byte magic");
    }
    if (magic[0] != 0 || magic[1] != 0) {
      char hex[16];
      std::snprintf(hex, sizeof(hex), "%02x %02x %02x %02x", magic[0], magic[1], magic[2], magic[3]);
      return Status::invalid(place + ": not an IDX file: magic bytes " + hex +
                             " do not start with 00 00");
    }
    QUENCH_ASSIGN_OR_RETURN(DType dtype, idx_dtype(magic[2], place));
    int rank = magic[3];
    if (rank < 1 || rank > kMaxRank) {
      return Status::invalid(place + ": not an IDX file: rank " + std::to_string(rank) +
                             " is outside 1.." + std::to_string(kMaxRank));
    }
    unsigned char dims[4 * kMaxRank];
    got = gzread(gz_, dims, static_cast<unsigned>(4 * rank));
    if (got != 4 * rank) {
      return Status::invalid(place + ": truncated: the header declares " + std::to_string(rank) +
                             " dimensions (" + std::to_string(4 + 4 * rank) +
                             " bytes) but the file ends after " + std::to_string(4 + std::max(got, 0)));
    }
    Shape shape(static_cast<size_t>(rank));
    int64_t numel = 1;
    for (int i = 0; i < rank; ++i) {
      const unsigned char* d = dims + 4 * i;
      shape[static_cast<size_t>(i)] = (int64_t{d[0]} << 24) | (int64_t{d[1]} << 16) |
                                      (int64_t{d[2]} << 8) | int64_t{d[3]};
      if (!checked_mul(numel, shape[static_cast<size_t>(i)], &numel)) {
        return Status::invalid(place + ": shape " + shape_to_string(shape) + " is too large");
      }
    }
    int64_t data_bytes = 0;
    if (!checked_mul(numel, static_cast<int64_t>(dtype_size(dtype)), &data_bytes)) {
      return Status::invalid(place + ": shape " + shape_to_string(shape) + " is too large");
    }
    if (!shape_.empty() && (shape != shape_ || dtype != dtype_)) {
      return Status::invalid(place + ": the file changed while it was being read");
    }
    dtype_ = dtype;
    shape_ = std::move(shape);
    header_bytes_ = 4 + 4 * rank;
    data_bytes_ = data_bytes;
    row_bytes_ = shape_[0] ? data_bytes / shape_[0] : 0;
    return Status();
  }

  std::string path_;
  bool gzipped_ = false;
  gzFile gz_ = nullptr;
  DType dtype_ = DType::kUndefined;
  Shape shape_;
  int64_t header_bytes_ = 0;
  int64_t data_bytes_ = 0;
  int64_t row_bytes_ = 0;
  int64_t position_ = 0;
};

}  // namespace

Result<std::unique_ptr<ArrayReader>> open_idx_reader(const std::string& path) {
  return IdxReader::open(path);
}

Result<Tensor> read_idx(const std::string& path) {
  QUENCH_ASSIGN_OR_RETURN(auto r, open_idx_reader(path));
  if (r->num_rows() == 0) return Tensor::empty(r->dtype(), r->shape());
  return r->read_rows(r->num_rows());
}

}  // namespace quench
