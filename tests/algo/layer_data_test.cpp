// collect_values: per-batch intermediates of the quantized and FP32 runs.
#include <gtest/gtest.h>

#include "algo/layer_data.h"
#include "onnx/onnx_io.h"
#include "testutil.h"

namespace quench {
namespace {

TEST(LayerData, CollectsQuantizedAndFp32ValuesPerBatch) {
  auto m = onnx::load_model(testing::source_path("models/fashion_cnn.onnx"));
  ASSERT_TRUE(m.ok());
  auto model = std::make_shared<const Model>(std::move(m).value());
  auto sim = QuantSim::create(model, default_quant_config());
  ASSERT_TRUE(sim.ok()) << sim.status().message();
  std::vector<Executor::Feeds> batches;
  for (uint32_t b = 0; b < 3; ++b)
    batches.push_back({{"input", testing::random_tensor({4, 1, 28, 28}, 0.0f, 1.0f, 50 + b)}});
  BatchSource source = replay_batches(batches);
  ASSERT_TRUE((*sim)->compute_encodings(source).ok());
  const std::string out = model->graph->outputs[0]->name;
  auto q = collect_values(**sim, source, -1, {out}, Run::kQuantized);
  auto f = collect_values(**sim, source, 2, {out}, Run::kFp32);
  ASSERT_TRUE(q.ok() && f.ok()) << q.status().message() << f.status().message();
  ASSERT_EQ(q->at(0).size(), 3u);
  ASSERT_EQ(f->at(0).size(), 2u);
  auto ref = (*sim)->run_fp32(batches[1]);
  ASSERT_TRUE(ref.ok());
  EXPECT_TENSOR_NEAR(f->at(0)[1], ref->at(0), 0.0);
  auto qref = (*sim)->run(batches[2]);
  ASSERT_TRUE(qref.ok());
  EXPECT_TENSOR_NEAR(q->at(0)[2], qref->at(0), 0.0);

  auto empty = collect_values(**sim, replay_batches({}), -1, {out}, Run::kFp32);
  EXPECT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("calibration set is empty"), std::string::npos);
}

}  // namespace
}  // namespace quench
