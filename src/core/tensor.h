// quench core: the Tensor.
//
// A Tensor is a descriptor plus shared storage:
//   dtype_   element type (DType); one element takes dtype_size(dtype_) bytes in memory.
//   shape_   logical dimensions, outermost first (NCHW for images). A scalar has shape {}.
//   layout_  null for the plain dense row-major layout (strides are then implied by shape_: the last
//            dimension is contiguous). Non-null when a runtime kernel left the data in a layout of
//            its own (oneDNN's blocked nChw16c, say) so that the next kernel of the same kind can
//            consume it without a reorder; only src/runtime creates or reads such tensors, and every
//            tensor a user, a tap or a plain kernel sees is plain.
//   storage_ a 64-byte aligned buffer, shared between copies: copying a Tensor is cheap and aliases
//            the data (like torch.Tensor); clone() makes a deep copy.
//
//   Tensor x = Tensor::zeros(DType::kFloat32, {1, 3, 224, 224});
//   float* p = x.data<float>();
//   Tensor y = x.reshaped({3, 224 * 224});   // same storage, new shape
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"

namespace quench {

using Shape = std::vector<int64_t>;

int64_t shape_numel(const Shape& s);
std::string shape_to_string(const Shape& s);  // "[1, 3, 224, 224]"

// A data layout that a runtime backend owns. Opaque to everything outside src/runtime.
class Tensor;
class TensorLayout {
 public:
  virtual ~TensorLayout() = default;
  virtual std::string describe() const = 0;
  // Writes src (in this layout) to dst, a plain tensor of the same dtype and shape.
  virtual Status reorder_to_plain(const Tensor& src, Tensor& dst) const = 0;
  // True when data in this layout and in `other` is arranged identically (element i of one buffer
  // is element i of the other).
  virtual bool same_as(const TensorLayout& other) const { return this == &other; }
};

// An aligned byte buffer. Allocation goes through the buffer cache (core/buffer_cache.h) and is
// counted, so that the current and peak bytes held by tensors can be reported (memory_stats()).
class Storage {
 public:
  explicit Storage(size_t nbytes);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() { return data_; }
  const void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  size_t capacity_ = 0;  // bytes of the block (buffer_cache.h), >= nbytes_
};

struct MemoryStats {
  int64_t current_bytes = 0;  // held by live tensors now
  int64_t peak_bytes = 0;     // highest current_bytes since the last reset_peak_memory()
};
MemoryStats memory_stats();
void reset_peak_memory();

class Tensor {
 public:
  Tensor() = default;  // an empty tensor: defined() is false

  // Uninitialized contents.
  static Tensor empty(DType dtype, Shape shape);
  static Tensor zeros(DType dtype, Shape shape);
  template <class T>
  static Tensor from_vector(Shape shape, const std::vector<T>& values) {
    Tensor t = empty(dtype_of<T>(), std::move(shape));
    if (!values.empty()) std::memcpy(t.raw_data(), values.data(), values.size() * sizeof(T));
    return t;
  }
  template <class T>
  static Tensor scalar(T v) { return from_vector<T>({}, {v}); }
  // A tensor over a byte buffer of nbytes (>= numel*dtype_size) laid out as `layout`.
  static Tensor with_layout(DType dtype, Shape shape, std::shared_ptr<const TensorLayout> layout,
                            size_t nbytes);

  bool defined() const { return dtype_ != DType::kUndefined; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t dim(int i) const { return shape_[static_cast<size_t>(i < 0 ? i + rank() : i)]; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t numel() const { return shape_numel(shape_); }
  // Bytes of the logical elements (numel * element size); a blocked layout may hold more.
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  size_t storage_bytes() const { return storage_ ? storage_->nbytes() - offset_ : 0; }

  bool is_plain() const { return layout_ == nullptr; }
  const std::shared_ptr<const TensorLayout>& layout() const { return layout_; }

  void* raw_data() { return storage_ ? static_cast<char*>(storage_->data()) + offset_ : nullptr; }
  const void* raw_data() const {
    return storage_ ? static_cast<const char*>(storage_->data()) + offset_ : nullptr;
  }
  template <class T>
  T* data() {
    assert(dtype_size(dtype_) == sizeof(T));
    return static_cast<T*>(raw_data());
  }
  template <class T>
  const T* data() const {
    assert(dtype_size(dtype_) == sizeof(T));
    return static_cast<const T*>(raw_data());
  }

  // Same storage, new shape (same numel; plain tensors only).
  Tensor reshaped(Shape shape) const;
  // A plain 1-D view over all of the storage (a runtime layout's padding included), for kernels
  // that treat every element alike (see kElementwise in runtime/kernel.h).
  Tensor storage_view() const;
  // This tensor's storage seen with another shape and layout (the bytes must suffice).
  Tensor viewed_as(Shape shape, std::shared_ptr<const TensorLayout> layout) const;
  // Deep copy (plain).
  Tensor clone() const;
  // True if both tensors share one storage buffer.
  bool shares_storage(const Tensor& other) const { return storage_ && storage_ == other.storage_; }
  // Number of Tensor objects sharing the storage (for in-place reuse decisions).
  long use_count() const { return storage_.use_count(); }

  // Elements converted to double / int64 (plain numeric tensors; for tests, shape data and printing).
  std::vector<double> to_double_vector() const;
  std::vector<int64_t> to_int64_vector() const;

  std::string describe() const;  // "float32[1, 3, 224, 224]"

 private:
  DType dtype_ = DType::kUndefined;
  Shape shape_;
  std::shared_ptr<const TensorLayout> layout_;
  std::shared_ptr<Storage> storage_;
  size_t offset_ = 0;  // bytes from the start of storage_
};

// src itself when plain, else a plain copy made by its layout.
Result<Tensor> to_plain(const Tensor& src);

// Element-wise copy with conversion between any two numeric dtypes (Cast semantics: float -> int
// truncates toward zero, saturating for float8 only as ONNX says; bool is 0/1).
Status convert_tensor(const Tensor& src, Tensor& dst);

}  // namespace quench
