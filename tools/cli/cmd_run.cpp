// quench run MODEL --input [name=]x.npy ...: one inference on .npy inputs, outputs to .npy files.
// Inputs without a name are given to the model's inputs in graph order (after the named ones are
// taken out).
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "commands.h"
#include "data/npy.h"

namespace quench::cli {
namespace {

struct RunOptions {
  std::string model;
  std::vector<std::string> inputs;
  std::string output;
  std::string output_dir;
  int threads = 0;
};

std::string names_list(const std::vector<const Value*>& values) {
  std::string s;
  for (const Value* v : values) s += (s.empty() ? "'" : ", '") + v->name + "'";
  return s.empty() ? "none" : s;
}

// Pairs every --input with a model input.
Result<Executor::Feeds> assign_inputs(const Model& model, const std::vector<std::string>& args) {
  std::vector<const Value*> wanted = feed_inputs(model);
  std::vector<std::pair<const Value*, std::string>> named;
  std::vector<std::string> positional;
  for (const std::string& a : args) {
    size_t eq = a.find('=');
    std::error_code ec;
    if (eq == std::string::npos || eq == 0 || std::filesystem::exists(a, ec)) {
      positional.push_back(a);
      continue;
    }
    std::string name = a.substr(0, eq);
    auto it = std::find_if(wanted.begin(), wanted.end(), [&](const Value* v) { return v->name == name; });
    if (it == wanted.end()) {
      return Status::invalid("--input " + a + ": the model has no input named '" + name +
                             "' (inputs: " + names_list(wanted) + ")");
    }
    for (const auto& [v, file] : named) {
      if (v->name == name) return Status::invalid("input '" + name + "' is given twice");
    }
    named.emplace_back(*it, a.substr(eq + 1));
  }
  std::vector<const Value*> open;
  for (const Value* v : wanted) {
    bool taken = std::any_of(named.begin(), named.end(), [&](const auto& p) { return p.first == v; });
    if (!taken) open.push_back(v);
  }
  if (positional.size() > open.size()) {
    return Status::invalid(fmt::format("{} --input files given but the model has {} input{} ({})",
                                       args.size(), wanted.size(), wanted.size() == 1 ? "" : "s",
                                       names_list(wanted)));
  }
  for (size_t i = 0; i < positional.size(); ++i) named.emplace_back(open[i], positional[i]);
  if (positional.size() < open.size()) {
    const Value* missing = open[positional.size()];
    return Status::invalid("model input '" + missing->name + "' (" + dtype_string(missing->dtype) +
                           " " + dims_string(*missing) + ") has no data: give --input " +
                           missing->name + "=FILE.npy");
  }
  Executor::Feeds feeds;
  for (const auto& [v, file] : named) {
    Result<Tensor> t = read_npy(file);
    if (!t.ok()) return t.status().with_context("input '" + v->name + "'");
    feeds.emplace_back(v->name, std::move(t).value());
  }
  // Graph order, whatever the command-line order was.
  std::vector<std::pair<std::string, Tensor>> ordered;
  for (const Value* v : wanted) {
    for (auto& f : feeds) {
      if (f.first == v->name) ordered.push_back(f);
    }
  }
  return ordered;
}

std::string preview(const Tensor& t) {
  constexpr int64_t kMax = 10;
  std::vector<double> v = t.to_double_vector();
  if (v.empty() && t.numel() > 0) return "(values not printable)";
  std::string s = "[";
  for (int64_t i = 0; i < std::min<int64_t>(kMax, static_cast<int64_t>(v.size())); ++i) {
    s += (i ? ", " : "") + fmt::format("{:.6g}", v[static_cast<size_t>(i)]);
  }
  if (static_cast<int64_t>(v.size()) > kMax) s += fmt::format(", ... ({} values)", v.size());
  return s + "]";
}

Status run_run(const RunOptions& o) {
  if (o.inputs.empty()) return Status::invalid("no input given: use --input [name=]FILE.npy");
  QUENCH_ASSIGN_OR_RETURN(std::shared_ptr<Model> model, load_model_file(o.model));
  QUENCH_ASSIGN_OR_RETURN(Executor::Feeds feeds, assign_inputs(*model, o.inputs));
  QUENCH_ASSIGN_OR_RETURN(auto exec, Executor::create(model, executor_options(o.threads)));
  QUENCH_ASSIGN_OR_RETURN(std::vector<Tensor> outputs, exec->run(feeds));
  const Graph& g = *model->graph;
  if (!o.output_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(o.output_dir, ec);
    if (ec) return Status::io_error("--output-dir '" + o.output_dir + "': cannot create (" + ec.message() + ")");
  }
  std::set<std::string> written;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const std::string& name = g.outputs[i]->name;
    QUENCH_ASSIGN_OR_RETURN(Tensor t, to_plain(outputs[i]));
    std::vector<std::string> files;
    if (i == 0 && !o.output.empty()) files.push_back(o.output);
    if (!o.output_dir.empty()) {
      std::string file = (std::filesystem::path(o.output_dir) / (sanitize_file_name(name) + ".npy")).string();
      if (!written.insert(file).second) {
        return Status::invalid("outputs named alike map to one file '" + file + "' (output '" + name + "')");
      }
      files.push_back(file);
    }
    for (const std::string& f : files) {
      QUENCH_RETURN_IF_ERROR(write_npy(f, t).with_context("output '" + name + "'"));
    }
    std::string line = fmt::format("{}: {}", name, t.describe());
    if (files.empty()) line += " " + preview(t);
    for (const std::string& f : files) line += " -> " + f;
    print_line(line);
  }
  return Status();
}

}  // namespace

CliCommand add_run_command(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* sub = app.add_subcommand("run", "Run a model once on .npy inputs");
  sub->add_option("MODEL", o->model, "ONNX model file")->required();
  sub->add_option("-i,--input", o->inputs,
                  "Input data as [name=]file.npy (repeat for several inputs; without name= they "
                  "are taken in the model's input order)")
      ->allow_extra_args(false);
  sub->add_option("-o,--output", o->output, "Write the first output to this .npy file");
  sub->add_option("--output-dir", o->output_dir,
                  "Write every output to DIR/<name>.npy (characters outside [A-Za-z0-9_.-] in the "
                  "name become _)");
  sub->add_option("-t,--threads", o->threads, "Intra-op threads (0 = all cores)")
      ->check(CLI::Range(0, 4096));
  return {sub, [o] { return run_run(*o); }};
}

}  // namespace quench::cli
