#include "bench_util.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <sstream>

#include "data/dataset.h"

namespace quench::bench {

std::string option_value(int argc, char** argv, int& i) {
  if (i + 1 >= argc) {
    std::fprintf(stderr, "%s: %s needs a value\n", std::filesystem::path(argv[0]).filename().c_str(),
                 argv[i]);
    std::exit(2);
  }
  return argv[++i];
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

std::string model_path(const std::string& name) {
  if (name.size() > 5 && name.ends_with(".onnx")) return name;
  const std::string root = QUENCH_SOURCE_DIR;
  if (name == "fashion_cnn") return root + "/models/fashion_cnn.onnx";
  return root + "/models/zoo/" + name + ".onnx";
}

Result<LabeledBatches> load_fashion(const std::string& images, const std::string& labels,
                                    int64_t limit, int64_t batch) {
  DataOptions opt;
  opt.limit = limit;
  QUENCH_ASSIGN_OR_RETURN(auto ds, open_dataset(images, labels, opt));
  LabeledBatches d;
  while (true) {
    QUENCH_ASSIGN_OR_RETURN(std::optional<Batch> b, ds->next_batch(batch));
    if (!b) break;
    const int64_t n = b->data.dim(0);
    d.x.push_back({{"input", b->data.reshaped({n, 1, 28, 28})}});
    if (b->labels) {
      const int64_t* l = b->labels->data<int64_t>();
      d.y.emplace_back(l, l + n);
    }
  }
  return d;
}

Result<double> top1(const LabeledBatches& data, const RunFn& run) {
  int64_t right = 0, total = 0;
  for (size_t b = 0; b < data.x.size(); ++b) {
    QUENCH_ASSIGN_OR_RETURN(std::vector<Tensor> out, run(data.x[b]));
    const float* p = out[0].data<float>();
    const int64_t n = out[0].dim(0), k = out[0].dim(1);
    for (int64_t i = 0; i < n; ++i) {
      const float* row = p + i * k;
      const bool finite = std::all_of(row, row + k, [](float v) { return std::isfinite(v); });
      right += finite && std::max_element(row, row + k) - row == data.y[b][static_cast<size_t>(i)];
    }
    total += n;
  }
  return 100.0 * static_cast<double>(right) / static_cast<double>(total);
}

}  // namespace quench::bench
