// quench CLI: the commands, one file each (cmd_<name>.cpp).
//
// Each add_*_command adds its subcommand and options to the app; main() runs the one that was
// given. evaluate() is the accuracy loop shared by `eval` and `demo`.
//
//   CLI::App app{"quench"};
//   std::vector<CliCommand> commands = {add_inspect_command(app), add_run_command(app), ...};
#pragma once

#include <optional>
#include <string>

#include "cli_util.h"

namespace quench::cli {

CliCommand add_inspect_command(CLI::App& app);
CliCommand add_run_command(CLI::App& app);
CliCommand add_eval_command(CLI::App& app);
CliCommand add_bench_command(CLI::App& app);
CliCommand add_demo_command(CLI::App& app);
CliCommand add_quantize_command(CLI::App& app);

struct EvalResult {
  int64_t samples = 0;
  int64_t classes = 0;         // width of the model's output rows
  bool labeled = false;
  int64_t correct_top1 = 0;
  int64_t correct_top5 = 0;    // top-min(5, classes)
  double wall_seconds = 0.0;   // data loading + inference
  double run_seconds = 0.0;    // inference only
  int64_t batch = 0;           // batch size used
  double top1() const { return samples ? static_cast<double>(correct_top1) / samples : 0.0; }
  double top5() const { return samples ? static_cast<double>(correct_top5) / samples : 0.0; }
  double throughput() const { return wall_seconds > 0 ? samples / wall_seconds : 0.0; }
};

// Runs the model (one input, first output = class scores [B, C, ...]) over the data set in batches
// of `batch`. A model with a fixed batch dimension gets batches of that size (the last one padded
// with zeros; padded rows are not counted). Progress goes to stderr when it is a terminal.
Result<EvalResult> evaluate(Executor& exec, Dataset& data, int64_t batch, const std::string& label);

// How a quantized run's first output compares with a reference run's on the same data.
struct OutputAgreement {
  int64_t samples = 0;
  int64_t same_top1 = 0;     // rows whose argmax is the same
  double sqnr_db = 0.0;      // 10 log10(sum ref^2 / sum (ref - q)^2) over all outputs
  double cosine = 0.0;       // cosine similarity of the flattened outputs, averaged over rows
  double max_abs_diff = 0.0;
  double agreement() const { return samples ? static_cast<double>(same_top1) / samples : 0.0; }
};

// The same loop for any runner (QuantSim, a second executor): `model` declares the input. With a
// `reference` runner, both run on every batch and `agreement` compares their first outputs;
// EvalResult then describes `run`.
using RunFn = std::function<Result<std::vector<Tensor>>(const Executor::Feeds&)>;
Result<EvalResult> evaluate(const Model& model, const RunFn& run, Dataset& data, int64_t batch,
                            const std::string& label, const RunFn& reference = {},
                            OutputAgreement* agreement = nullptr);

// Data options that fill in what the model declares: image size and channels from the input's
// shape when they were not given.
DataOptions data_options_for_model(DataOptions options, const Value& input, bool size_given);

}  // namespace quench::cli
