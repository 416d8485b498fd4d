// The kernels through the real executor: single ops via run_op, and a small CNN whose optimized
// run (fused activations, blocked layouts between kernels) must equal the unoptimized run and the
// reference kernels.
#include "harness.h"

namespace quench::testing {
namespace {

TEST(ExecutorPath, SingleOps) {
  Tensor x = random_tensor({2, 8, 9, 9}, -1, 1, 1), w = random_tensor({16, 8, 3, 3}, -1, 1, 2);
  std::vector<Attribute> attrs{attr_ints("pads", {1, 1, 1, 1}), attr_ints("strides", {2, 2})};
  auto y = run_op({"Conv", attrs}, {x, w}, {false, true});
  ASSERT_TRUE(y.ok()) << y.status().message();
  auto r = run_both_paths("Conv", attrs, {x, w}, {false, true});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(near_scaled(y->at(0), r->ref));

  Tensor a = random_tensor({3, 5, 7}, -1, 1, 3), b = random_tensor({7, 4}, -1, 1, 4);
  auto m = run_op({"MatMul"}, {a, b}, {false, true});
  ASSERT_TRUE(m.ok()) << m.status().message();
  auto mr = run_both_paths("MatMul", {}, {a, b}, {false, true});
  ASSERT_TRUE(mr.ok());
  EXPECT_TRUE(near_scaled(m->at(0), mr->ref));

  auto p = run_op({"MaxPool", {attr_ints("kernel_shape", {2, 2})}, 17, 2}, {x});
  ASSERT_TRUE(p.ok()) << p.status().message();
  ASSERT_EQ(p->size(), 2u);
  EXPECT_EQ(p->at(1).dtype(), DType::kInt64);
}

// input -> Conv+Relu -> Conv -> Clip(0, 6 as initializers) -> MaxPool -> Conv -> GlobalAveragePool
std::shared_ptr<Model> small_cnn() {
  auto model = std::make_shared<Model>();
  model->opset_imports.push_back({"", 17});
  Graph& g = *model->graph;
  auto value = [&](const std::string& name) { return g.get_or_add_value(name); };
  auto init = [&](const std::string& name, Tensor t) {
    Value* v = value(name);
    v->constant = std::move(t);
    g.initializers.push_back(v);
    return v;
  };
  Value* in = value("input");
  in->dtype = DType::kFloat32;
  in->has_shape = true;
  for (int64_t d : {2, 3, 17, 17}) in->shape.push_back(Dim{d, ""});
  g.inputs.push_back(in);
  Node* c1 = g.add_node("Conv", "c1", {in, init("w1", random_tensor({32, 3, 3, 3}, -0.5f, 0.5f, 1)),
                                       init("b1", random_tensor({32}, -0.1f, 0.1f, 2))},
                        {value("t1")});
  c1->attributes = {attr_ints("pads", {1, 1, 1, 1})};
  g.add_node("Relu", "r1", {value("t1")}, {value("t2")});
  Node* c2 = g.add_node("Conv", "c2", {value("t2"), init("w2", random_tensor({32, 32, 3, 3}, -0.2f, 0.2f, 3))},
                        {value("t3")});
  c2->attributes = {attr_ints("pads", {1, 1, 1, 1})};
  g.add_node("Clip", "clip", {value("t3"), init("lo", Tensor::scalar(0.0f)), init("hi", Tensor::scalar(6.0f))},
             {value("t4")});
  Node* mp = g.add_node("MaxPool", "mp", {value("t4")}, {value("t5")});
  mp->attributes = {attr_ints("kernel_shape", {2, 2}), attr_ints("strides", {2, 2})};
  Node* c3 = g.add_node("Conv", "c3", {value("t5"), init("w3", random_tensor({16, 32, 1, 1}, -0.5f, 0.5f, 4))},
                        {value("t6")});
  (void)c3;
  g.add_node("GlobalAveragePool", "gap", {value("t6")}, {value("out")});
  g.outputs.push_back(value("out"));
  return model;
}

TEST(ExecutorPath, SmallCnnOptimizedEqualsPlainAndReference) {
  std::shared_ptr<Model> model = small_cnn();
  Tensor x = random_tensor({2, 3, 17, 17}, 0, 1, 7);
  std::vector<Tensor> results;
  for (auto [optimize, dnnl] : {std::pair{true, true}, std::pair{false, true}, std::pair{false, false}}) {
    // The executor may create kernels at plan time or at first run: keep the switch for both.
    set_dnnl_enabled(dnnl);
    auto exec = Executor::create(model, {.num_threads = 2, .optimize = optimize});
    auto y = exec.ok() ? (*exec)->run({{"input", x}}) : Result<std::vector<Tensor>>(exec.status());
    set_dnnl_enabled(true);
    ASSERT_TRUE(y.ok()) << y.status().message();
    ASSERT_TRUE(y->at(0).is_plain());
    results.push_back(y->at(0));
  }
  ASSERT_EQ(results[0].shape(), (Shape{2, 16, 1, 1}));
  EXPECT_TRUE(near_scaled(results[0], results[2]));  // optimized oneDNN vs reference
  EXPECT_TRUE(near_scaled(results[1], results[2]));  // plain oneDNN vs reference
}

}  // namespace
}  // namespace quench::testing
