// Helpers for the math-kernel tests: run an op through the executor and directly through its
// registry kernel with inputs marked as dying (in-place), plus scalar reference computations.
//
//   Tensor y = run_both({"Add"}, {a, b});   // executor result, after checking the in-place run
//   EXPECT_TRUE(tensors_near(y, ref_binary(a, b, [](double x, double y) { return x + y; }), 1e-6));
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/dispatch.h"
#include "runtime/kernel.h"
#include "runtime/kernels/kernel_util.h"
#include "runtime/registry.h"
#include "testutil.h"

namespace quench::testing {

// Runs the registry kernel for spec directly, inputs[i] marked reusable where reuse[i] (the kernel
// may then write into that input's buffer). When no row matches the input's element type the op's
// first row is used (to test a kernel's own type checks); fails when the op has no row at all.
inline Result<std::vector<Tensor>> run_kernel_direct(const OpSpec& spec,
                                                     const std::vector<Tensor>& inputs,
                                                     const std::vector<bool>& reuse) {
  std::shared_ptr<Model> model = single_op_model(spec, inputs);
  Node* node = model->graph->nodes().at(0);
  int type_input = 0;
  const KernelDef* def = nullptr;
  for (const KernelDef* k : find_kernels(spec.domain, spec.op_type, spec.opset)) {
    const Tensor& t = inputs.at(static_cast<size_t>(k->type_input));
    if (k->dtype == t.dtype() || (k->dtype == DType::kUndefined && !def)) {
      def = k;
      type_input = k->type_input;
      if (k->dtype == t.dtype()) break;
    }
  }
  (void)type_input;
  // No row for this element type: take the op's first row anyway, so that tests can check the
  // kernel's own type validation.
  if (!def && !find_kernels(spec.domain, spec.op_type, spec.opset).empty()) {
    def = find_kernels(spec.domain, spec.op_type, spec.opset).front();
  }
  if (!def) return Status::unsupported("no kernel for " + spec.op_type);
  KernelInfo info{*node, spec.opset, std::vector<const Tensor*>(inputs.size(), nullptr)};
  QUENCH_ASSIGN_OR_RETURN(std::unique_ptr<OpKernel> kernel, def->create(info));
  std::vector<const Tensor*> ptrs;
  for (const Tensor& t : inputs) ptrs.push_back(t.defined() ? &t : nullptr);
  std::vector<Tensor> outputs(static_cast<size_t>(spec.num_outputs));
  std::vector<bool> reusable(inputs.size(), false);
  for (size_t i = 0; i < reuse.size() && i < inputs.size(); ++i) reusable[i] = reuse[i];
  KernelContext ctx(*node, ptrs, outputs, reusable, false);
  QUENCH_RETURN_IF_ERROR(kernel->compute(ctx));
  return outputs;
}

// Runs spec through the executor, and again directly with every input a dying private copy (so
// element-wise kernels compute in place); expects both runs to agree exactly. Returns output `out`
// of the executor run (an undefined tensor after a test failure).
inline Tensor run_both(const OpSpec& spec, const std::vector<Tensor>& inputs, size_t out = 0,
                       int num_threads = 0) {
  ExecutorOptions options;
  options.num_threads = num_threads;
  Result<std::vector<Tensor>> r = run_op(spec, inputs, {}, options);
  EXPECT_TRUE(r.ok()) << spec.op_type << ": " << r.status().message();
  if (!r.ok()) return Tensor();
  std::vector<Tensor> copies;
  for (const Tensor& t : inputs) copies.push_back(t.defined() ? t.clone() : Tensor());
  Result<std::vector<Tensor>> d = run_kernel_direct(spec, copies, std::vector<bool>(inputs.size(), true));
  EXPECT_TRUE(d.ok()) << spec.op_type << " (in place): " << d.status().message();
  if (d.ok()) {
    EXPECT_TRUE(tensors_near(d->at(out), r->at(out), 0.0)) << spec.op_type << " in place vs executor";
  }
  return r->at(out);
}

// The message of a failed run, "" when it succeeded.
inline std::string run_error(const OpSpec& spec, const std::vector<Tensor>& inputs) {
  Result<std::vector<Tensor>> r = run_op(spec, inputs);
  return r.ok() ? std::string() : r.status().message();
}

// A tensor of dtype with values from `values` (converted).
inline Tensor make_tensor(DType dtype, const Shape& shape, const std::vector<double>& values) {
  Tensor d = Tensor::from_vector<double>(shape, values);
  Tensor t = Tensor::empty(dtype, shape);
  Status s = convert_tensor(d, t);
  EXPECT_TRUE(s.ok()) << s.message();
  return t;
}

inline Tensor random_of(DType dtype, const Shape& shape, double lo, double hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<double> v(static_cast<size_t>(shape_numel(shape)));
  if (dtype_is_float(dtype)) {
    std::uniform_real_distribution<double> dist(lo, hi);
    for (double& x : v) x = dist(rng);
  } else {
    std::uniform_int_distribution<int64_t> dist(static_cast<int64_t>(lo), static_cast<int64_t>(hi));
    for (double& x : v) x = static_cast<double>(dist(rng));
  }
  return make_tensor(dtype, shape, v);
}

// Reference numpy-broadcast of any number of inputs, element function on doubles.
inline Tensor ref_nary(const std::vector<Tensor>& ins, DType out_dtype,
                       const std::function<double(const std::vector<double>&)>& f) {
  size_t rank = 0;
  for (const Tensor& t : ins) rank = std::max(rank, t.shape().size());
  Shape out(rank, 1);
  for (const Tensor& t : ins) {
    for (size_t i = 0; i < t.shape().size(); ++i) {
      int64_t d = t.shape()[i];
      int64_t& o = out[rank - t.shape().size() + i];
      if (d != 1) o = d;
    }
  }
  std::vector<std::vector<double>> vals;
  std::vector<std::vector<int64_t>> strides;
  for (const Tensor& t : ins) {
    vals.push_back(t.to_double_vector());
    strides.push_back(broadcast_strides(t.shape(), out));
  }
  const int64_t n = shape_numel(out);
  std::vector<double> res(static_cast<size_t>(n));
  std::vector<double> args(ins.size());
  for (int64_t i = 0; i < n; ++i) {
    int64_t rem = i;
    std::vector<int64_t> coord(rank);
    for (size_t d = rank; d-- > 0;) {
      coord[d] = rem % out[d];
      rem /= out[d];
    }
    for (size_t k = 0; k < ins.size(); ++k) {
      int64_t off = 0;
      for (size_t d = 0; d < rank; ++d) off += coord[d] * strides[k][d];
      args[k] = vals[k][static_cast<size_t>(off)];
    }
    res[static_cast<size_t>(i)] = f(args);
  }
  return make_tensor(out_dtype, out, res);
}

inline Tensor ref_binary(const Tensor& a, const Tensor& b, const std::function<double(double, double)>& f,
                         DType out_dtype = DType::kUndefined) {
  return ref_nary({a, b}, out_dtype == DType::kUndefined ? a.dtype() : out_dtype,
                  [&](const std::vector<double>& v) { return f(v[0], v[1]); });
}

inline Tensor ref_unary(const Tensor& a, const std::function<double(double)>& f,
                        DType out_dtype = DType::kUndefined) {
  return ref_nary({a}, out_dtype == DType::kUndefined ? a.dtype() : out_dtype,
                  [&](const std::vector<double>& v) { return f(v[0]); });
}

inline Tensor int64_tensor(const Shape& shape, std::vector<int64_t> v) {
  return Tensor::from_vector<int64_t>(shape, v);
}

}  // namespace quench::testing
