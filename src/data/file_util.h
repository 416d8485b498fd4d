// quench data (internal): a read-only file with positioned, exact reads and messages that name it.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"
#include "core/tensor.h"

namespace quench::data_internal {

class ReadFile {
 public:
  ReadFile() = default;
  ~ReadFile();
  ReadFile(ReadFile&& other) noexcept;
  ReadFile& operator=(ReadFile&& other) noexcept;
  ReadFile(const ReadFile&) = delete;
  ReadFile& operator=(const ReadFile&) = delete;

  // Fails with kNotFound for a missing file, kInvalid for a directory.
  static Result<ReadFile> open(const std::string& path);

  const std::string& path() const { return path_; }
  int64_t size() const { return size_; }
  // Reads exactly n bytes at `offset`; a short read is an I/O error naming the file and offset.
  Status read_at(int64_t offset, void* dst, int64_t n) const;
  // Up to n bytes at offset (fewer at the end of the file).
  Result<std::string> read_prefix(int64_t n) const;

 private:
  int fd_ = -1;
  int64_t size_ = 0;
  std::string path_;
};

// "'a/b.npy'" style quoting for messages.
inline std::string quote_path(const std::string& s) { return "'" + s + "'"; }

// Tensor::empty that reports a failed allocation (a corrupt header declaring huge dimensions) as
// an error naming the file instead of throwing.
Result<Tensor> allocate_tensor(DType dtype, const Shape& shape, const std::string& path);

// a * b into *out; false on int64 overflow or a negative factor.
bool checked_mul(int64_t a, int64_t b, int64_t* out);

}  // namespace quench::data_internal
