// Streaming data sets: batches concatenate to the whole file, conversions, labels, memory, and
// fitting rows to model inputs.
#include <gtest/gtest.h>

#include <cmath>

#include "data/dataset.h"
#include "data/npy.h"
#include "data_test_util.h"

namespace quench {
namespace {

using testing::ScratchDir;

// Reads every batch, checking shapes, and returns data and labels concatenated.
void read_all(Dataset& ds, int64_t batch, std::vector<float>* data, std::vector<int64_t>* labels) {
  data->clear();
  labels->clear();
  int64_t seen = 0;
  while (true) {
    Result<std::optional<Batch>> b = ds.next_batch(batch);
    ASSERT_TRUE(b.ok()) << b.status().message();
    if (!b->has_value()) break;
    const Batch& bb = **b;
    ASSERT_EQ(bb.data.dtype(), DType::kFloat32);
    int64_t n = bb.data.dim(0);
    EXPECT_LE(n, batch);
    Shape expect = ds.sample_shape();
    expect.insert(expect.begin(), n);
    EXPECT_EQ(bb.data.shape(), expect);
    const float* p = bb.data.data<float>();
    data->insert(data->end(), p, p + bb.data.numel());
    ASSERT_EQ(bb.labels.has_value(), ds.has_labels());
    if (bb.labels) {
      EXPECT_EQ(bb.labels->dtype(), DType::kInt64);
      EXPECT_EQ(bb.labels->shape(), Shape{n});
      for (int64_t v : bb.labels->to_int64_vector()) labels->push_back(v);
    }
    seen += n;
  }
  EXPECT_EQ(seen, ds.size());
}

TEST(Dataset, NpyBatchesConcatenateToTheWholeFile) {
  ScratchDir dir;
  ASSERT_EQ(testing::run_python(dir, "import numpy as np\n"
                                     "x = np.arange(23 * 4, dtype=np.uint8).reshape(23, 2, 2)\n"
                                     "np.save('" + dir.file("x.npy") + "', x)\n"
                                     "np.save('" + dir.file("y.npy") + "', (np.arange(23) % 5).astype(np.int64).reshape(23, 1))\n"),
            0);
  DataOptions opt;
  Result<std::unique_ptr<Dataset>> ds = open_dataset(dir.file("x.npy"), dir.file("y.npy"), opt);
  ASSERT_TRUE(ds.ok()) << ds.status().message();
  EXPECT_EQ((*ds)->size(), 23);
  EXPECT_TRUE((*ds)->has_labels());
  EXPECT_EQ((*ds)->sample_shape(), (Shape{2, 2}));
  for (int64_t batch : {1, 5, 23, 100}) {
    std::vector<float> data;
    std::vector<int64_t> labels;
    read_all(**ds, batch, &data, &labels);
    ASSERT_EQ(data.size(), 92u);
    for (size_t i = 0; i < data.size(); ++i) ASSERT_FLOAT_EQ(data[i], static_cast<float>(i) / 255.0f);
    ASSERT_EQ(labels.size(), 23u);
    for (size_t i = 0; i < labels.size(); ++i) ASSERT_EQ(labels[i], static_cast<int64_t>(i % 5));
    ASSERT_TRUE((*ds)->reset().ok());
  }
}

TEST(Dataset, ScaleMeanStdPerChannelInBothLayouts) {
  ScratchDir dir;
  // Two samples [3, 1, 2] (NCHW view: 3 channels) of uint8 values 0..11.
  std::vector<uint8_t> raw(12);
  for (int i = 0; i < 12; ++i) raw[static_cast<size_t>(i)] = static_cast<uint8_t>(i * 10);
  ASSERT_TRUE(write_npy(dir.file("c.npy"), Tensor::from_vector<uint8_t>({2, 3, 1, 2}, raw)).ok());
  DataOptions opt;
  opt.scale = 0.1f;
  opt.mean = {1.0f, 2.0f, 3.0f};
  opt.std = {2.0f};
  Result<std::unique_ptr<Dataset>> ds = open_dataset(dir.file("c.npy"), "", opt);
  ASSERT_TRUE(ds.ok()) << ds.status().message();
  std::vector<float> data;
  std::vector<int64_t> labels;
  read_all(**ds, 2, &data, &labels);
  ASSERT_EQ(data.size(), 12u);
  for (int i = 0; i < 12; ++i) {
    int c = (i / 2) % 3;  // NCHW: index = ((n * 3 + c) * 1 + h) * 2 + w
    float expect = (raw[static_cast<size_t>(i)] * 0.1f - static_cast<float>(c + 1)) / 2.0f;
    EXPECT_NEAR(data[static_cast<size_t>(i)], expect, 1e-6) << i;
  }
  // NHWC: the last axis is the channel axis; it has 2 entries, so 3 means are an error...
  opt.layout = Layout::kNHWC;
  ds = open_dataset(dir.file("c.npy"), "", opt);
  ASSERT_FALSE(ds.ok());
  EXPECT_EQ(ds.status().message(), testing::qp(dir.file("c.npy")) +
                                       ": mean/std have 3 values (one per channel) but the data rows "
                                       "[3, 1, 2] have 2 channels on the last axis (layout nhwc)");
  // ...and 2 means apply to alternating elements.
  opt.mean = {0.0f, 1.0f};
  opt.std = {1.0f, 0.5f};
  ds = open_dataset(dir.file("c.npy"), "", opt);
  ASSERT_TRUE(ds.ok()) << ds.status().message();
  read_all(**ds, 1, &data, &labels);
  for (int i = 0; i < 12; ++i) {
    float expect = i % 2 == 0 ? raw[static_cast<size_t>(i)] * 0.1f : (raw[static_cast<size_t>(i)] * 0.1f - 1.0f) / 0.5f;
    EXPECT_NEAR(data[static_cast<size_t>(i)], expect, 1e-5) << i;
  }
}

TEST(Dataset, FloatDataPassesThroughUnlessScaled) {
  ScratchDir dir;
  ASSERT_TRUE(write_npy(dir.file("f.npy"), Tensor::from_vector<float>({2, 2}, {1.5f, -2.0f, 300.0f, 0.0f})).ok());
  ASSERT_TRUE(write_npy(dir.file("d.npy"), Tensor::from_vector<double>({2, 2}, {1.5, -2.0, 300.0, 0.0})).ok());
  std::vector<float> data;
  std::vector<int64_t> labels;
  for (const char* f : {"f.npy", "d.npy"}) {
    Result<std::unique_ptr<Dataset>> ds = open_dataset(dir.file(f), "", DataOptions{});
    ASSERT_TRUE(ds.ok()) << ds.status().message();
    read_all(**ds, 8, &data, &labels);
    EXPECT_EQ(data, (std::vector<float>{1.5f, -2.0f, 300.0f, 0.0f})) << f;
  }
  DataOptions opt;
  opt.scale = 0.5f;
  Result<std::unique_ptr<Dataset>> ds = open_dataset(dir.file("f.npy"), "", opt);
  ASSERT_TRUE(ds.ok());
  read_all(**ds, 8, &data, &labels);
  EXPECT_EQ(data, (std::vector<float>{0.75f, -1.0f, 150.0f, 0.0f}));
}

TEST(Dataset, LimitAndLabelErrors) {
  ScratchDir dir;
  ASSERT_TRUE(write_npy(dir.file("x.npy"), Tensor::zeros(DType::kFloat32, {10, 3})).ok());
  ASSERT_TRUE(write_npy(dir.file("y9.npy"), Tensor::zeros(DType::kInt64, {9})).ok());
  ASSERT_TRUE(write_npy(dir.file("yf.npy"), Tensor::zeros(DType::kFloat32, {10})).ok());
  ASSERT_TRUE(write_npy(dir.file("y2.npy"), Tensor::zeros(DType::kInt32, {10, 2})).ok());
  ASSERT_TRUE(write_npy(dir.file("y.npy"), Tensor::zeros(DType::kUInt8, {10})).ok());
  DataOptions opt;
  Result<std::unique_ptr<Dataset>> ds = open_dataset(dir.file("x.npy"), dir.file("y9.npy"), opt);
  ASSERT_FALSE(ds.ok());
  EXPECT_EQ(ds.status().message(),
            testing::qp(dir.file("y9.npy")) + " has 9 labels but '" + dir.file("x.npy") + "' has 10 samples");
  ds = open_dataset(dir.file("x.npy"), dir.file("yf.npy"), opt);
  ASSERT_FALSE(ds.ok());
  EXPECT_EQ(ds.status().message(), testing::qp(dir.file("yf.npy")) + ": labels must be integers (got float32)");
  ds = open_dataset(dir.file("x.npy"), dir.file("y2.npy"), opt);
  ASSERT_FALSE(ds.ok());
  EXPECT_EQ(ds.status().message(),
            testing::qp(dir.file("y2.npy")) + ": labels must have shape [N] or [N, 1] (got [10, 2])");
  opt.limit = 4;
  ds = open_dataset(dir.file("x.npy"), dir.file("y.npy"), opt);
  ASSERT_TRUE(ds.ok()) << ds.status().message();
  EXPECT_EQ((*ds)->size(), 4);
  std::vector<float> data;
  std::vector<int64_t> labels;
  read_all(**ds, 3, &data, &labels);
  EXPECT_EQ(data.size(), 12u);
  EXPECT_EQ(labels.size(), 4u);
  ds = open_dataset(dir.file("missing.npy"), "", opt);
  ASSERT_FALSE(ds.ok());
  EXPECT_EQ(ds.status().message(), testing::qp(dir.file("missing.npy")) + ": no such file");
  testing::write_bytes(dir.file("text.txt"), "just text");
  ds = open_dataset(dir.file("text.txt"), "", opt);
  ASSERT_FALSE(ds.ok());
  EXPECT_EQ(ds.status().message(),
            testing::qp(dir.file("text.txt")) + ": not a .npy or IDX file (it starts with bytes 6a 75 73 74)");
}

// Streaming holds one batch, not the file: peak tensor memory stays near one batch.
TEST(Dataset, StreamingDoesNotLoadTheWholeFile) {
  ScratchDir dir;
  {
    Tensor big = Tensor::zeros(DType::kUInt8, {4000, 1000});  // 4 MB on disk
    ASSERT_TRUE(write_npy(dir.file("big.npy"), big).ok());
  }
  Result<std::unique_ptr<Dataset>> ds = open_dataset(dir.file("big.npy"), "", DataOptions{});
  ASSERT_TRUE(ds.ok());
  const int64_t base = memory_stats().current_bytes;
  reset_peak_memory();
  int64_t rows = 0;
  while (true) {
    Result<std::optional<Batch>> b = (*ds)->next_batch(16);
    ASSERT_TRUE(b.ok());
    if (!b->has_value()) break;
    rows += (*b)->data.dim(0);
  }
  EXPECT_EQ(rows, 4000);
  // One batch: 16 KB raw + 64 KB float32, far below the 4 MB (16 MB as float) of the file.
  EXPECT_LT(memory_stats().peak_bytes - base, 200 * 1024);
}

InputSpec spec(std::string name, std::vector<int64_t> dims, std::vector<std::string> symbols = {}) {
  return InputSpec{std::move(name), std::move(dims), std::move(symbols)};
}

TEST(FitToInput, InsertsChannelAxisAndFlattens) {
  Tensor b = Tensor::zeros(DType::kFloat32, {4, 28, 28});
  Result<Tensor> t = fit_to_input(b, spec("input", {-1, 1, 28, 28}, {"N"}));
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(t->shape(), (Shape{4, 1, 28, 28}));
  EXPECT_TRUE(t->shares_storage(b));
  t = fit_to_input(b, spec("input", {-1, 784}));
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(t->shape(), (Shape{4, 784}));
  t = fit_to_input(Tensor::zeros(DType::kFloat32, {4, 784}), spec("x", {4, 1, 28, 28}));
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(t->shape(), (Shape{4, 1, 28, 28}));
  // Unknown dims take the data's sizes.
  t = fit_to_input(Tensor::zeros(DType::kFloat32, {2, 5, 7}), spec("x", {-1, 1, -1, 7}));
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(t->shape(), (Shape{2, 1, 5, 7}));
  // Exact match returns the batch itself.
  t = fit_to_input(b, spec("x", {-1, 28, -1}));
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->shape(), b.shape());
}

TEST(FitToInput, MismatchesNameBothShapes) {
  Tensor b = Tensor::zeros(DType::kFloat32, {4, 28, 28});
  Result<Tensor> t = fit_to_input(b, spec("input", {-1, 3, 32, 32}, {"N"}));
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().message(),
            "data rows have shape [28, 28] (784 elements) but model input 'input' expects [N, 3, 32, 32]");
  t = fit_to_input(Tensor::zeros(DType::kFloat32, {2, 8, 8, 3}), spec("img", {-1, 3, 8, 8}));
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().message(),
            "data rows have shape [8, 8, 3] (192 elements) but model input 'img' expects [?, 3, 8, 8] "
            "(channel order? see the layout option: nchw / nhwc)");
  t = fit_to_input(b, spec("input", {1, 1, 28, 28}));
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().message(),
            "model input 'input' has a fixed batch size of 1 but the batch has 4 samples");
}

}  // namespace
}  // namespace quench
