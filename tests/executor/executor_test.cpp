// The executor: feeding rules, unsupported ops, the tap, memory planning, determinism.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "core/parallel.h"
#include "runtime/executor.h"
#include "runtime/kernels/dnnl_kernels.h"
#include "testutil.h"

namespace quench {
namespace {

// x -> Relu -> Neg -> Relu -> ... (n ops) -> y, all [rows, cols] float32.
std::shared_ptr<Model> chain_model(int n, int64_t rows, int64_t cols) {
  auto m = std::make_shared<Model>();
  m->opset_imports.push_back({"", 17});
  Graph& g = *m->graph;
  Value* x = g.add_value("x").value();
  x->dtype = DType::kFloat32;
  x->has_shape = true;
  x->shape = {Dim{-1, "batch"}, Dim{cols, ""}};
  g.inputs.push_back(x);
  Value* cur = x;
  for (int i = 0; i < n; ++i) {
    const std::string index = std::to_string(i);
    Value* out = g.add_value(i + 1 == n ? std::string("y") : std::string("v").append(index)).value();
    g.add_node(i % 2 ? "Neg" : "Relu", std::string("op").append(index), {cur}, {out});
    cur = out;
  }
  g.outputs.push_back(cur);
  (void)rows;
  return m;
}

TEST(Executor, RejectsBadFeedsWithNamedErrors) {
  auto exec = Executor::create(chain_model(2, 4, 8)).value();
  auto r = exec->run({});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "input 'x' was not given");
  r = exec->run({{"z", testing::random_tensor({4, 8})}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "the model has no input named 'z' (inputs: 'x')");
  r = exec->run({{"x", testing::random_tensor({4, 7})}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "input 'x': data has shape [4, 7] but the model expects [batch, 8]");
  r = exec->run({{"x", Tensor::zeros(DType::kInt64, {4, 8})}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "input 'x': data has element type int64 but the model expects float32");
}

TEST(Executor, NamesUnsupportedOpAndNode) {
  auto m = chain_model(2, 4, 8);
  Graph& g = *m->graph;
  Value* y = g.outputs[0];
  Value* z = g.add_value("z").value();
  g.add_node("FooBar", "mystery", {y}, {z});
  g.outputs = {z};
  auto exec = Executor::create(m);
  ASSERT_FALSE(exec.ok());
  EXPECT_EQ(exec.status().code(), StatusCode::kUnsupported);
  EXPECT_EQ(exec.status().message(), "unsupported op 'FooBar' (node 'mystery')");
}

TEST(Executor, RejectsDanglingInput) {
  auto m = chain_model(1, 4, 8);
  Graph& g = *m->graph;
  Value* ghost = g.add_value("ghost").value();
  Value* z = g.add_value("z").value();
  g.add_node("Relu", "r2", {ghost}, {z});
  auto exec = Executor::create(m);
  ASSERT_FALSE(exec.ok());
  EXPECT_NE(exec.status().message().find("node Relu 'r2' input 0 'ghost' is dangling"), std::string::npos)
      << exec.status().message();
}

TEST(Executor, TapSeesEveryValueInOrderAndCanReplaceIt) {
  auto exec = Executor::create(chain_model(3, 2, 3)).value();
  std::vector<std::string> seen;
  exec->set_tap([&](const TapEvent& e) {
    seen.push_back(std::string(e.name) + "@" + (e.producer ? e.producer->name : "input"));
    if (e.name == "v0") *e.tensor = Tensor::from_vector<float>({2, 3}, {1, 2, 3, 4, 5, 6});
    return Status();
  });
  Tensor x = Tensor::from_vector<float>({2, 3}, {-1, -2, -3, -4, -5, -6});
  auto y = exec->run({{"x", x}}).value();
  EXPECT_EQ(seen, (std::vector<std::string>{"x@input", "v0@op0", "v1@op1", "y@op2"}));
  // Relu(Neg(replaced v0)) = Relu(-[1..6]) = 0.
  EXPECT_TENSOR_NEAR(y[0], Tensor::zeros(DType::kFloat32, {2, 3}), 0.0);
  // A tap error stops the run and reaches the caller.
  exec->set_tap([](const TapEvent&) { return Status::invalid("stop"); });
  EXPECT_EQ(exec->run({{"x", x}}).status().message(), "stop");
  exec->set_tap(nullptr);
  auto y2 = exec->run({{"x", x}}).value();
  EXPECT_TENSOR_NEAR(y2[0], Tensor::zeros(DType::kFloat32, {2, 3}), 0.0);  // Relu(-Relu(x)) = 0
}

TEST(Executor, FreesIntermediatesAfterLastUse) {
  // 40 ops on a 4 MB tensor: without freeing the run would hold 160 MB.
  const int64_t rows = 1024, cols = 1024;
  auto exec = Executor::create(chain_model(40, rows, cols)).value();
  Tensor x = testing::random_tensor({rows, cols});
  ASSERT_TRUE(exec->run({{"x", x}}).ok());
  const int64_t one = rows * cols * 4;
  EXPECT_LE(exec->last_run_stats().peak_tensor_bytes, 3 * one);
  EXPECT_GE(exec->last_run_stats().peak_tensor_bytes, one);
}

TEST(Executor, FetchesIntermediates) {
  auto exec = Executor::create(chain_model(3, 2, 3)).value();
  Tensor x = Tensor::from_vector<float>({2, 3}, {-1, 2, -3, 4, -5, 6});
  auto r = exec->run({{"x", x}}, {"v0", "y"}).value();
  EXPECT_TENSOR_NEAR(r[0], Tensor::from_vector<float>({2, 3}, {0, 2, 0, 4, 0, 6}), 0.0);
  EXPECT_TENSOR_NEAR(r[1], Tensor::from_vector<float>({2, 3}, {0, 0, 0, 0, 0, 0}), 0.0);
  EXPECT_EQ(exec->run({{"x", x}}, {"nope"}).status().message(),
            "fetch: the model has no value named 'nope'");
  // The caller's input is never modified in place.
  EXPECT_TENSOR_NEAR(x, Tensor::from_vector<float>({2, 3}, {-1, 2, -3, 4, -5, 6}), 0.0);
}

// Conv -> BatchNormalization -> Relu -> Conv -> Relu: the fast plan folds BN into the convolution,
// fuses the activations and keeps blocked layouts; its outputs must equal the plain plan's.
TEST(Executor, OptimizedPlanMatchesPlainPlan) {
  auto m = std::make_shared<Model>();
  m->opset_imports.push_back({"", 13});
  Graph& g = *m->graph;
  auto value = [&](const std::string& name, Tensor c = Tensor()) {
    Value* v = g.add_value(name).value();
    if (c.defined()) {
      v->constant = c;
      g.initializers.push_back(v);
    }
    return v;
  };
  Value* x = value("x");
  x->dtype = DType::kFloat32;
  g.inputs.push_back(x);
  Value* w1 = value("w1", testing::random_tensor({16, 3, 3, 3}, -0.5f, 0.5f, 2));
  Value* b1 = value("b1", testing::random_tensor({16}, -0.1f, 0.1f, 3));
  Value* scale = value("scale", testing::random_tensor({16}, 0.5f, 1.5f, 4));
  Value* shift = value("shift", testing::random_tensor({16}, -0.2f, 0.2f, 5));
  Value* mean = value("mean", testing::random_tensor({16}, -0.3f, 0.3f, 6));
  Value* var = value("var", testing::random_tensor({16}, 0.2f, 2.0f, 7));
  Value* w2 = value("w2", testing::random_tensor({8, 16, 3, 3}, -0.3f, 0.3f, 8));
  Value *c1 = value("c1"), *bn = value("bn"), *r1 = value("r1"), *c2 = value("c2"), *y = value("y");
  Node* conv1 = g.add_node("Conv", "conv1", {x, w1, b1}, {c1});
  conv1->attributes.push_back(testing::attr_ints("pads", {1, 1, 1, 1}));
  g.add_node("BatchNormalization", "bn1", {c1, scale, shift, mean, var}, {bn});
  g.add_node("Relu", "relu1", {bn}, {r1});
  g.add_node("Conv", "conv2", {r1, w2}, {c2});
  g.add_node("Relu", "relu2", {c2}, {y});
  g.outputs.push_back(y);

  Tensor input = testing::random_tensor({2, 3, 17, 17}, -1.0f, 1.0f, 9);
  auto fast_or = Executor::create(m, {.num_threads = 2, .optimize = true});
  ASSERT_TRUE(fast_or.ok()) << fast_or.status().message();
  auto plain_or = Executor::create(m, {.num_threads = 2, .optimize = false});
  ASSERT_TRUE(plain_or.ok()) << plain_or.status().message();
  auto fast = std::move(fast_or).value();
  auto plain = std::move(plain_or).value();
  auto a_or = fast->run({{"x", input}});
  ASSERT_TRUE(a_or.ok()) << a_or.status().message();
  auto b_or = plain->run({{"x", input}});
  ASSERT_TRUE(b_or.ok()) << b_or.status().message();
  Tensor a = a_or.value()[0];
  Tensor b = b_or.value()[0];
  EXPECT_TRUE(testing::tensors_near(a, b, 1e-5, 1e-5));
  // A pass-through tap switches to the plain plan: bit-identical to the unoptimized executor.
  fast->set_tap([](const TapEvent&) { return Status(); });
  Tensor c = fast->run({{"x", input}}).value()[0];
  EXPECT_TRUE(testing::tensors_near(c, b, 0.0, 0.0));
  // Same thread count, same bits.
  fast->set_tap(nullptr);
  Tensor d = fast->run({{"x", input}}).value()[0];
  EXPECT_TRUE(testing::tensors_near(d, a, 0.0, 0.0));

  // A tap watching only values the fast plan materializes (the input, the fused conv1+relu1
  // output) keeps the fast plan: same bits as the untapped fast run, and it sees plain tensors.
  std::vector<std::string> seen;
  fast->set_tap(
      [&](const TapEvent& e) {
        seen.push_back(std::string(e.name) + "@" + (e.producer ? e.producer->name : "input"));
        EXPECT_TRUE(e.tensor->is_plain());
        return Status();
      },
      {"x", "r1"});
  Tensor e = fast->run({{"x", input}}).value()[0];
  EXPECT_TRUE(testing::tensors_near(e, a, 0.0, 0.0));
  EXPECT_EQ(seen, (std::vector<std::string>{"x@input", "r1@relu1"}));
  // any_order: a blocked value without padding (16 channels) arrives as its raw buffer, flattened,
  // with the same elements (here: the same sum of squares and extremes) as the plain value.
  Tensor r1_plain;
  plain->set_tap(
      [&](const TapEvent& ev) {
        r1_plain = ev.tensor->clone();
        return Status();
      },
      {"r1"});
  ASSERT_TRUE(plain->run({{"x", input}}).ok());
  plain->set_tap(nullptr);
  bool flagged = false;
  Tensor r1_raw;
  fast->set_tap(
      [&](const TapEvent& ev) {
        flagged = ev.any_order;
        r1_raw = ev.tensor->clone();
        return Status();
      },
      {"r1"}, {"r1"});
  ASSERT_TRUE(fast->run({{"x", input}}).ok());
  ASSERT_TRUE(r1_raw.defined());
  EXPECT_TRUE(flagged);
  EXPECT_EQ(r1_raw.shape(), (Shape{r1_plain.numel()}));
  auto stats = [](const Tensor& t) {
    std::vector<double> v = t.to_double_vector();
    std::sort(v.begin(), v.end());
    return v;
  };
  EXPECT_EQ(stats(r1_raw).size(), stats(r1_plain).size());
  const std::vector<double> a_sorted = stats(r1_raw), b_sorted = stats(r1_plain);
  double worst = 0;
  for (size_t i = 0; i < a_sorted.size(); ++i) worst = std::max(worst, std::fabs(a_sorted[i] - b_sorted[i]));
  EXPECT_LT(worst, 1e-4);  // the same multiset of values (fused vs unfused rounding aside)
  // Watching a value that the fast plan fuses away (the conv2 output inside conv2+relu2) falls
  // back to the plain plan, which has it.
  seen.clear();
  fast->set_tap(
      [&](const TapEvent& ev) {
        seen.push_back(std::string(ev.name));
        return Status();
      },
      {"c2"});
  Tensor f = fast->run({{"x", input}}).value()[0];
  EXPECT_TRUE(testing::tensors_near(f, b, 0.0, 0.0));
  EXPECT_EQ(seen, (std::vector<std::string>{"c2"}));
  // A watched tap can replace a value in the fast plan too: zeroing r1 zeroes y (no bias in conv2).
  fast->set_tap(
      [](const TapEvent& ev) {
        *ev.tensor = Tensor::zeros(DType::kFloat32, ev.tensor->shape());
        return Status();
      },
      {"r1"});
  Tensor z = fast->run({{"x", input}}).value()[0];
  EXPECT_TENSOR_NEAR(z, Tensor::zeros(DType::kFloat32, z.shape()), 0.0);
  fast->set_tap(nullptr);

  // Fetches: r1 exists in the fast plan (the fused conv1+bn1+relu1 output), so a fetch of it and y
  // runs the fast plan (y with the fast run's bits) and hands r1 back plain, equal to the plain
  // plan's r1 up to fused rounding. c2 is fused away: fetching it runs the plain plan (y with the
  // plain run's bits).
  auto fr = fast->run({{"x", input}}, {"r1", "y"});
  ASSERT_TRUE(fr.ok()) << fr.status().message();
  EXPECT_TRUE(fr->at(0).is_plain());
  EXPECT_TRUE(testing::tensors_near(fr->at(0), r1_plain, 1e-5, 1e-5));
  EXPECT_TRUE(testing::tensors_near(fr->at(1), a, 0.0, 0.0));
  auto pr = fast->run({{"x", input}}, {"c2", "y"});
  ASSERT_TRUE(pr.ok()) << pr.status().message();
  EXPECT_TRUE(testing::tensors_near(pr->at(1), b, 0.0, 0.0));
}

// A residual block: conv -> relu -> conv, + skip, relu, conv. With blocked layouts the Add and the
// Relus run on oneDNN's buffers directly (kElementwise); results must match the plain plan.
TEST(Executor, ElementwiseOpsOnBlockedTensorsMatchPlainPlan) {
  auto m = std::make_shared<Model>();
  m->opset_imports.push_back({"", 13});
  Graph& g = *m->graph;
  auto constant = [&](const std::string& name, Tensor c) {
    Value* v = g.add_value(name).value();
    v->constant = std::move(c);
    g.initializers.push_back(v);
    return v;
  };
  Value* x = g.add_value("x").value();
  g.inputs.push_back(x);
  auto conv = [&](const std::string& name, Value* in, int64_t cin, int64_t cout, uint32_t seed) {
    Value* w = constant(name + "_w", testing::random_tensor({cout, cin, 3, 3}, -0.3f, 0.3f, seed));
    Value* out = g.add_value(name).value();
    Node* n = g.add_node("Conv", name, {in, w}, {out});
    n->attributes.push_back(testing::attr_ints("pads", {1, 1, 1, 1}));
    return out;
  };
  auto op = [&](const std::string& type, const std::string& name, std::vector<Value*> ins) {
    Value* out = g.add_value(name).value();
    g.add_node(type, name, ins, {out});
    return out;
  };
  Value* stem = op("Relu", "stem_relu", {conv("stem", x, 3, 24, 11)});
  Value* branch = conv("b2", op("Relu", "b1_relu", {conv("b1", stem, 24, 24, 12)}), 24, 24, 13);
  Value* sum = op("Add", "add", {branch, stem});
  Value* act = op("Relu", "add_relu", {sum});
  Value* y = op("Sigmoid", "head", {conv("head_conv", act, 24, 5, 14)});
  g.outputs.push_back(y);

  Tensor input = testing::random_tensor({3, 3, 15, 15}, -1.0f, 1.0f, 21);
  // Winograd convolutions choose a different blocked layout than direct ones; with it off every
  // convolution here picks the same one, so the Add sees two inputs in one layout.
  const bool winograd = dnnl_winograd_enabled();
  set_dnnl_winograd_enabled(false);
  auto fast = Executor::create(m, {.num_threads = 1, .optimize = true});
  auto plain = Executor::create(m, {.num_threads = 1, .optimize = false});
  ASSERT_TRUE(fast.ok() && plain.ok());
  auto a = (*fast)->run({{"x", input}});
  auto b = (*plain)->run({{"x", input}});
  ASSERT_TRUE(a.ok()) << a.status().message();
  ASSERT_TRUE(b.ok()) << b.status().message();
  set_dnnl_winograd_enabled(winograd);
  EXPECT_TRUE(testing::tensors_near(a->at(0), b->at(0), 1e-5, 1e-5));
}

}  // namespace
}  // namespace quench
