#include "runtime/registry.h"

namespace quench {

const std::vector<KernelDef>& kernel_registry() {
  static const std::vector<KernelDef> table = [] {
    std::vector<KernelDef> all;
    for (std::span<const KernelDef> family :
         {elementwise_kernels(), unary_kernels(), reduce_kernels(), softmax_kernels(),
          normalization_kernels(), shape_kernels(), resize_kernels(), conv_kernels(),
          gemm_kernels(), pool_kernels(), quant_kernels(), rnn_kernels()}) {
      all.insert(all.end(), family.begin(), family.end());
    }
    return all;
  }();
  return table;
}

static bool same_domain(std::string_view a, std::string_view b) {
  auto norm = [](std::string_view d) { return d == "ai.onnx" ? std::string_view() : d; };
  return norm(a) == norm(b);
}

std::vector<const KernelDef*> find_kernels(std::string_view domain, std::string_view op_type,
                                           int64_t opset) {
  std::vector<const KernelDef*> out;
  for (const KernelDef& k : kernel_registry()) {
    if (op_type == k.op_type && same_domain(domain, k.domain) && opset >= k.since_version &&
        opset <= k.end_version) {
      out.push_back(&k);
    }
  }
  return out;
}

const KernelDef* find_kernel(std::string_view domain, std::string_view op_type, int64_t opset,
                             DType dtype) {
  const KernelDef* any = nullptr;
  for (const KernelDef* k : find_kernels(domain, op_type, opset)) {
    if (k->dtype == dtype) return k;
    if (k->dtype == DType::kUndefined && !any) any = k;
  }
  return any;
}

}  // namespace quench
