// ADMM weight quantization: the projection step of Leng et al., "Extremely Low Bit Neural Network:
// Squeeze the Last Bit Out with ADMM", AAAI 2018 (arXiv 1707.09870), as modelslim's keep_acc
// "admm" [enabled, iterations] applies it after training (SPEC C; modelslim's source is closed, so
// the internals below are quench's reading of the paper, not a copy of the tool).
//
// Leng et al. train with the constraint "W lies on a scaled grid" by ADMM: they split W = G with
// G constrained to C = {s * (q - z) : q integer in [qmin, qmax]}, and alternate
//   W <- argmin loss(W) + rho/2 ||W - G + U||^2      (proximal step, needs the training loss)
//   G <- Proj_C(W + U)                                (projection onto the scaled grid)
//   U <- U + W - G                                    (dual update)
// The projection has no closed form because the scale s is free; the paper solves it by
// alternating between the integer codes and the scale ("iterative quantization"). After training
// there is no loss to descend and W is fixed, so U stays 0 and ADMM reduces to that projection of
// the float weights: find s, z, Q minimising ||W - s (Q - z)||^2. quench runs it per scale (per
// output channel, per block, or per tensor, as the weight's spec says):
//   1. Start from the weight's current encoding (min-max for the observers modelslim uses);
//      E0 = ||W - fake_quant(W)||^2.
//   2. Q step: Q = clamp(round(W / s) + z, qmin, qmax) with the spec's round mode (for fixed s, z
//      the nearest grid point is the exact minimiser, element by element).
//   3. Scale step, the least-squares fit for fixed Q:
//      symmetric (z fixed): s = <W, Q - z> / ||Q - z||^2;
//      asymmetric: the line W ~ a Q + b (a = cov(W, Q) / var(Q), b = mean(W) - a mean(Q)) gives
//      s = a, z = -b / a; z is rounded to an integer on the grid (the encoding stores integers)
//      and s refitted for that z. Power-of-two scales are rounded to the nearest power of two in
//      log2.
//   4. E = ||W - fake_quant(W; s, z)||^2; accept the step if E < best, otherwise stop (the error
//      rose, possible with the rounded zero point or scale, or the codes reached a fixed point).
//   5. Repeat 2-4 at most `iterations` times; keep the best (s, z). For symmetric float scales
//      steps 2 and 3 are exact minimisers each, so E never rises: the loop ends at a fixed point.
#include "algo/admm.h"

#include <algorithm>
#include <cmath>

#include "core/parallel.h"
#include "quant/quantize.h"

namespace quench {

namespace {

struct Grid {
  float lo, hi;
  RoundMode mode;
};

float code(float w, float s, float z, const Grid& g) {
  float r = round_value(w / s, g.mode) + z;
  return std::clamp(r, g.lo, g.hi);
}

double sse(const float* w, int64_t n, float s, int32_t zp, const Grid& g) {
  const float z = static_cast<float>(zp);
  double e = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = double(w[i]) - double((code(w[i], s, z, g) - z) * s);
    e += d * d;
  }
  return e;
}

// Least-squares scale for fixed codes q and zero point z; 0 when undefined.
float ls_scale(const float* w, const float* q, int64_t n, float z) {
  double num = 0.0, den = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double c = double(q[i]) - z;
    num += double(w[i]) * c;
    den += c * c;
  }
  return den > 0.0 ? static_cast<float>(num / den) : 0.0f;
}

// Parameter index of every element of a tensor of `shape` under the encoding's granularity.
std::vector<int64_t> param_index(const Shape& shape, const QuantSpec& spec) {
  const int64_t numel = shape_numel(shape);
  std::vector<int64_t> idx(static_cast<size_t>(numel), 0);
  if (spec.granularity == Granularity::kPerTensor) return idx;
  const int rank = static_cast<int>(shape.size());
  const int axis = spec.axis < 0 ? spec.axis + rank : spec.axis;
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= shape[static_cast<size_t>(i)];
  for (int i = axis + 1; i < rank; ++i) inner *= shape[static_cast<size_t>(i)];
  const int64_t dim = shape[static_cast<size_t>(axis)];
  const bool blocked = spec.granularity == Granularity::kPerBlock;
  const int64_t block = blocked ? spec.block_size : 1;
  const int64_t nblocks = (dim + block - 1) / block;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t d = 0; d < dim; ++d)
      for (int64_t i = 0; i < inner; ++i)
        idx[static_cast<size_t>((o * dim + d) * inner + i)] =
            blocked ? (o * nblocks + d / block) * inner + i : d;
  return idx;
}

}  // namespace

AdmmFit admm_fit(const float* w, int64_t n, float scale, int32_t zero_point, const QuantSpec& spec,
                 int iterations) {
  const Grid g{static_cast<float>(spec.qmin()), static_cast<float>(spec.qmax()), spec.round_mode};
  AdmmFit fit;
  fit.scale = scale;
  fit.zero_point = zero_point;
  fit.sse_before = fit.sse_after = sse(w, n, scale, zero_point, g);
  if (n == 0) return fit;
  std::vector<float> q(static_cast<size_t>(n));
  for (int step = 0; step < iterations; ++step) {
    const float s = fit.scale, z = static_cast<float>(fit.zero_point);
    for (int64_t i = 0; i < n; ++i) q[static_cast<size_t>(i)] = code(w[i], s, z, g);
    float s2 = 0.0f;
    int32_t z2 = fit.zero_point;
    if (spec.symmetric) {
      s2 = ls_scale(w, q.data(), n, z);
    } else {
      double mq = 0.0, mw = 0.0;
      for (int64_t i = 0; i < n; ++i) {
        mq += q[static_cast<size_t>(i)];
        mw += w[i];
      }
      mq /= double(n);
      mw /= double(n);
      double cov = 0.0, var = 0.0;
      for (int64_t i = 0; i < n; ++i) {
        const double dq = q[static_cast<size_t>(i)] - mq;
        cov += dq * (double(w[i]) - mw);
        var += dq * dq;
      }
      if (!(var > 0.0) || !(cov > 0.0)) break;  // every value on one code: nothing to fit
      const double a = cov / var, b = mw - a * mq;
      const double zr = std::nearbyint(-b / a);
      z2 = static_cast<int32_t>(std::clamp(zr, double(g.lo), double(g.hi)));
      s2 = ls_scale(w, q.data(), n, static_cast<float>(z2));
    }
    if (!(s2 > 0.0f) || !std::isfinite(s2)) break;
    if (spec.scale_type == ScaleType::kPowerOfTwo)
      s2 = static_cast<float>(std::ldexp(1.0, static_cast<int>(std::nearbyint(std::log2(s2)))));
    const double e = sse(w, n, s2, z2, g);
    if (!(e < fit.sse_after)) break;
    fit.scale = s2;
    fit.zero_point = z2;
    fit.sse_after = e;
    ++fit.steps;
  }
  return fit;
}

Result<AdmmReport> admm_weights(QuantSim& sim, const AdmmOptions& options) {
  if (options.iterations < 1)
    return Status::invalid("admm: iterations must be >= 1 (got " +
                           std::to_string(options.iterations) + ")");
  auto warn = [&](const std::string& m) {
    if (options.warn) options.warn(m);
  };
  // Copies: set_encoding updates the points as the loop goes.
  std::vector<QuantPoint> weights;
  for (const QuantPoint& p : sim.points())
    if (p.kind == TensorKind::kWeight && p.enabled && p.encoding) weights.push_back(p);
  AdmmReport report;
  int64_t done = 0;
  for (const QuantPoint& p : weights) {
    const Encoding& start = *p.encoding;
    const Value* v = sim.sim_model().graph->find_value(p.value);
    if (!start.spec.is_int()) {
      warn("admm: weight '" + p.value + "' of " + p.node + " is " +
           number_format_name(start.spec.format) + ", not an integer grid: left as it is");
      continue;
    }
    if (!v || !v->is_constant() || v->constant.dtype() != DType::kFloat32 ||
        !v->constant.is_plain()) {
      warn("admm: weight '" + p.value + "' of " + p.node + " is not a float32 constant: skipped");
      continue;
    }
    const Tensor& w = v->constant;
    const std::vector<int64_t> idx = param_index(w.shape(), start.spec);
    const int64_t np = start.num_params();
    // Each parameter's values, contiguous, so that the fits run independently.
    std::vector<std::vector<float>> groups(static_cast<size_t>(np));
    const float* x = w.data<float>();
    for (int64_t i = 0; i < w.numel(); ++i) {
      const int64_t k = idx[static_cast<size_t>(i)];
      if (k < 0 || k >= np)
        return Status::internal("admm: weight '" + p.value + "': element " + std::to_string(i) +
                                " maps to parameter " + std::to_string(k) + " of " +
                                std::to_string(np));
      groups[static_cast<size_t>(k)].push_back(x[i]);
    }
    std::vector<AdmmFit> fits(static_cast<size_t>(np));
    parallel_for(np, [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) {
        const auto& gk = groups[static_cast<size_t>(k)];
        fits[static_cast<size_t>(k)] = admm_fit(
            gk.data(), static_cast<int64_t>(gk.size()), start.scale[static_cast<size_t>(k)],
            start.zero_point[static_cast<size_t>(k)], start.spec, options.iterations);
      }
    });
    Encoding enc = start;
    AdmmLayer layer{p.node, p.value, np, 0.0, 0.0, 0};
    for (int64_t k = 0; k < np; ++k) {
      const AdmmFit& f = fits[static_cast<size_t>(k)];
      enc.scale[static_cast<size_t>(k)] = f.scale;
      enc.zero_point[static_cast<size_t>(k)] = f.zero_point;
      if (!enc.fix_pos.empty()) enc.fix_pos[static_cast<size_t>(k)] = -std::ilogb(f.scale);
      layer.mse_before += f.sse_before;
      layer.mse_after += f.sse_after;
      layer.max_steps = std::max(layer.max_steps, f.steps);
    }
    if (enc.spec.scale_type == ScaleType::kPowerOfTwo && enc.fix_pos.empty()) {
      enc.fix_pos.resize(enc.scale.size());
      for (size_t k = 0; k < enc.scale.size(); ++k) enc.fix_pos[k] = -std::ilogb(enc.scale[k]);
    }
    const double numel = static_cast<double>(std::max<int64_t>(w.numel(), 1));
    layer.mse_before /= numel;
    layer.mse_after /= numel;
    QUENCH_RETURN_IF_ERROR(sim.set_encoding(p.value, enc).with_context("admm"));
    report.layers.push_back(std::move(layer));
    if (options.progress) options.progress(++done, static_cast<int64_t>(weights.size()));
  }
  return report;
}

}  // namespace quench
