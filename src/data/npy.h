// quench data: NumPy .npy files.
//
// Format versions 1.0, 2.0 and 3.0 (header length field of 2 or 4 bytes; 3.0 allows UTF-8 in the
// header), little-endian data of dtype float16/32/64, (u)int8/16/32/64 and bool, any shape, C order.
// Fortran order, big-endian data and structured dtypes are rejected with kUnsupported. Writing
// picks version 1.0 (2.0 for headers over 64 KiB) and goes through write_file_atomic.
//
//   QUENCH_ASSIGN_OR_RETURN(Tensor x, read_npy("input.npy"));          // whole file
//   QUENCH_RETURN_IF_ERROR(write_npy("out/logits.npy", y));
//   QUENCH_ASSIGN_OR_RETURN(auto r, open_npy_reader("big.npy"));       // rows on demand
//   QUENCH_ASSIGN_OR_RETURN(Tensor rows, r->read_rows(64));
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"
#include "core/tensor.h"
#include "data/dataset.h"

namespace quench {

struct NpyHeader {
  int major_version = 1;
  int minor_version = 0;
  DType dtype = DType::kUndefined;
  Shape shape;
  int64_t data_offset = 0;  // bytes from the start of the file to the first element
};

// Parses the header at the start of `bytes` (at least the first 10 bytes, better the whole
// header); `place` (usually the file name) prefixes error messages.
Result<NpyHeader> parse_npy_header(std::string_view bytes, const std::string& place);
// The serialized header for a tensor (magic, version, length, dict, padding to 64 bytes).
Result<std::string> make_npy_header(DType dtype, const Shape& shape);

Result<Tensor> read_npy(const std::string& path);
Status write_npy(const std::string& path, const Tensor& tensor);

// Positioned reads of row ranges; the file is never read whole. Rank-0 arrays are rejected.
Result<std::unique_ptr<ArrayReader>> open_npy_reader(const std::string& path);

}  // namespace quench
