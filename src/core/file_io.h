// quench core: files.
//
// Every output quench writes goes through write_file_atomic: the bytes go to a temporary file next
// to the destination, are flushed, and the temporary is renamed over the destination, so a crash or
// a full disk never leaves a half-written file where a good one was.
//
//   QUENCH_RETURN_IF_ERROR(write_file_atomic("out/model.onnx", bytes));
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace quench {

Result<std::string> read_file(const std::string& path);
Status write_file_atomic(const std::string& path, std::string_view bytes);

}  // namespace quench
