#include "testutil.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>

namespace quench::testing {

static Attribute make_attr(const std::string& name, AttrType type) {
  Attribute a;
  a.name = name;
  a.type = type;
  return a;
}
Attribute attr_int(const std::string& name, int64_t v) {
  Attribute a = make_attr(name, AttrType::kInt);
  a.i = v;
  return a;
}
Attribute attr_float(const std::string& name, float v) {
  Attribute a = make_attr(name, AttrType::kFloat);
  a.f = v;
  return a;
}
Attribute attr_string(const std::string& name, const std::string& v) {
  Attribute a = make_attr(name, AttrType::kString);
  a.s = v;
  return a;
}
Attribute attr_ints(const std::string& name, std::vector<int64_t> v) {
  Attribute a = make_attr(name, AttrType::kInts);
  a.ints = std::move(v);
  return a;
}
Attribute attr_floats(const std::string& name, std::vector<float> v) {
  Attribute a = make_attr(name, AttrType::kFloats);
  a.floats = std::move(v);
  return a;
}
Attribute attr_tensor(const std::string& name, Tensor t) {
  Attribute a = make_attr(name, AttrType::kTensor);
  a.t = std::move(t);
  return a;
}

std::shared_ptr<Model> single_op_model(const OpSpec& spec, const std::vector<Tensor>& inputs,
                                       const std::vector<bool>& as_initializer) {
  auto model = std::make_shared<Model>();
  model->opset_imports.push_back({spec.domain, spec.opset});
  if (!spec.domain.empty()) model->opset_imports.push_back({"", 17});
  Graph& g = *model->graph;
  g.name = "test_" + spec.op_type;
  std::vector<Value*> ins;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) {
      ins.push_back(nullptr);
      continue;
    }
    Value* v = g.add_value("in" + std::to_string(i)).value();
    v->dtype = inputs[i].dtype();
    v->has_shape = true;
    for (int64_t d : inputs[i].shape()) v->shape.push_back(Dim{d, ""});
    if (i < as_initializer.size() && as_initializer[i]) {
      v->constant = inputs[i];
      g.initializers.push_back(v);
    } else {
      g.inputs.push_back(v);
    }
    ins.push_back(v);
  }
  std::vector<Value*> outs;
  for (int i = 0; i < spec.num_outputs; ++i) {
    Value* v = g.add_value("out" + std::to_string(i)).value();
    outs.push_back(v);
    g.outputs.push_back(v);
  }
  Node* n = g.add_node(spec.op_type, "node", ins, outs, spec.domain);
  n->attributes = spec.attrs;
  return model;
}

Result<std::vector<Tensor>> run_op(const OpSpec& spec, const std::vector<Tensor>& inputs,
                                   const std::vector<bool>& as_initializer, ExecutorOptions options) {
  std::shared_ptr<Model> model = single_op_model(spec, inputs, as_initializer);
  QUENCH_ASSIGN_OR_RETURN(std::unique_ptr<Executor> exec, Executor::create(model, options));
  Executor::Feeds feeds;
  for (size_t i = 0; i < inputs.size(); ++i) {
    bool init = i < as_initializer.size() && as_initializer[i];
    if (inputs[i].defined() && !init) feeds.emplace_back("in" + std::to_string(i), inputs[i]);
  }
  return exec->run(feeds);
}

Tensor random_tensor(const Shape& shape, float lo, float hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  Tensor t = Tensor::empty(DType::kFloat32, shape);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = dist(rng);
  return t;
}

::testing::AssertionResult tensors_near(const Tensor& a, const Tensor& b, double atol, double rtol) {
  if (a.dtype() != b.dtype()) {
    return ::testing::AssertionFailure() << "dtype " << dtype_name(a.dtype()) << " vs "
                                         << dtype_name(b.dtype());
  }
  if (a.shape() != b.shape()) {
    return ::testing::AssertionFailure() << "shape " << shape_to_string(a.shape()) << " vs "
                                         << shape_to_string(b.shape());
  }
  std::vector<double> x = a.to_double_vector(), y = b.to_double_vector();
  int bad = 0;
  ::testing::AssertionResult r = ::testing::AssertionFailure();
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(x[i]) && std::isnan(y[i])) continue;
    if (x[i] == y[i]) continue;
    if (std::fabs(x[i] - y[i]) <= atol + rtol * std::fabs(y[i])) continue;
    if (bad < 5) r << "\n  [" << i << "] " << x[i] << " vs " << y[i];
    ++bad;
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return r << "\n  " << bad << " of " << x.size() << " elements differ (atol " << atol << ", rtol "
           << rtol << ")";
}

TempDir::TempDir(const std::string& tag) {
  namespace fs = std::filesystem;
  path_ = (fs::temp_directory_path() / ("quench_" + tag + "_" + std::to_string(::getpid()))).string();
  fs::remove_all(path_);
  fs::create_directories(path_);
}

TempDir::~TempDir() { std::filesystem::remove_all(path_); }

std::vector<std::string> TempDir::listing() const {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(path_))
    out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::string source_path(const std::string& relative) {
  return std::string(QUENCH_SOURCE_DIR) + "/" + relative;
}

}  // namespace quench::testing
