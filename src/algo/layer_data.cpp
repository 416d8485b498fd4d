#include "algo/layer_data.h"

#include <memory>

namespace quench {

Result<std::vector<Executor::Feeds>> read_batches(const BatchSource& source, int64_t num_batches) {
  std::vector<Executor::Feeds> out;
  for (int64_t i = 0; num_batches < 0 || i < num_batches; ++i) {
    QUENCH_ASSIGN_OR_RETURN(Executor::Feeds feeds, source(i));
    if (feeds.empty()) break;
    out.push_back(std::move(feeds));
  }
  if (out.empty()) return Status::invalid("calibration set is empty: no batch to learn from");
  return out;
}

BatchSource replay_batches(std::vector<Executor::Feeds> batches) {
  auto shared = std::make_shared<const std::vector<Executor::Feeds>>(std::move(batches));
  return [shared](int64_t i) -> Result<Executor::Feeds> {
    if (i < 0 || i >= static_cast<int64_t>(shared->size())) return Executor::Feeds{};
    return (*shared)[static_cast<size_t>(i)];
  };
}

Result<std::vector<std::vector<Tensor>>> collect_values(QuantSim& sim, const BatchSource& source,
                                                        int64_t num_batches,
                                                        const std::vector<std::string>& names,
                                                        Run run) {
  std::vector<std::vector<Tensor>> out(names.size());
  int64_t i = 0;
  for (; num_batches < 0 || i < num_batches; ++i) {
    QUENCH_ASSIGN_OR_RETURN(Executor::Feeds feeds, source(i));
    if (feeds.empty()) break;
    auto got = run == Run::kQuantized ? sim.run(feeds, names) : sim.run_fp32(feeds, names);
    if (!got.ok()) return got.status().with_context("batch " + std::to_string(i));
    for (size_t k = 0; k < names.size(); ++k) out[k].push_back(std::move((*got)[k]));
  }
  if (i == 0) return Status::invalid("calibration set is empty: no batch to learn from");
  return out;
}

}  // namespace quench
