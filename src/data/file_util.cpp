#include "data/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <utility>

namespace quench::data_internal {

ReadFile::~ReadFile() {
  if (fd_ >= 0) ::close(fd_);
}

ReadFile::ReadFile(ReadFile&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), size_(other.size_), path_(std::move(other.path_)) {}

ReadFile& ReadFile::operator=(ReadFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    size_ = other.size_;
    path_ = std::move(other.path_);
  }
  return *this;
}

Result<ReadFile> ReadFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) return Status::not_found(quote_path(path) + ": no such file");
    return Status::io_error(quote_path(path) + ": cannot open (" + std::strerror(err) + ")");
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return Status::io_error(quote_path(path) + ": cannot stat (" + std::strerror(err) + ")");
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    return Status::invalid(quote_path(path) + " is a directory, not a file");
  }
  ReadFile f;
  f.fd_ = fd;
  f.size_ = static_cast<int64_t>(st.st_size);
  f.path_ = path;
  return f;
}

Status ReadFile::read_at(int64_t offset, void* dst, int64_t n) const {
  char* p = static_cast<char*>(dst);
  int64_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd_, p + done, static_cast<size_t>(n - done), static_cast<off_t>(offset + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return Status::io_error(quote_path(path_) + ": read of " + std::to_string(n) + " bytes at offset " +
                              std::to_string(offset) + " failed (" + std::strerror(errno) + ")");
    }
    if (r == 0) {
      return Status::io_error(quote_path(path_) + ": file ended at byte " + std::to_string(offset + done) +
                              " while reading " + std::to_string(n) + " bytes at offset " +
                              std::to_string(offset) + " (was it truncated while open?)");
    }
    done += r;
  }
  return Status();
}

Result<std::string> ReadFile::read_prefix(int64_t n) const {
  int64_t take = n < size_ ? n : size_;
  std::string out(static_cast<size_t>(take), '\0');
  QUENCH_RETURN_IF_ERROR(read_at(0, out.data(), take));
  return out;
}

Result<Tensor> allocate_tensor(DType dtype, const Shape& shape, const std::string& path) {
  try {
    return Tensor::empty(dtype, shape);
  } catch (const std::bad_alloc&) {
    int64_t bytes = shape_numel(shape) * static_cast<int64_t>(dtype_size(dtype));
    return Status::invalid(quote_path(path) + ": cannot allocate " + std::to_string(bytes) +
                           " bytes for " + std::string(dtype_name(dtype)) + shape_to_string(shape) +
                           " (does the file declare the right shape?)");
  }
}

bool checked_mul(int64_t a, int64_t b, int64_t* out) {
  if (a < 0 || b < 0) return false;
  return !__builtin_mul_overflow(a, b, out);
}

}  // namespace quench::data_internal
