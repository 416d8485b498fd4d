#include "core/tensor.h"

#include <atomic>
#include <limits>
#include <cstdlib>
#include <new>
#include <stdexcept>
#include <sstream>
#include <type_traits>

#include "core/buffer_cache.h"
#include "core/dispatch.h"

namespace quench {

namespace {
std::atomic<int64_t> g_current_bytes{0};
std::atomic<int64_t> g_peak_bytes{0};

void account(int64_t delta) {
  int64_t now = g_current_bytes.fetch_add(delta) + delta;
  int64_t peak = g_peak_bytes.load();
  while (now > peak && !g_peak_bytes.compare_exchange_weak(peak, now)) {
  }
}
}  // namespace

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

std::string shape_to_string(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(s[i]);
  }
  return out + "]";
}

Storage::Storage(size_t nbytes) : nbytes_(nbytes) {
  data_ = buffer_allocate(nbytes, &capacity_);
  account(static_cast<int64_t>(nbytes_));
}

Storage::~Storage() {
  buffer_release(data_, capacity_);
  account(-static_cast<int64_t>(nbytes_));
}

MemoryStats memory_stats() { return {g_current_bytes.load(), g_peak_bytes.load()}; }
void reset_peak_memory() { g_peak_bytes.store(g_current_bytes.load()); }

Tensor Tensor::empty(DType dtype, Shape shape) {
  for (int64_t d : shape)
    if (d < 0) throw std::invalid_argument("tensor shape " + shape_to_string(shape) + " has a negative dimension");
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.storage_ = std::make_shared<Storage>(t.nbytes());
  return t;
}

Tensor Tensor::zeros(DType dtype, Shape shape) {
  Tensor t = empty(dtype, std::move(shape));
  if (t.nbytes()) std::memset(t.raw_data(), 0, t.nbytes());
  return t;
}

Tensor Tensor::with_layout(DType dtype, Shape shape, std::shared_ptr<const TensorLayout> layout,
                           size_t nbytes) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.layout_ = std::move(layout);
  t.storage_ = std::make_shared<Storage>(nbytes);
  return t;
}

Tensor Tensor::reshaped(Shape shape) const {
  assert(is_plain() && shape_numel(shape) == numel());
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::storage_view() const {
  Tensor t = *this;
  t.layout_ = nullptr;
  t.shape_ = {static_cast<int64_t>(storage_bytes() / dtype_size(dtype_))};
  return t;
}

Tensor Tensor::viewed_as(Shape shape, std::shared_ptr<const TensorLayout> layout) const {
  Tensor t = *this;
  t.shape_ = std::move(shape);
  t.layout_ = std::move(layout);
  assert(t.nbytes() <= storage_bytes());
  return t;
}

Tensor Tensor::clone() const {
  assert(is_plain());
  Tensor t = empty(dtype_, shape_);
  if (nbytes()) std::memcpy(t.raw_data(), raw_data(), nbytes());
  return t;
}

// 4-bit elements are stored one per byte (sign-extended for kInt4): read them as 8-bit ones.
static DType storage_dtype(DType t) {
  if (t == DType::kInt4) return DType::kInt8;
  if (t == DType::kUInt4) return DType::kUInt8;
  return t;
}

std::vector<double> Tensor::to_double_vector() const {
  std::vector<double> out(static_cast<size_t>(numel()));
  Status s = visit_numeric_or_half(storage_dtype(dtype_), [&](auto tag) {
    using T = decltype(tag);
    const T* p = static_cast<const T*>(raw_data());
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<double>(static_cast<std::conditional_t<std::is_class_v<T>, float, T>>(p[i]));
    return Status();
  });
  if (!s.ok()) out.clear();
  return out;
}

std::vector<int64_t> Tensor::to_int64_vector() const {
  std::vector<int64_t> out(static_cast<size_t>(numel()));
  Status s = visit_numeric_or_half(storage_dtype(dtype_), [&](auto tag) {
    using T = decltype(tag);
    const T* p = static_cast<const T*>(raw_data());
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<int64_t>(static_cast<std::conditional_t<std::is_class_v<T>, float, T>>(p[i]));
    return Status();
  });
  if (!s.ok()) out.clear();
  return out;
}

std::string Tensor::describe() const {
  return std::string(dtype_name(dtype_)) + shape_to_string(shape_);
}

Result<Tensor> to_plain(const Tensor& src) {
  if (src.is_plain()) return src;
  Tensor dst = Tensor::empty(src.dtype(), src.shape());
  QUENCH_RETURN_IF_ERROR(src.layout()->reorder_to_plain(src, dst));
  return dst;
}

namespace {
template <class D, class S>
D convert_one(S v) {
  if constexpr (std::is_same_v<D, bool>) {
    if constexpr (std::is_class_v<S>) return static_cast<float>(v) != 0.0f;
    else return v != S{};
  } else if constexpr (std::is_class_v<S>) {
    return convert_one<D>(static_cast<float>(v));
  } else if constexpr (std::is_class_v<D>) {
    return D(static_cast<float>(v));
  } else if constexpr (std::is_floating_point_v<S> && std::is_integral_v<D>) {
    // Out-of-range and NaN are undefined in C++; ONNX leaves them unspecified too. Make them defined.
    if (!(v == v)) return D{0};
    if (v >= static_cast<S>(std::numeric_limits<D>::max())) return std::numeric_limits<D>::max();
    if (v <= static_cast<S>(std::numeric_limits<D>::lowest())) return std::numeric_limits<D>::lowest();
    return static_cast<D>(v);
  } else {
    return static_cast<D>(v);
  }
}
}  // namespace

Status convert_tensor(const Tensor& src, Tensor& dst) {
  if (!src.is_plain() || !dst.is_plain()) return Status::internal("convert_tensor on a blocked tensor");
  if (src.numel() != dst.numel()) {
    return Status::internal("convert_tensor: element counts differ: " + src.describe() + " vs " +
                            dst.describe());
  }
  const size_t n = static_cast<size_t>(src.numel());
  if (src.dtype() == dst.dtype()) {
    if (n) std::memcpy(dst.raw_data(), src.raw_data(), src.nbytes());
    return Status();
  }
  return visit_numeric_or_half(src.dtype(), [&](auto stag) {
    using S = decltype(stag);
    const S* sp = static_cast<const S*>(src.raw_data());
    return visit_numeric_or_half(dst.dtype(), [&](auto dtag) {
      using D = decltype(dtag);
      D* dp = static_cast<D*>(dst.raw_data());
      for (size_t i = 0; i < n; ++i) dp[i] = convert_one<D>(sp[i]);
      return Status();
    });
  });
}

const char* status_code_name(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "ok";
    case StatusCode::kInvalid: return "invalid";
    case StatusCode::kUnsupported: return "unsupported";
    case StatusCode::kNotFound: return "not found";
    case StatusCode::kIoError: return "i/o error";
    case StatusCode::kInternal: return "internal error";
  }
  return "?";
}

}  // namespace quench
