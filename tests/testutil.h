// Shared test helpers: run one op through the real executor, random tensors, comparisons.
//
//   auto y = testing::run_op({"Relu"}, {x});                       // opset 17, one output
//   auto y = testing::run_op({"Conv", {testing::attr_ints("pads", {1,1,1,1})}}, {x, w},
//                            {false, true});                       // w as an initializer
//   testing::expect_tensor_near(y->at(0), expected, 1e-5);
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "ir/graph.h"
#include "runtime/executor.h"

namespace quench::testing {

struct OpSpec {
  std::string op_type;
  std::vector<Attribute> attrs = {};
  int64_t opset = 17;
  int num_outputs = 1;
  std::string domain = "";
};

Attribute attr_int(const std::string& name, int64_t v);
Attribute attr_float(const std::string& name, float v);
Attribute attr_string(const std::string& name, const std::string& v);
Attribute attr_ints(const std::string& name, std::vector<int64_t> v);
Attribute attr_floats(const std::string& name, std::vector<float> v);
Attribute attr_tensor(const std::string& name, Tensor t);

// A model with one node whose inputs are graph inputs (or initializers where as_initializer[i]),
// an undefined Tensor marks an omitted optional input.
std::shared_ptr<Model> single_op_model(const OpSpec& spec, const std::vector<Tensor>& inputs,
                                       const std::vector<bool>& as_initializer = {});
// Builds single_op_model and runs it through the executor.
Result<std::vector<Tensor>> run_op(const OpSpec& spec, const std::vector<Tensor>& inputs,
                                   const std::vector<bool>& as_initializer = {},
                                   ExecutorOptions options = {});

// Uniform random float32 tensor in [lo, hi), deterministic for a seed.
Tensor random_tensor(const Shape& shape, float lo = -1.0f, float hi = 1.0f, uint32_t seed = 1);

// Same dtype and shape, and |a - b| <= atol + rtol * |b| element-wise (NaN equals NaN).
::testing::AssertionResult tensors_near(const Tensor& a, const Tensor& b, double atol,
                                        double rtol = 0.0);
#define EXPECT_TENSOR_NEAR(a, b, atol) EXPECT_TRUE(::quench::testing::tensors_near(a, b, atol))

// A fresh, empty folder <system temp>/quench_<tag>_<pid>, removed with the object.
class TempDir {
 public:
  explicit TempDir(const std::string& tag);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  std::vector<std::string> listing() const;  // file names in it, sorted

 private:
  std::string path_;
};

// Path of a file in the source tree (models/, examples/, tests/data/ ...).
std::string source_path(const std::string& relative);

}  // namespace quench::testing
