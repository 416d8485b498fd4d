#include "cli_util.h"

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "core/parallel.h"
#include "onnx/onnx_io.h"

namespace quench::cli {

Result<std::shared_ptr<Model>> load_model_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return Status::not_found("model file '" + path + "' does not exist");
  }
  if (std::filesystem::is_directory(path, ec)) {
    return Status::invalid("'" + path + "' is a folder, not an ONNX model file");
  }
  Result<Model> loaded = onnx::load_model(path);
  if (!loaded.ok()) return loaded.status();
  auto model = std::make_shared<Model>(std::move(loaded).value());
  QUENCH_RETURN_IF_ERROR(verify_graph(*model->graph).with_context(path));
  return model;
}

std::vector<const Value*> feed_inputs(const Model& model) {
  std::vector<const Value*> out;
  for (const Value* v : model.graph->inputs) {
    if (!v->is_constant()) out.push_back(v);
  }
  return out;
}

std::string dims_string(const Value& v) {
  if (!v.has_shape) return "unknown";
  std::string out = "[";
  for (size_t i = 0; i < v.shape.size(); ++i) {
    if (i) out += ", ";
    const Dim& d = v.shape[i];
    if (d.known()) out += std::to_string(d.value);
    else if (!d.symbol.empty()) out += d.symbol;
    else out += "?";
  }
  return out + "]";
}

std::string dtype_string(DType t) {
  return t == DType::kUndefined ? std::string("?") : std::string(dtype_name(t));
}

InputSpec input_spec(const Value& v) {
  InputSpec s;
  s.name = v.name;
  for (const Dim& d : v.shape) {
    s.dims.push_back(d.known() ? d.value : -1);
    s.symbols.push_back(d.known() ? std::string() : d.symbol);
  }
  return s;
}

ExecutorOptions executor_options(int threads) {
  ExecutorOptions o;
  o.num_threads = threads;
  return o;
}

int effective_threads(int threads) {
  if (threads > 0) return threads;
  set_num_threads(0);
  return num_threads();
}

std::string sanitize_file_name(const std::string& name) {
  std::string out = name;
  for (char& c : out) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-';
    if (!ok) c = '_';
  }
  return out;
}

namespace {
std::vector<std::string> split(const std::string& text, const std::string& seps) {
  std::vector<std::string> parts;
  std::string cur;
  for (char c : text) {
    if (seps.find(c) != std::string::npos) {
      parts.push_back(cur);
      cur.clear();
    } else if (c != ' ') {
      cur += c;
    }
  }
  parts.push_back(cur);
  return parts;
}
}  // namespace

Result<std::vector<float>> parse_float_list(const std::string& text, const std::string& what) {
  std::vector<float> out;
  for (const std::string& p : split(text, ",")) {
    char* end = nullptr;
    float v = std::strtof(p.c_str(), &end);
    if (p.empty() || *end != '\0' || !std::isfinite(v)) {
      return Status::invalid(what + ": '" + text + "' is not a comma-separated list of numbers");
    }
    out.push_back(v);
  }
  return out;
}

Result<std::vector<int64_t>> parse_dims(const std::string& text, const std::string& what) {
  std::vector<int64_t> out;
  for (const std::string& p : split(text, "x,")) {
    char* end = nullptr;
    long long v = std::strtoll(p.c_str(), &end, 10);
    if (p.empty() || *end != '\0' || v < 0 || v > (1LL << 40)) {
      return Status::invalid(what + ": '" + text +
                             "' is not a list of non-negative sizes like 224x224 or 1,3,224,224");
    }
    out.push_back(v);
  }
  return out;
}

Result<Layout> parse_layout(const std::string& text) {
  if (text == "nchw" || text == "NCHW") return Layout::kNCHW;
  if (text == "nhwc" || text == "NHWC") return Layout::kNHWC;
  return Status::invalid("--layout: '" + text + "' is neither nchw nor nhwc");
}

double peak_rss_mb() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // Linux reports KiB
}

bool stderr_is_terminal() { return ::isatty(STDERR_FILENO) == 1; }

double now_seconds() {
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return std::nan("");
  double rank = p / 100.0 * static_cast<double>(sorted.size() - 1);
  size_t lo = static_cast<size_t>(std::floor(rank));
  size_t hi = static_cast<size_t>(std::ceil(rank));
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - static_cast<double>(lo));
}

void print_line(const std::string& line) {
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
}

void Progress::update(const std::string& text) {
  if (!enabled_) return;
  double t = now_seconds();
  if (t - last_ < 0.1) return;  // a terminal does not need more than 10 updates a second
  last_ = t;
  std::fprintf(stderr, "\r%s", text.c_str());
  if (text.size() < width_) std::fprintf(stderr, "%*s", static_cast<int>(width_ - text.size()), "");
  width_ = std::max(width_, text.size());
  std::fflush(stderr);
}

void Progress::done() {
  if (!enabled_ || width_ == 0) return;
  std::fprintf(stderr, "\r%*s\r", static_cast<int>(width_), "");
  std::fflush(stderr);
}

}  // namespace quench::cli
