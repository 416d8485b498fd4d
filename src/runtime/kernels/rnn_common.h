// Internal interface of the rnn kernel family (rnn.cpp parses and checks a node, rnn_cells.cpp
// runs the recurrence, rnn_activation.cpp holds the activation functions).
//
//   QUENCH_ASSIGN_OR_RETURN(RnnProblem p, ...);   // filled from the node by rnn.cpp
//   QUENCH_RETURN_IF_ERROR(run_rnn(ctx, p));
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/kernel.h"

namespace quench::rnn {

enum class CellKind { kRnn, kGru, kLstm };

// One activation function of the ONNX RNN family with its alpha / beta.
struct Activation {
  enum class Kind {
    kSigmoid, kTanh, kRelu, kHardSigmoid, kAffine, kLeakyRelu, kThresholdedRelu, kScaledTanh,
    kElu, kSoftsign, kSoftplus,
  };
  Kind kind = Kind::kSigmoid;
  float alpha = 0.0f;
  float beta = 0.0f;

  void apply(float* x, int64_t n) const;  // in place
  float operator()(float x) const;
};

// The node's activations attribute (with activation_alpha / activation_beta consumed in order by
// the functions that take them), `per_direction` functions for each of `directions`; `defaults`
// when the attribute is absent. A list for one direction of a bidirectional node is used for both.
Result<std::vector<Activation>> parse_activations(const KernelContext& ctx, int per_direction,
                                                  int directions,
                                                  const std::vector<const char*>& defaults);

// Everything run_rnn needs, checked. Pointers are plain float32 buffers; optional ones are null.
struct RnnProblem {
  CellKind cell = CellKind::kRnn;
  int gates = 1;             // 1 (RNN), 3 (GRU: z r h), 4 (LSTM: i o f c)
  int64_t seq = 0, batch = 0, input = 0, hidden = 0;
  int directions = 1;
  bool reverse = false;      // one direction, processed from the end
  int layout = 0;            // 0: X [seq, batch, input]; 1: X [batch, seq, input]
  float clip = 0.0f;         // > 0: gate pre-activations clipped to [-clip, clip]
  bool input_forget = false;         // LSTM: f = 1 - i
  bool linear_before_reset = false;  // GRU
  std::vector<Activation> activations;  // per direction: RNN f; GRU f g; LSTM f g h
  std::vector<int32_t> seq_lens;        // per batch entry, each in [0, seq]

  const float* x = nullptr;   // [seq, batch, input] or [batch, seq, input]
  const float* w = nullptr;   // [directions, gates * hidden, input]
  const float* r = nullptr;   // [directions, gates * hidden, hidden]
  const float* b = nullptr;   // [directions, 2 * gates * hidden] (Wb then Rb)
  const float* p = nullptr;   // LSTM peepholes [directions, 3 * hidden] (i o f)
  const float* h0 = nullptr;  // [directions, batch, hidden] (layout 1: [batch, directions, hidden])
  const float* c0 = nullptr;  // LSTM, like h0
  float* y = nullptr;         // [seq, directions, batch, hidden] (layout 1: [batch, seq, dirs, hidden])
  float* y_h = nullptr;       // like h0
  float* y_c = nullptr;       // like h0
};

Status run_rnn(const KernelContext& ctx, const RnnProblem& p);

}  // namespace quench::rnn
