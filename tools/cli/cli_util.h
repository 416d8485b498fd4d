// quench CLI: helpers shared by the commands.
//
// The CLI is the only part of quench that prints or decides the exit code. Each command is a
// function returning Status; main() prints a failed Status as one line
//   quench: error: <message>
// on stderr and exits with 1 (2 for command-line usage errors found by CLI11).
//
//   CliCommand add_inspect_command(CLI::App& app);   // one per cmd_*.cpp, see commands.h
//   QUENCH_ASSIGN_OR_RETURN(auto model, load_model_file(path));
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "data/dataset.h"
#include "ir/graph.h"
#include "runtime/executor.h"

namespace CLI {
class App;
}

namespace quench::cli {

// A subcommand and what to run when it was the one on the command line.
struct CliCommand {
  CLI::App* app = nullptr;
  std::function<Status()> run;
};

// Loads and verifies a model; the message says which file and why ("no such file", "not an ONNX
// model", the graph rule it breaks).
Result<std::shared_ptr<Model>> load_model_file(const std::string& path);

// Graph inputs that must be fed (initializers listed as inputs have defaults and are skipped).
std::vector<const Value*> feed_inputs(const Model& model);

// "[batch, 1, 28, 28]"; unknown dims "?"; "unknown" when the rank is unknown.
std::string dims_string(const Value& v);
// "float32" or "?" when undefined.
std::string dtype_string(DType t);
// The data layer's view of a model input.
InputSpec input_spec(const Value& v);

ExecutorOptions executor_options(int threads);
// The thread count a run will use (threads <= 0: all cores).
int effective_threads(int threads);

// Output name -> file name: characters outside [A-Za-z0-9_.-] become '_'.
std::string sanitize_file_name(const std::string& name);

// "0.5,0.25, 1" -> {0.5, 0.25, 1}; `what` names the option in errors.
Result<std::vector<float>> parse_float_list(const std::string& text, const std::string& what);
// "224x224" (or "224,224") -> {224, 224}.
Result<std::vector<int64_t>> parse_dims(const std::string& text, const std::string& what);
// "data", "nchw" / "nhwc".
Result<Layout> parse_layout(const std::string& text);

// Peak resident set size of this process (getrusage ru_maxrss), in MiB.
double peak_rss_mb();
// True when stderr is a terminal (progress lines are shown only then).
bool stderr_is_terminal();

// Seconds since an arbitrary start (steady clock).
double now_seconds();

// Percentile with linear interpolation between closest ranks (same rule as bench/ort_bench.mjs);
// `sorted` ascending, p in [0, 100].
double percentile(const std::vector<double>& sorted, double p);

// Prints to stdout (the CLI's only printing helpers besides main's error line).
void print_line(const std::string& line);
// "\r<text>" on stderr when it is a terminal; done() clears the line.
class Progress {
 public:
  explicit Progress(bool enabled) : enabled_(enabled) {}
  void update(const std::string& text);
  void done();

 private:
  bool enabled_;
  double last_ = -1.0;
  size_t width_ = 0;
};

}  // namespace quench::cli
