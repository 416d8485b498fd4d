// quench inspect MODEL [--json]: what a model is made of. Unsupported ops are reported, not an
// error, so that inspect works on any valid model.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "commands.h"

namespace quench::cli {
namespace {

struct InspectOptions {
  std::string model;
  bool json = false;
};

struct OpCount {
  std::string op;
  int64_t count = 0;
};

// "'Foo' (node 'n3')" -> {"Foo", "n3"}; anything else stays whole in `op`.
std::pair<std::string, std::string> split_unsupported(const std::string& s) {
  const std::string mid = "' (node '";
  size_t m = s.find(mid);
  if (s.size() > 2 && s.front() == '\'' && m != std::string::npos && s.size() >= 2 &&
      s.compare(s.size() - 2, 2, "')") == 0) {
    return {s.substr(1, m - 1), s.substr(m + mid.size(), s.size() - 2 - (m + mid.size()))};
  }
  return {s, ""};
}

nlohmann::ordered_json dims_json(const Value& v) {
  if (!v.has_shape) return nullptr;
  auto a = nlohmann::ordered_json::array();
  for (const Dim& d : v.shape) {
    if (d.known()) a.push_back(d.value);
    else if (!d.symbol.empty()) a.push_back(d.symbol);
    else a.push_back(nullptr);
  }
  return a;
}

std::string human_bytes(int64_t bytes) {
  if (bytes < 1024) return fmt::format("{} B", bytes);
  if (bytes < 1024 * 1024) return fmt::format("{:.1f} KiB", bytes / 1024.0);
  if (bytes < (int64_t{1} << 30)) return fmt::format("{:.2f} MiB", bytes / 1048576.0);
  return fmt::format("{:.2f} GiB", bytes / 1073741824.0);
}

// 1234567 -> "1,234,567"
std::string grouped(int64_t v) {
  std::string s = std::to_string(v);
  for (int i = static_cast<int>(s.size()) - 3; i > (v < 0 ? 1 : 0); i -= 3) s.insert(static_cast<size_t>(i), ",");
  return s;
}

Status run_inspect(const InspectOptions& o) {
  QUENCH_ASSIGN_OR_RETURN(std::shared_ptr<Model> model, load_model_file(o.model));
  const Graph& g = *model->graph;

  std::map<std::string, int64_t> counts;
  for (const Node* n : g.nodes()) {
    bool default_domain = n->domain.empty() || n->domain == "ai.onnx";
    counts[default_domain ? n->op_type : n->domain + "." + n->op_type]++;
  }
  std::vector<OpCount> ops;
  for (auto& [op, c] : counts) ops.push_back({op, c});
  std::stable_sort(ops.begin(), ops.end(), [](const OpCount& a, const OpCount& b) {
    return a.count > b.count;  // ties stay in name order
  });
  int64_t params = 0, param_bytes = 0;
  for (const Value* v : g.initializers) {
    if (!v->is_constant()) continue;
    params += v->constant.numel();
    param_bytes += static_cast<int64_t>(v->constant.nbytes());
  }
  std::vector<std::string> unsupported = Executor::unsupported_ops(*model);
  std::vector<const Value*> inputs = feed_inputs(*model);

  if (o.json) {
    nlohmann::ordered_json j;
    j["model"] = o.model;
    j["ir_version"] = model->ir_version;
    auto opsets = nlohmann::ordered_json::array();
    for (const OpsetImport& op : model->opset_imports) {
      opsets.push_back({{"domain", op.domain.empty() ? "ai.onnx" : op.domain}, {"version", op.version}});
    }
    j["opset_imports"] = opsets;
    j["producer"] = {{"name", model->producer_name}, {"version", model->producer_version}};
    j["graph"] = g.name;
    auto io = [](const std::vector<const Value*>& values) {
      auto a = nlohmann::ordered_json::array();
      for (const Value* v : values) {
        a.push_back({{"name", v->name}, {"dtype", dtype_string(v->dtype)}, {"shape", dims_json(*v)}});
      }
      return a;
    };
    j["inputs"] = io(inputs);
    j["outputs"] = io(std::vector<const Value*>(g.outputs.begin(), g.outputs.end()));
    j["nodes"] = g.num_nodes();
    auto hist = nlohmann::ordered_json::object();
    for (const OpCount& c : ops) hist[c.op] = c.count;
    j["op_histogram"] = hist;
    j["parameters"] = {{"count", params}, {"bytes", param_bytes}, {"initializers", g.initializers.size()}};
    auto un = nlohmann::ordered_json::array();
    for (const std::string& s : unsupported) {
      auto [op, node] = split_unsupported(s);
      un.push_back({{"op", op}, {"node", node}});
    }
    j["unsupported_ops"] = un;
    print_line(j.dump(2));
    return Status();
  }

  std::string opsets;
  for (const OpsetImport& op : model->opset_imports) {
    if (!opsets.empty()) opsets += ", ";
    opsets += fmt::format("{} {}", op.domain.empty() ? "ai.onnx" : op.domain, op.version);
  }
  print_line(fmt::format("model:       {}", o.model));
  print_line(fmt::format("ir_version:  {}", model->ir_version));
  print_line(fmt::format("opset:       {}", opsets.empty() ? "none" : opsets));
  std::string producer = model->producer_name;
  if (!model->producer_version.empty()) producer += " " + model->producer_version;
  print_line(fmt::format("producer:    {}", producer.empty() ? "-" : producer));
  print_line(fmt::format("graph:       {} ({} nodes)", g.name.empty() ? "-" : g.name, g.num_nodes()));
  auto print_values = [](const char* title, const std::vector<const Value*>& values) {
    print_line(fmt::format("{} ({}):", title, values.size()));
    size_t w = 0;
    for (const Value* v : values) w = std::max(w, v->name.size());
    for (const Value* v : values) {
      print_line(fmt::format("  {:<{}}  {:<8} {}", v->name, w, dtype_string(v->dtype), dims_string(*v)));
    }
  };
  print_values("inputs", inputs);
  print_values("outputs", std::vector<const Value*>(g.outputs.begin(), g.outputs.end()));
  print_line(fmt::format("parameters:  {} ({}) in {} initializers", grouped(params),
                         human_bytes(param_bytes), g.initializers.size()));
  print_line(fmt::format("ops ({} types):", ops.size()));
  size_t w = 0;
  for (const OpCount& c : ops) w = std::max(w, c.op.size());
  for (const OpCount& c : ops) print_line(fmt::format("  {:<{}}  {}", c.op, w, c.count));
  if (unsupported.empty()) {
    print_line("unsupported: none (every op has a kernel)");
  } else {
    print_line(fmt::format("unsupported ({} nodes; `quench run` will refuse this model):", unsupported.size()));
    for (const std::string& s : unsupported) print_line("  " + s);
  }
  return Status();
}

}  // namespace

CliCommand add_inspect_command(CLI::App& app) {
  auto o = std::make_shared<InspectOptions>();
  CLI::App* sub = app.add_subcommand("inspect", "Show a model's inputs, outputs, ops and parameters");
  sub->add_option("MODEL", o->model, "ONNX model file")->required();
  sub->add_flag("--json", o->json, "Print one JSON object instead of text");
  return {sub, [o] { return run_inspect(*o); }};
}

}  // namespace quench::cli
