// Conv / ConvTranspose: attribute resolution and the reference loops. See conv_ref.h.
#include "runtime/kernels/conv_ref.h"

#include <algorithm>
#include <array>

#include "core/parallel.h"

namespace quench {

namespace {

std::string ints_to_string(const std::vector<int64_t>& v) { return shape_to_string(v); }

// An ints attribute with one value per spatial axis (or 2 per axis for pads), or its default.
Result<Shape> spatial_attr(const Node& node, const char* name, size_t count, int64_t dflt,
                           int64_t min_value) {
  Shape v = node.attr_ints(name, Shape(count, dflt));
  if (v.size() != count) {
    return Status::invalid(node.label() + ": attribute " + name + " " + ints_to_string(v) +
                           " must have " + std::to_string(count) + " values (got " +
                           std::to_string(v.size()) + ")");
  }
  for (int64_t x : v) {
    if (x < min_value) {
      return Status::invalid(node.label() + ": attribute " + name + " " + ints_to_string(v) +
                             " must be >= " + std::to_string(min_value));
    }
  }
  return v;
}

// Attributes common to Conv and ConvTranspose; fills g.kernel/strides/dilations/pads and checks
// the kernel_shape attribute against W.
Status read_common(const Node& node, const Shape& x, const Shape& w, ConvGeometry& g,
                   std::string& auto_pad) {
  if (x.size() < 3) {
    return Status::invalid(node.label() + ": X " + shape_to_string(x) +
                           " must have rank >= 3 (N, C, spatial...)");
  }
  if (w.size() != x.size()) {
    return Status::invalid(node.label() + ": W " + shape_to_string(w) + " must have the rank of X " +
                           shape_to_string(x));
  }
  const size_t k = x.size() - 2;
  g.batch = x[0];
  g.in_channels = x[1];
  g.src_spatial.assign(x.begin() + 2, x.end());
  g.kernel.assign(w.begin() + 2, w.end());
  g.group = node.attr_int("group", 1);
  if (g.group < 1) {
    return Status::invalid(node.label() + ": group " + std::to_string(g.group) + " must be >= 1");
  }
  if (node.has_attr("kernel_shape")) {
    Shape ks = node.attr_ints("kernel_shape");
    if (ks != g.kernel) {
      return Status::invalid(node.label() + ": kernel_shape " + shape_to_string(ks) +
                             " does not match W " + shape_to_string(w));
    }
  }
  QUENCH_ASSIGN_OR_RETURN(g.strides, spatial_attr(node, "strides", k, 1, 1));
  QUENCH_ASSIGN_OR_RETURN(g.dilations, spatial_attr(node, "dilations", k, 1, 1));
  QUENCH_ASSIGN_OR_RETURN(Shape pads, spatial_attr(node, "pads", 2 * k, 0, 0));
  g.pads_begin.assign(pads.begin(), pads.begin() + static_cast<long>(k));
  g.pads_end.assign(pads.begin() + static_cast<long>(k), pads.end());
  auto_pad = node.attr_string("auto_pad", "NOTSET");
  if (auto_pad != "NOTSET" && auto_pad != "SAME_UPPER" && auto_pad != "SAME_LOWER" &&
      auto_pad != "VALID") {
    return Status::invalid(node.label() + ": auto_pad \"" + auto_pad +
                           "\" must be NOTSET, SAME_UPPER, SAME_LOWER or VALID");
  }
  return Status();
}

Status check_bias(const Node& node, const Shape* b, int64_t out_channels) {
  if (b && (b->size() != 1 || (*b)[0] != out_channels)) {
    return Status::invalid(node.label() + ": B " + shape_to_string(*b) + " must have shape [" +
                           std::to_string(out_channels) + "] (one value per output channel)");
  }
  return Status();
}

// Spatial sizes padded to 3 axes (leading 1s) for the reference loops.
struct Dims3 {
  std::array<int64_t, 3> src, dst, k, s, d, p;
};
Dims3 to_3d(const ConvGeometry& g) {
  Dims3 r;
  const int n = g.spatial_rank(), off = 3 - n;
  for (int i = 0; i < 3; ++i) {
    bool real = i >= off;
    int j = i - off;
    r.src[i] = real ? g.src_spatial[j] : 1;
    r.dst[i] = real ? g.dst_spatial[j] : 1;
    r.k[i] = real ? g.kernel[j] : 1;
    r.s[i] = real ? g.strides[j] : 1;
    r.d[i] = real ? g.dilations[j] : 1;
    r.p[i] = real ? g.pads_begin[j] : 0;
  }
  return r;
}

}  // namespace

Shape ConvGeometry::dst_shape() const {
  Shape s{batch, out_channels};
  s.insert(s.end(), dst_spatial.begin(), dst_spatial.end());
  return s;
}

int64_t ConvGeometry::kernel_extent(int i) const { return (kernel[i] - 1) * dilations[i] + 1; }

Result<ConvGeometry> conv_geometry(const Node& node, const Shape& x, const Shape& w, const Shape* b) {
  ConvGeometry g;
  std::string auto_pad;
  QUENCH_RETURN_IF_ERROR(read_common(node, x, w, g, auto_pad));
  g.out_channels = w[0];
  if (g.in_channels % g.group != 0) {
    return Status::invalid(node.label() + ": group " + std::to_string(g.group) +
                           " does not divide the " + std::to_string(g.in_channels) +
                           " input channels of X " + shape_to_string(x));
  }
  if (w[1] * g.group != g.in_channels) {
    return Status::invalid(node.label() + ": X " + shape_to_string(x) + " has " +
                           std::to_string(g.in_channels) + " channels but W " + shape_to_string(w) +
                           " expects W[1] * group = " + std::to_string(w[1]) + " * " +
                           std::to_string(g.group) + " = " + std::to_string(w[1] * g.group));
  }
  if (g.out_channels % g.group != 0) {
    return Status::invalid(node.label() + ": group " + std::to_string(g.group) +
                           " does not divide the " + std::to_string(g.out_channels) +
                           " output channels of W " + shape_to_string(w));
  }
  QUENCH_RETURN_IF_ERROR(check_bias(node, b, g.out_channels));
  const int k = g.spatial_rank();
  g.dst_spatial.resize(k);
  for (int i = 0; i < k; ++i) {
    const int64_t in = g.src_spatial[i], s = g.strides[i], ek = g.kernel_extent(i);
    if (auto_pad == "VALID") {
      g.pads_begin[i] = g.pads_end[i] = 0;
    } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      const int64_t out = (in + s - 1) / s;
      const int64_t total = std::max<int64_t>(0, (out - 1) * s + ek - in);
      // The odd pixel goes at the end for SAME_UPPER, at the beginning for SAME_LOWER.
      g.pads_begin[i] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      g.pads_end[i] = total - g.pads_begin[i];
    }
    const int64_t padded = in + g.pads_begin[i] + g.pads_end[i];
    if (ek > padded) {
      return Status::invalid(node.label() + ": kernel extent " + std::to_string(ek) + " (kernel " +
                             std::to_string(g.kernel[i]) + ", dilation " +
                             std::to_string(g.dilations[i]) + ") is larger than the padded input " +
                             std::to_string(padded) + " on spatial axis " + std::to_string(i) +
                             " of X " + shape_to_string(x));
    }
    g.dst_spatial[i] = (padded - ek) / s + 1;
  }
  return g;
}

Result<ConvGeometry> conv_transpose_geometry(const Node& node, const Shape& x, const Shape& w,
                                             const Shape* b) {
  ConvGeometry g;
  g.transpose = true;
  std::string auto_pad;
  QUENCH_RETURN_IF_ERROR(read_common(node, x, w, g, auto_pad));
  if (w[0] != g.in_channels) {
    return Status::invalid(node.label() + ": X " + shape_to_string(x) + " has " +
                           std::to_string(g.in_channels) + " channels but W " + shape_to_string(w) +
                           " has " + std::to_string(w[0]) + " (W dim 0 must equal X dim 1)");
  }
  if (g.in_channels % g.group != 0) {
    return Status::invalid(node.label() + ": group " + std::to_string(g.group) +
                           " does not divide the " + std::to_string(g.in_channels) +
                           " input channels of X " + shape_to_string(x));
  }
  g.out_channels = w[1] * g.group;
  QUENCH_RETURN_IF_ERROR(check_bias(node, b, g.out_channels));
  const int k = g.spatial_rank();
  QUENCH_ASSIGN_OR_RETURN(Shape out_pad, spatial_attr(node, "output_padding", k, 0, 0));
  Shape out_shape = node.attr_ints("output_shape");
  // output_shape may list the spatial sizes only or the full output shape.
  if (out_shape.size() == x.size()) out_shape.erase(out_shape.begin(), out_shape.begin() + 2);
  if (!out_shape.empty() && out_shape.size() != static_cast<size_t>(k)) {
    return Status::invalid(node.label() + ": output_shape " + shape_to_string(node.attr_ints("output_shape")) +
                           " must have " + std::to_string(k) + " spatial values");
  }
  g.dst_spatial.resize(k);
  for (int i = 0; i < k; ++i) {
    const int64_t in = g.src_spatial[i], s = g.strides[i], ek = g.kernel_extent(i);
    const int64_t full = s * (in - 1) + out_pad[i] + ek;  // output size with no padding
    const bool same = auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER";
    if (!out_shape.empty() || same) {
      const int64_t out = !out_shape.empty() ? out_shape[i] : in * s;
      const int64_t total = full - out;
      // ONNX: SAME_UPPER puts the odd pixel at the end, everything else at the beginning. An
      // output larger than the natural one (negative total) grows at the end, where only the
      // bias reaches (ONNX's convtranspose_output_shape case).
      if (total < 0) {
        g.pads_begin[i] = 0;
        g.pads_end[i] = total;
      } else if (auto_pad == "SAME_UPPER") {
        g.pads_begin[i] = total / 2;
        g.pads_end[i] = total - total / 2;
      } else {
        g.pads_begin[i] = total - total / 2;
        g.pads_end[i] = total / 2;
      }
    } else if (auto_pad == "VALID") {
      g.pads_begin[i] = g.pads_end[i] = 0;
    }
    g.dst_spatial[i] = full - g.pads_begin[i] - g.pads_end[i];
    if (g.dst_spatial[i] <= 0) {
      return Status::invalid(node.label() + ": output size " + std::to_string(g.dst_spatial[i]) +
                             " on spatial axis " + std::to_string(i) + " is not positive (X " +
                             shape_to_string(x) + ", W " + shape_to_string(w) + ", pads " +
                             std::to_string(g.pads_begin[i]) + " + " + std::to_string(g.pads_end[i]) +
                             ")");
    }
  }
  return g;
}

void conv_ref(const ConvGeometry& g, const float* x, const float* w, const float* b, float* y,
              const FusedActivation& act) {
  const Dims3 d = to_3d(g);
  const int64_t C = g.in_channels, M = g.out_channels, Cg = C / g.group, Mg = M / g.group;
  const int64_t src_plane = d.src[0] * d.src[1] * d.src[2];
  const int64_t dst_plane = d.dst[0] * d.dst[1] * d.dst[2];
  const int64_t ksize = d.k[0] * d.k[1] * d.k[2];
  parallel_for(g.batch * M, [&](int64_t begin, int64_t end) {
    for (int64_t nm = begin; nm < end; ++nm) {
      const int64_t n = nm / M, m = nm % M, grp = m / Mg;
      const float* wm = w + m * Cg * ksize;
      float* ym = y + nm * dst_plane;
      for (int64_t o0 = 0; o0 < d.dst[0]; ++o0)
        for (int64_t o1 = 0; o1 < d.dst[1]; ++o1)
          for (int64_t o2 = 0; o2 < d.dst[2]; ++o2) {
            float acc = b ? b[m] : 0.0f;
            for (int64_t c = 0; c < Cg; ++c) {
              const float* xc = x + (n * C + grp * Cg + c) * src_plane;
              const float* wc = wm + c * ksize;
              for (int64_t k0 = 0; k0 < d.k[0]; ++k0) {
                const int64_t i0 = o0 * d.s[0] - d.p[0] + k0 * d.d[0];
                if (i0 < 0 || i0 >= d.src[0]) continue;
                for (int64_t k1 = 0; k1 < d.k[1]; ++k1) {
                  const int64_t i1 = o1 * d.s[1] - d.p[1] + k1 * d.d[1];
                  if (i1 < 0 || i1 >= d.src[1]) continue;
                  for (int64_t k2 = 0; k2 < d.k[2]; ++k2) {
                    const int64_t i2 = o2 * d.s[2] - d.p[2] + k2 * d.d[2];
                    if (i2 < 0 || i2 >= d.src[2]) continue;
                    acc += xc[(i0 * d.src[1] + i1) * d.src[2] + i2] *
                           wc[(k0 * d.k[1] + k1) * d.k[2] + k2];
                  }
                }
              }
            }
            ym[(o0 * d.dst[1] + o1) * d.dst[2] + o2] = act.apply(acc);
          }
    }
  });
}

void conv_transpose_ref(const ConvGeometry& g, const float* x, const float* w, const float* b,
                        float* y, const FusedActivation& act) {
  const Dims3 d = to_3d(g);
  const int64_t C = g.in_channels, M = g.out_channels, Cg = C / g.group, Mg = M / g.group;
  const int64_t src_plane = d.src[0] * d.src[1] * d.src[2];
  const int64_t dst_plane = d.dst[0] * d.dst[1] * d.dst[2];
  const int64_t ksize = d.k[0] * d.k[1] * d.k[2];
  // Gather form: output o receives x[i] * w[k] for every i, k with i * stride - pad + k * dilation
  // == o, i.e. (o + pad - k * dilation) divisible by the stride.
  auto src_index = [](int64_t o, int64_t k, int64_t s, int64_t dil, int64_t p, int64_t n) {
    const int64_t t = o + p - k * dil;
    if (t < 0 || t % s != 0) return int64_t{-1};
    const int64_t i = t / s;
    return i < n ? i : int64_t{-1};
  };
  parallel_for(g.batch * M, [&](int64_t begin, int64_t end) {
    for (int64_t nm = begin; nm < end; ++nm) {
      const int64_t n = nm / M, m = nm % M, grp = m / Mg, mg = m % Mg;
      float* ym = y + nm * dst_plane;
      for (int64_t o0 = 0; o0 < d.dst[0]; ++o0)
        for (int64_t o1 = 0; o1 < d.dst[1]; ++o1)
          for (int64_t o2 = 0; o2 < d.dst[2]; ++o2) {
            float acc = b ? b[m] : 0.0f;
            for (int64_t c = 0; c < Cg; ++c) {
              const int64_t ic = grp * Cg + c;
              const float* xc = x + (n * C + ic) * src_plane;
              const float* wc = w + (ic * Mg + mg) * ksize;
              for (int64_t k0 = 0; k0 < d.k[0]; ++k0) {
                const int64_t i0 = src_index(o0, k0, d.s[0], d.d[0], d.p[0], d.src[0]);
                if (i0 < 0) continue;
                for (int64_t k1 = 0; k1 < d.k[1]; ++k1) {
                  const int64_t i1 = src_index(o1, k1, d.s[1], d.d[1], d.p[1], d.src[1]);
                  if (i1 < 0) continue;
                  for (int64_t k2 = 0; k2 < d.k[2]; ++k2) {
                    const int64_t i2 = src_index(o2, k2, d.s[2], d.d[2], d.p[2], d.src[2]);
                    if (i2 < 0) continue;
                    acc += xc[(i0 * d.src[1] + i1) * d.src[2] + i2] *
                           wc[(k0 * d.k[1] + k1) * d.k[2] + k2];
                  }
                }
              }
            }
            ym[(o0 * d.dst[1] + o1) * d.dst[2] + o2] = act.apply(acc);
          }
    }
  });
}

}  // namespace quench
