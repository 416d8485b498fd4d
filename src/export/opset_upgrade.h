// quench export (internal): moving a model's default-domain opset up (13..20 -> 21) for the QDQ
// export, which needs opset 21 for INT4 / INT16 types and per-block DequantizeLinear.
#pragma once

#include <cstdint>

#include "core/status.h"
#include "ir/graph.h"

namespace quench::export_internal {

// The first opset the upgrade handles: below it (Squeeze / Unsqueeze / Split / ReduceSum axes as
// inputs at 13, Clip min / max inputs at 11, ...) too much changed.
inline constexpr int64_t kMinUpgradableOpset = 13;

// Rewrites the default-domain nodes of `model` (subgraphs included) whose meaning changed between
// the model's opset and `target`, then sets the opset import to `target` and the IR version to at
// least the one that opset needs. kUnsupported naming the node and op for a change it does not
// handle; the model is then left partly rewritten (callers work on a copy).
Status upgrade_opset(Model& model, int64_t target);

}  // namespace quench::export_internal
