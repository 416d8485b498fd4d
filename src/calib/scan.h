// quench calib (internal): the two scans every observed batch goes through, written with SSE2
// (part of every x86-64 CPU; other targets take the scalar loops). GCC does not vectorise the
// plain min / max reductions without -ffast-math, and an observer reads every activation of every
// calibration batch, so these loops decide how much calibration costs over plain inference.
#pragma once

#include <cstdint>

namespace quench::calib_internal {

// Index of the first NaN or +-Inf in x[0, n), or -1.
int64_t scan_first_non_finite(const float* x, int64_t n);
// min and max of x (or of |x| when `abs`) over x[0, n), n >= 1. Returns false when x holds a NaN
// or an Inf (min / max are then meaningless): observers check finiteness in the same pass.
bool scan_min_max(const float* x, int64_t n, bool abs, float& min, float& max);

}  // namespace quench::calib_internal
