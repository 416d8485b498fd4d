// Pooling: attribute resolution and the reference loops. See pool_ref.h.
#include "runtime/kernels/pool_ref.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/parallel.h"

namespace quench {

namespace {

Result<Shape> ints_attr(const Node& node, const char* name, size_t count, int64_t dflt,
                        int64_t min_value) {
  Shape v = node.attr_ints(name, Shape(count, dflt));
  if (v.size() != count) {
    return Status::invalid(node.label() + ": attribute " + name + " " + shape_to_string(v) +
                           " must have " + std::to_string(count) + " values (got " +
                           std::to_string(v.size()) + ")");
  }
  for (int64_t x : v) {
    if (x < min_value) {
      return Status::invalid(node.label() + ": attribute " + name + " " + shape_to_string(v) +
                             " must be >= " + std::to_string(min_value));
    }
  }
  return v;
}

// LpPool-1 has a float p; later versions an int.
float lp_p(const Node& node) {
  const Attribute* a = node.attr("p");
  if (a && a->type == AttrType::kFloat) return a->f;
  return static_cast<float>(node.attr_int("p", 2));
}

Status check_rank(const Node& node, const Shape& x) {
  if (x.size() < 3) {
    return Status::invalid(node.label() + ": X " + shape_to_string(x) +
                           " must have rank >= 3 (N, C, spatial...)");
  }
  return Status();
}

}  // namespace

Shape PoolGeometry::src_shape() const {
  Shape s{batch, channels};
  s.insert(s.end(), src_spatial.begin(), src_spatial.end());
  return s;
}

Shape PoolGeometry::dst_shape() const {
  Shape s{batch, channels};
  s.insert(s.end(), dst_spatial.begin(), dst_spatial.end());
  return s;
}

Result<PoolGeometry> pool_geometry(const Node& node, PoolKind kind, const Shape& x) {
  QUENCH_RETURN_IF_ERROR(check_rank(node, x));
  PoolGeometry g;
  g.kind = kind;
  g.batch = x[0];
  g.channels = x[1];
  g.src_spatial.assign(x.begin() + 2, x.end());
  const size_t k = g.src_spatial.size();
  if (!node.has_attr("kernel_shape")) {
    return Status::invalid(node.label() + ": attribute kernel_shape is required");
  }
  QUENCH_ASSIGN_OR_RETURN(g.kernel, ints_attr(node, "kernel_shape", k, 1, 1));
  QUENCH_ASSIGN_OR_RETURN(g.strides, ints_attr(node, "strides", k, 1, 1));
  QUENCH_ASSIGN_OR_RETURN(g.dilations, ints_attr(node, "dilations", k, 1, 1));
  QUENCH_ASSIGN_OR_RETURN(Shape pads, ints_attr(node, "pads", 2 * k, 0, 0));
  g.pads_begin.assign(pads.begin(), pads.begin() + static_cast<long>(k));
  g.pads_end.assign(pads.begin() + static_cast<long>(k), pads.end());
  g.count_include_pad = node.attr_int("count_include_pad", 0) != 0;
  g.storage_order = node.attr_int("storage_order", 0);
  g.p = lp_p(node);
  const bool ceil_mode = node.attr_int("ceil_mode", 0) != 0;
  const std::string auto_pad = node.attr_string("auto_pad", "NOTSET");
  if (auto_pad != "NOTSET" && auto_pad != "SAME_UPPER" && auto_pad != "SAME_LOWER" &&
      auto_pad != "VALID") {
    return Status::invalid(node.label() + ": auto_pad \"" + auto_pad +
                           "\" must be NOTSET, SAME_UPPER, SAME_LOWER or VALID");
  }
  g.dst_spatial.resize(k);
  g.pads_end_ceil.resize(k);
  for (size_t i = 0; i < k; ++i) {
    const int64_t in = g.src_spatial[i], s = g.strides[i];
    const int64_t ek = (g.kernel[i] - 1) * g.dilations[i] + 1;
    int64_t out = 0;
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      out = (in + s - 1) / s;
      const int64_t total = std::max<int64_t>(0, (out - 1) * s + ek - in);
      g.pads_begin[i] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      g.pads_end[i] = total - g.pads_begin[i];
    } else {
      if (auto_pad == "VALID") g.pads_begin[i] = g.pads_end[i] = 0;
      const int64_t span = in + g.pads_begin[i] + g.pads_end[i] - ek;
      if (span < 0) {
        return Status::invalid(node.label() + ": kernel extent " + std::to_string(ek) +
                               " (kernel " + std::to_string(g.kernel[i]) + ", dilation " +
                               std::to_string(g.dilations[i]) + ") is larger than the padded input " +
                               std::to_string(span + ek) + " on spatial axis " + std::to_string(i) +
                               " of X " + shape_to_string(x));
      }
      out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
      // A window may not start in the end padding (ONNX Runtime and PyTorch drop it).
      if (ceil_mode && (out - 1) * s >= in + g.pads_begin[i]) --out;
    }
    g.dst_spatial[i] = out;
    g.pads_end_ceil[i] =
        std::max(g.pads_end[i], (out - 1) * s + ek - in - g.pads_begin[i]);
  }
  return g;
}

Result<PoolGeometry> global_pool_geometry(const Node& node, PoolKind kind, const Shape& x) {
  QUENCH_RETURN_IF_ERROR(check_rank(node, x));
  PoolGeometry g;
  g.kind = kind;
  g.batch = x[0];
  g.channels = x[1];
  g.src_spatial.assign(x.begin() + 2, x.end());
  const size_t k = g.src_spatial.size();
  for (int64_t d : g.src_spatial) {
    if (d < 1) {
      return Status::invalid(node.label() + ": X " + shape_to_string(x) +
                             " has an empty spatial axis");
    }
  }
  g.kernel = g.src_spatial;
  g.strides.assign(k, 1);
  g.dilations.assign(k, 1);
  g.pads_begin.assign(k, 0);
  g.pads_end.assign(k, 0);
  g.pads_end_ceil.assign(k, 0);
  g.dst_spatial.assign(k, 1);
  g.p = lp_p(node);
  return g;
}

template <class T>
void pool_ref(const PoolGeometry& g, const T* x, T* y, int64_t* indices) {
  const int k = g.spatial_rank();
  const int64_t src_plane = shape_numel(g.src_spatial), dst_plane = shape_numel(g.dst_spatial);
  const int64_t window = shape_numel(g.kernel);
  parallel_for(g.batch * g.channels, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> o(static_cast<size_t>(k)), kk(static_cast<size_t>(k));
    for (int64_t nc = begin; nc < end; ++nc) {
      const T* xc = x + nc * src_plane;
      for (int64_t oi = 0; oi < dst_plane; ++oi) {
        for (int64_t r = oi, i = k; i-- > 0;) {
          o[i] = r % g.dst_spatial[i];
          r /= g.dst_spatial[i];
        }
        T best = std::numeric_limits<T>::lowest();
        int64_t best_index = -1;
        double sum = 0.0;
        int64_t valid = 0, counted = 0;
        for (int64_t ki = 0; ki < window; ++ki) {
          for (int64_t r = ki, i = k; i-- > 0;) {
            kk[i] = r % g.kernel[i];
            r /= g.kernel[i];
          }
          int64_t offset = 0, col_major = 0, col_stride = 1;
          bool inside = true, in_declared_pad = true;
          for (int i = 0; i < k; ++i) {
            const int64_t pos = o[i] * g.strides[i] - g.pads_begin[i] + kk[i] * g.dilations[i];
            if (pos < 0 || pos >= g.src_spatial[i]) inside = false;
            if (pos >= g.src_spatial[i] + g.pads_end[i]) in_declared_pad = false;
            offset = offset * g.src_spatial[i] + pos;
          }
          if (in_declared_pad) ++counted;
          if (!inside) continue;
          ++valid;
          const T v = xc[offset];
          if (g.kind == PoolKind::kMax) {
            if (v > best || best_index < 0) {
              best = v;
              best_index = offset;
              if (indices && g.storage_order == 1) {
                for (int i = 0; i < k; ++i) {
                  const int64_t pos = o[i] * g.strides[i] - g.pads_begin[i] + kk[i] * g.dilations[i];
                  col_major += pos * col_stride;
                  col_stride *= g.src_spatial[i];
                }
                best_index = col_major;
              }
            }
          } else if (g.kind == PoolKind::kAverage) {
            sum += v;
          } else {
            sum += std::pow(std::fabs(static_cast<double>(v)), static_cast<double>(g.p));
          }
        }
        T out = T{};
        if (g.kind == PoolKind::kMax) {
          out = best;
          if (indices) indices[nc * dst_plane + oi] = nc * src_plane + std::max<int64_t>(best_index, 0);
        } else if (g.kind == PoolKind::kAverage) {
          const int64_t div = g.count_include_pad ? counted : valid;
          out = div > 0 ? static_cast<T>(sum / static_cast<double>(div)) : T{};
        } else {
          out = static_cast<T>(std::pow(sum, 1.0 / static_cast<double>(g.p)));
        }
        y[nc * dst_plane + oi] = out;
      }
    }
  });
}

template void pool_ref<float>(const PoolGeometry&, const float*, float*, int64_t*);
template void pool_ref<int8_t>(const PoolGeometry&, const int8_t*, int8_t*, int64_t*);
template void pool_ref<uint8_t>(const PoolGeometry&, const uint8_t*, uint8_t*, int64_t*);

}  // namespace quench
