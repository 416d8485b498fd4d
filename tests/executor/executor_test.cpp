// The executor: feeding rules, unsupported ops, the tap, memory planning, determinism.
#include <gtest/gtest.h>

#include "core/parallel.h"
#include "runtime/executor.h"
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
    Value* out = g.add_value(i + 1 == n ? "y" : "v" + std::to_string(i)).value();
    g.add_node(i % 2 ? "Neg" : "Relu", "op" + std::to_string(i), {cur}, {out});
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

}  // namespace
}  // namespace quench
