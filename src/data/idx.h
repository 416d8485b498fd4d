// quench data: IDX files, the format of MNIST and Fashion-MNIST, gzipped or not.
//
// An IDX file is a 4-byte magic (0, 0, element type, rank), `rank` big-endian uint32 dimensions and
// the elements in big-endian C order. Element types: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
// 0x0D float32, 0x0E float64. Gzip compression is recognized by its magic bytes (1f 8b), not by the
// file name. Reading is sequential (zlib gzread): the file is never decompressed whole, and rewind()
// reopens it.
//
//   QUENCH_ASSIGN_OR_RETURN(auto images, open_idx_reader("t10k-images-idx3-ubyte.gz"));
//   // images->shape() == {10000, 28, 28}, images->dtype() == DType::kUInt8
//   QUENCH_ASSIGN_OR_RETURN(Tensor first64, images->read_rows(64));
#pragma once

#include <memory>
#include <string>

#include "core/status.h"
#include "core/tensor.h"
#include "data/dataset.h"

namespace quench {

Result<std::unique_ptr<ArrayReader>> open_idx_reader(const std::string& path);
// The whole file as one tensor (for small files such as label files).
Result<Tensor> read_idx(const std::string& path);

}  // namespace quench
