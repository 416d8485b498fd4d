// The recurrences of RNN, GRU and LSTM (ONNX equations, gate orders RNN: i; GRU: z r h;
// LSTM: i o f c). Per direction:
//   1. One GEMM projects the inputs of all time steps at once: XW = X * W^T + biases
//      ([seq * batch, gates * hidden], rows in X's own order, so layout 1 needs no transpose).
//   2. Per time step: gates = XW[t] + H_{t-1} * R^T (one GEMM over the batch), then the
//      element-wise cell update. Batch entries whose sequence has ended keep their state and
//      write nothing (Y stays 0 there); a reverse direction starts at each entry's own last step.
// GEMMs are oneDNN's sgemm (row-major, threaded with the OpenMP pool of core/parallel.h).
#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/parallel.h"
#include "runtime/kernels/rnn_common.h"

namespace quench::rnn {

namespace {

// C[m, n] = A[m, k] * B[n, k]^T + beta * C, row-major.
Status gemm_nt(const KernelContext& ctx, int64_t m, int64_t n, int64_t k, const float* a,
               int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0) return Status();
  if (k == 0) {
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] *= beta;
    }
    return Status();
  }
  if (dnnl_sgemm('N', 'T', m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc) != dnnl_success) {
    return Status::internal(ctx.node().label() + ": oneDNN sgemm failed (" + std::to_string(m) +
                            "x" + std::to_string(n) + "x" + std::to_string(k) + ")");
  }
  return Status();
}

inline float clip_value(float v, float clip) {
  return clip > 0.0f ? std::clamp(v, -clip, clip) : v;
}

// Element offsets of the per-direction state tensors (h0, c0, Y_h, Y_c) and of Y.
struct Offsets {
  const RnnProblem& p;
  int64_t state(int d, int64_t b) const {
    return (p.layout == 0 ? (d * p.batch + b) : (b * p.directions + d)) * p.hidden;
  }
  int64_t y(int d, int64_t t, int64_t b) const {
    return p.layout == 0 ? ((t * p.directions + d) * p.batch + b) * p.hidden
                         : ((b * p.seq + t) * p.directions + d) * p.hidden;
  }
  int64_t x_row(int64_t t, int64_t b) const {
    return p.layout == 0 ? t * p.batch + b : b * p.seq + t;
  }
};

class DirectionRunner {
 public:
  DirectionRunner(const KernelContext& ctx, const RnnProblem& p, int d)
      : ctx_(ctx), p_(p), off_{p}, d_(d), gh_(p.gates * p.hidden) {
    reverse_ = p.directions == 2 ? d == 1 : p.reverse;
    const int per_dir = p.cell == CellKind::kLstm ? 3 : (p.cell == CellKind::kGru ? 2 : 1);
    act_ = p.activations.data() + d * per_dir;
    w_ = p.w + d * gh_ * p.input;
    r_ = p.r + d * gh_ * p.hidden;
    b_ = p.b ? p.b + d * 2 * gh_ : nullptr;
    peep_ = p.p ? p.p + d * 3 * p.hidden : nullptr;
  }

  Status run() {
    const int64_t H = p_.hidden, B = p_.batch;
    QUENCH_RETURN_IF_ERROR(project_inputs());
    h_.assign(static_cast<size_t>(B * H), 0.0f);
    c_.assign(h_.size(), 0.0f);
    for (int64_t b = 0; b < B; ++b) {
      if (p_.h0) std::memcpy(&h_[b * H], p_.h0 + off_.state(d_, b), H * sizeof(float));
      if (p_.c0) std::memcpy(&c_[b * H], p_.c0 + off_.state(d_, b), H * sizeof(float));
    }
    gates_.resize(static_cast<size_t>(B * gh_));
    h_new_.resize(h_.size());
    c_new_.resize(c_.size());
    if (p_.cell == CellKind::kGru) rh_.resize(static_cast<size_t>(B * (p_.linear_before_reset ? gh_ : H)));
    int64_t steps = 0;
    for (int32_t len : p_.seq_lens) steps = std::max<int64_t>(steps, len);
    std::vector<int64_t> t_of(static_cast<size_t>(B));
    for (int64_t s = 0; s < steps; ++s) {
      for (int64_t b = 0; b < B; ++b) {
        const int64_t len = p_.seq_lens[static_cast<size_t>(b)];
        const int64_t t = s >= len ? -1 : (reverse_ ? len - 1 - s : s);
        t_of[static_cast<size_t>(b)] = t;
        float* g = &gates_[b * gh_];
        if (t >= 0) std::memcpy(g, &xw_[off_.x_row(t, b) * gh_], gh_ * sizeof(float));
        else std::memset(g, 0, gh_ * sizeof(float));
      }
      switch (p_.cell) {
        case CellKind::kRnn: QUENCH_RETURN_IF_ERROR(step_rnn()); break;
        case CellKind::kGru: QUENCH_RETURN_IF_ERROR(step_gru()); break;
        case CellKind::kLstm: QUENCH_RETURN_IF_ERROR(step_lstm()); break;
      }
      for (int64_t b = 0; b < B; ++b) {
        const int64_t t = t_of[static_cast<size_t>(b)];
        if (t < 0) continue;
        std::memcpy(&h_[b * H], &h_new_[b * H], H * sizeof(float));
        if (p_.cell == CellKind::kLstm) std::memcpy(&c_[b * H], &c_new_[b * H], H * sizeof(float));
        if (p_.y) std::memcpy(p_.y + off_.y(d_, t, b), &h_new_[b * H], H * sizeof(float));
      }
    }
    for (int64_t b = 0; b < B; ++b) {
      // A sequence of length 0 has no last step: its Y_h / Y_c are 0, as in ONNX Runtime (not the
      // initial state).
      if (p_.seq_lens[static_cast<size_t>(b)] == 0) {
        std::fill_n(&h_[b * H], H, 0.0f);
        std::fill_n(&c_[b * H], H, 0.0f);
      }
      if (p_.y_h) std::memcpy(p_.y_h + off_.state(d_, b), &h_[b * H], H * sizeof(float));
      if (p_.y_c) std::memcpy(p_.y_c + off_.state(d_, b), &c_[b * H], H * sizeof(float));
    }
    return Status();
  }

 private:
  // XW = X * W^T + (Wb + Rb), except GRU's Rbh with linear_before_reset (it goes inside r * (...)).
  Status project_inputs() {
    const int64_t rows = p_.seq * p_.batch, H = p_.hidden;
    xw_.resize(static_cast<size_t>(rows * gh_));
    QUENCH_RETURN_IF_ERROR(
        gemm_nt(ctx_, rows, gh_, p_.input, p_.x, p_.input, w_, p_.input, 0.0f, xw_.data(), gh_));
    if (!b_) return Status();
    std::vector<float> bias(static_cast<size_t>(gh_));
    for (int64_t j = 0; j < gh_; ++j) {
      const bool skip_rb = p_.cell == CellKind::kGru && p_.linear_before_reset && j >= 2 * H;
      bias[static_cast<size_t>(j)] = b_[j] + (skip_rb ? 0.0f : b_[gh_ + j]);
    }
    parallel_for(rows, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        float* row = &xw_[i * gh_];
        for (int64_t j = 0; j < gh_; ++j) row[j] += bias[static_cast<size_t>(j)];
      }
    }, std::max<int64_t>(1, 8192 / std::max<int64_t>(gh_, 1)));
    return Status();
  }

  // Runs fn(b) for every batch entry, in parallel when the rows are wide enough.
  template <class F>
  void for_batch(F&& fn) {
    const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(gh_, 1));
    parallel_for(p_.batch, [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b) fn(b);
    }, grain);
  }

  Status step_rnn() {
    const int64_t H = p_.hidden;
    QUENCH_RETURN_IF_ERROR(gemm_nt(ctx_, p_.batch, H, H, h_.data(), H, r_, H, 1.0f, gates_.data(), H));
    const Activation& f = act_[0];
    const float clip = p_.clip;
    for_batch([&](int64_t b) {
      const float* g = &gates_[b * H];
      float* hn = &h_new_[b * H];
      for (int64_t j = 0; j < H; ++j) hn[j] = clip_value(g[j], clip);
      f.apply(hn, H);
    });
    return Status();
  }

  Status step_gru() {
    const int64_t H = p_.hidden, B = p_.batch;
    const Activation& f = act_[0];
    const Activation& g_act = act_[1];
    const float clip = p_.clip;
    if (p_.linear_before_reset) {
      // rh = H_{t-1} * R^T for all three gates; z and r use it directly, h uses r * (rh + Rbh).
      QUENCH_RETURN_IF_ERROR(gemm_nt(ctx_, B, gh_, H, h_.data(), H, r_, H, 0.0f, rh_.data(), gh_));
      const float* rbh = b_ ? b_ + gh_ + 2 * H : nullptr;
      for_batch([&](int64_t b) {
        float* g = &gates_[b * gh_];
        const float* rh = &rh_[b * gh_];
        const float* hp = &h_[b * H];
        float* hn = &h_new_[b * H];
        for (int64_t j = 0; j < 2 * H; ++j) g[j] = clip_value(g[j] + rh[j], clip);
        f.apply(g, 2 * H);  // z, r
        for (int64_t j = 0; j < H; ++j) {
          const float r = g[H + j];
          const float lin = rh[2 * H + j] + (rbh ? rbh[j] : 0.0f);
          const float ht = g_act(clip_value(g[2 * H + j] + r * lin, clip));
          const float z = g[j];
          hn[j] = (1.0f - z) * ht + z * hp[j];
        }
      });
      return Status();
    }
    // z and r first, then (r * H_{t-1}) * Rh^T for the candidate.
    QUENCH_RETURN_IF_ERROR(gemm_nt(ctx_, B, 2 * H, H, h_.data(), H, r_, H, 1.0f, gates_.data(), gh_));
    for_batch([&](int64_t b) {
      float* g = &gates_[b * gh_];
      const float* hp = &h_[b * H];
      float* rh = &rh_[b * H];
      for (int64_t j = 0; j < 2 * H; ++j) g[j] = clip_value(g[j], clip);
      f.apply(g, 2 * H);
      for (int64_t j = 0; j < H; ++j) rh[j] = g[H + j] * hp[j];
    });
    QUENCH_RETURN_IF_ERROR(gemm_nt(ctx_, B, H, H, rh_.data(), H, r_ + 2 * H * H, H, 1.0f,
                                   gates_.data() + 2 * H, gh_));
    for_batch([&](int64_t b) {
      float* g = &gates_[b * gh_];
      const float* hp = &h_[b * H];
      float* hn = &h_new_[b * H];
      for (int64_t j = 0; j < H; ++j) {
        const float ht = g_act(clip_value(g[2 * H + j], clip));
        const float z = g[j];
        hn[j] = (1.0f - z) * ht + z * hp[j];
      }
    });
    return Status();
  }

  Status step_lstm() {
    const int64_t H = p_.hidden;
    QUENCH_RETURN_IF_ERROR(gemm_nt(ctx_, p_.batch, gh_, H, h_.data(), H, r_, H, 1.0f, gates_.data(), gh_));
    const Activation& f = act_[0];
    const Activation& g_act = act_[1];
    const Activation& h_act = act_[2];
    const float clip = p_.clip;
    const float* pi = peep_;
    const float* po = peep_ ? peep_ + H : nullptr;
    const float* pf = peep_ ? peep_ + 2 * H : nullptr;
    const bool couple = p_.input_forget;
    for_batch([&](int64_t b) {
      float* g = &gates_[b * gh_];
      float* gi = g;
      float* go = g + H;
      float* gf = g + 2 * H;
      float* gc = g + 3 * H;
      const float* cp = &c_[b * H];
      float* cn = &c_new_[b * H];
      float* hn = &h_new_[b * H];
      for (int64_t j = 0; j < H; ++j) {
        float vi = gi[j], vf = gf[j];
        if (pi) {
          vi += pi[j] * cp[j];
          vf += pf[j] * cp[j];
        }
        gi[j] = clip_value(vi, clip);
        gf[j] = clip_value(vf, clip);
        gc[j] = clip_value(gc[j], clip);
      }
      f.apply(gi, H);
      if (couple) {
        for (int64_t j = 0; j < H; ++j) gf[j] = 1.0f - gi[j];
      } else {
        f.apply(gf, H);
      }
      g_act.apply(gc, H);
      for (int64_t j = 0; j < H; ++j) cn[j] = gf[j] * cp[j] + gi[j] * gc[j];
      for (int64_t j = 0; j < H; ++j) {
        float vo = go[j];
        if (po) vo += po[j] * cn[j];
        go[j] = clip_value(vo, clip);
      }
      f.apply(go, H);
      for (int64_t j = 0; j < H; ++j) hn[j] = cn[j];
      h_act.apply(hn, H);
      for (int64_t j = 0; j < H; ++j) hn[j] *= go[j];
    });
    return Status();
  }

  const KernelContext& ctx_;
  const RnnProblem& p_;
  Offsets off_;
  int d_;
  int64_t gh_;
  bool reverse_ = false;
  const Activation* act_ = nullptr;
  const float* w_ = nullptr;
  const float* r_ = nullptr;
  const float* b_ = nullptr;
  const float* peep_ = nullptr;
  std::vector<float> xw_, h_, c_, gates_, h_new_, c_new_, rh_;
};

}  // namespace

Status run_rnn(const KernelContext& ctx, const RnnProblem& p) {
  for (int d = 0; d < p.directions; ++d) {
    DirectionRunner runner(ctx, p, d);
    QUENCH_RETURN_IF_ERROR(runner.run());
  }
  return Status();
}

}  // namespace quench::rnn
