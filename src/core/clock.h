// quench core: a monotonic clock in seconds, for the durations that reports and progress print.
//
//   const double t0 = now_seconds();  ...  report.seconds = now_seconds() - t0;
#pragma once

#include <chrono>

namespace quench {

inline double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace quench
