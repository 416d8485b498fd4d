// quench bench: what the benchmark programs share: comma lists, a clock, model names, and the
// Fashion-MNIST batches with their labels and the top-1 loop over them.
//
//   QUENCH_ASSIGN_OR_RETURN(LabeledBatches test, load_fashion(kTestImages, kTestLabels, 10000, 500));
//   QUENCH_ASSIGN_OR_RETURN(double acc, top1(test, [&](const Executor::Feeds& f) { return sim->run(f); }));
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/clock.h"  // now_seconds
#include "core/status.h"
#include "runtime/executor.h"

namespace quench::bench {

inline constexpr const char* kTrainImages = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz";
inline constexpr const char* kTestImages = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
inline constexpr const char* kTestLabels = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";

// The value after the option argv[i], advancing i; "<program>: <option> needs a value" and exit 2
// when there is none.
std::string option_value(int argc, char** argv, int& i);
// "a,b,,c" -> {"a", "b", "c"}.
std::vector<std::string> split_list(const std::string& s);
// A path ending in .onnx as it is; "fashion_cnn" -> models/fashion_cnn.onnx; other names ->
// models/zoo/<name>.onnx.
std::string model_path(const std::string& name);

// Batches fed as {"input": [B, 1, 28, 28]}; y[b] holds batch b's labels (empty without labels).
struct LabeledBatches {
  std::vector<Executor::Feeds> x;
  std::vector<std::vector<int64_t>> y;
};
// The first `limit` images of an IDX file (labels: "" for none), in batches of `batch`.
Result<LabeledBatches> load_fashion(const std::string& images, const std::string& labels,
                                    int64_t limit, int64_t batch);

using RunFn = std::function<Result<std::vector<Tensor>>(const Executor::Feeds&)>;
// Top-1 in percent of the first output [B, classes] against the labels; a row with a NaN or Inf
// logit counts as wrong.
Result<double> top1(const LabeledBatches& data, const RunFn& run);

}  // namespace quench::bench
