// quench_conformance: the ONNX backend test suite of Debian's libonnx-testdata, run through the executor.
//
// Every case directory (model.onnx + test_data_set_*/{input,output}_N.pb) is loaded, run and compared
// with the reference outputs (rtol 1e-3, atol 1e-7 as in onnx.backend.test, with a per-case override).
// A case ends as one of:
//   pass         outputs match
//   skip         listed in the skip-list (tests/conformance/skiplist.jsonc) with its reason group
//   unsupported  the model uses an op that has no kernel in the registry (not counted as a failure:
//                the rule is that every case of an op *in the registry* passes or is skip-listed)
//   fail         anything else: a wrong number, an error, a crash-free refusal of a registered op
// The exit code is non-zero when a case fails, when a skip-listed case now passes (stale entry,
// with --strict), or when fewer node cases pass than --min-node-pass.
//
//   quench_conformance [--data DIR] [--skiplist FILE] [--filter SUBSTR] [--min-node-pass N] [-v]

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "onnx/onnx_io.h"
#include "runtime/executor.h"

using namespace quench;

namespace {

std::vector<std::string> list_dir(const std::string& path, bool dirs) {
  std::vector<std::string> out;
  DIR* d = opendir(path.c_str());
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    struct stat st {};
    if (stat((path + "/" + n).c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode) == dirs) out.push_back(n);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

bool file_exists(const std::string& p) {
  struct stat st {};
  return stat(p.c_str(), &st) == 0;
}

struct Skip {
  std::string reason;
};

struct Outcome {
  enum Kind { kPass, kFail, kSkip, kUnsupported } kind;
  std::string detail;
};

std::string compare(const Tensor& got, const Tensor& want, double rtol, double atol) {
  if (got.dtype() != want.dtype()) {
    return "dtype " + std::string(dtype_name(got.dtype())) + ", expected " +
           std::string(dtype_name(want.dtype()));
  }
  if (got.shape() != want.shape()) {
    return "shape " + shape_to_string(got.shape()) + ", expected " + shape_to_string(want.shape());
  }
  std::vector<double> a = got.to_double_vector(), b = want.to_double_vector();
  if (a.size() != b.size()) return "cannot compare element type " + std::string(dtype_name(got.dtype()));
  size_t bad = 0, first = 0;
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) && std::isnan(b[i])) continue;
    if (a[i] == b[i]) continue;  // also equal infinities
    double diff = std::fabs(a[i] - b[i]);
    if (diff <= atol + rtol * std::fabs(b[i])) continue;
    if (bad == 0) first = i;
    ++bad;
    worst = std::max(worst, diff);
  }
  if (bad == 0) return "";
  std::ostringstream os;
  os << bad << "/" << a.size() << " elements differ (first at " << first << ": " << a[first]
     << " vs " << b[first] << ", max abs diff " << worst << ")";
  return os.str();
}

Outcome run_case(const std::string& dir, double rtol, double atol) {
  auto model = onnx::load_model(dir + "/model.onnx");
  if (!model.ok()) {
    if (model.status().code() == StatusCode::kUnsupported) return {Outcome::kUnsupported, model.status().message()};
    return {Outcome::kFail, "load: " + model.status().message()};
  }
  auto shared = std::make_shared<Model>(std::move(model).value());
  if (!Executor::unsupported_ops(*shared).empty()) {
    return {Outcome::kUnsupported, Executor::unsupported_ops(*shared)[0]};
  }
  auto exec = Executor::create(shared, {.num_threads = 0});
  if (!exec.ok()) return {Outcome::kFail, "create: " + exec.status().message()};
  const Graph& g = *shared->graph;
  std::vector<const Value*> feedable;
  for (const Value* v : g.inputs)
    if (!v->is_constant()) feedable.push_back(v);
  int sets = 0;
  for (const std::string& set : list_dir(dir, true)) {
    if (set.rfind("test_data_set_", 0) != 0) continue;
    std::string sd = dir + "/" + set;
    Executor::Feeds feeds;
    for (size_t i = 0; file_exists(sd + "/input_" + std::to_string(i) + ".pb"); ++i) {
      auto t = onnx::load_tensor(sd + "/input_" + std::to_string(i) + ".pb");
      if (!t.ok()) return {Outcome::kFail, set + ": input " + std::to_string(i) + ": " + t.status().message()};
      if (i >= feedable.size()) return {Outcome::kFail, set + ": more inputs than the model has"};
      feeds.emplace_back(feedable[i]->name, std::move(t).value());
    }
    auto out = (*exec)->run(feeds);
    if (!out.ok()) return {Outcome::kFail, set + ": run: " + out.status().message()};
    if (!file_exists(sd + "/output_0.pb")) return {Outcome::kFail, set + ": no output_0.pb to compare with"};
    for (size_t i = 0; i < out->size(); ++i) {
      std::string p = sd + "/output_" + std::to_string(i) + ".pb";
      if (!file_exists(p)) break;
      auto want = onnx::load_tensor(p);
      if (!want.ok()) return {Outcome::kFail, set + ": output " + std::to_string(i) + ": " + want.status().message()};
      std::string diff = compare((*out)[i], *want, rtol, atol);
      if (!diff.empty()) return {Outcome::kFail, set + ": output " + std::to_string(i) + ": " + diff};
    }
    ++sets;
  }
  if (sets == 0) return {Outcome::kFail, "no test_data_set_* folder"};
  return {Outcome::kPass, ""};
}

}  // namespace

int main(int argc, char** argv) {
  std::string data = "/usr/share/libonnx-testdata/data";
  std::string skiplist_path = std::string(QUENCH_SOURCE_DIR) + "/tests/conformance/skiplist.jsonc";
  std::string filter;
  int min_node_pass = 0;
  bool verbose = false, strict = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--data") data = next();
    else if (a == "--skiplist") skiplist_path = next();
    else if (a == "--filter") filter = next();
    else if (a == "--min-node-pass") min_node_pass = std::atoi(next().c_str());
    else if (a == "-v" || a == "--verbose") verbose = true;
    else if (a == "--strict") strict = true;
    else {
      std::fprintf(stderr, "usage: %s [--data DIR] [--skiplist FILE] [--filter S] [--min-node-pass N] [--strict] [-v]\n", argv[0]);
      return 2;
    }
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if (!file_exists(data + "/node")) {
    std::fprintf(stderr, "quench_conformance: %s/node not found: install Debian package libonnx-testdata\n", data.c_str());
    return 1;
  }

  std::map<std::string, Skip> skips;
  std::map<std::string, std::pair<double, double>> tolerances;
  {
    std::ifstream in(skiplist_path);
    if (!in) {
      std::fprintf(stderr, "quench_conformance: cannot open skip-list %s\n", skiplist_path.c_str());
      return 1;
    }
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(in, nullptr, true, /*ignore_comments=*/true);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "quench_conformance: %s: %s\n", skiplist_path.c_str(), e.what());
      return 1;
    }
    for (auto& [reason, cases] : j["skip"].items())
      for (auto& c : cases) skips[c.get<std::string>()] = Skip{reason};
    if (j.contains("tolerance"))
      for (auto& [c, t] : j["tolerance"].items()) tolerances[c] = {t.at(0).get<double>(), t.at(1).get<double>()};
  }

  struct Counts { int pass = 0, fail = 0, skip = 0, unsupported = 0; };
  std::map<std::string, Counts> counts;
  std::vector<std::string> failures, stale;
  std::set<std::string> seen_cases;
  for (const std::string suite : {"node", "pytorch-converted", "pytorch-operator", "simple"}) {
    for (const std::string& name : list_dir(data + "/" + suite, true)) {
      std::string dir = data + "/" + suite + "/" + name;
      if (!file_exists(dir + "/model.onnx")) continue;
      if (!filter.empty() && name.find(filter) == std::string::npos) continue;
      seen_cases.insert(name);
      Counts& c = counts[suite];
      double rtol = 1e-3, atol = 1e-7;
      if (auto t = tolerances.find(name); t != tolerances.end()) std::tie(rtol, atol) = t->second;
      Outcome o;
      try {
        o = run_case(dir, rtol, atol);
      } catch (const std::exception& e) {
        o = {Outcome::kFail, std::string("exception: ") + e.what()};
      }
      auto sk = skips.find(name);
      if (sk != skips.end()) {
        if (o.kind == Outcome::kPass) stale.push_back(name + " (" + sk->second.reason + ")");
        ++c.skip;
        if (verbose) std::printf("SKIP %s/%s: %s\n", suite.c_str(), name.c_str(), sk->second.reason.c_str());
        continue;
      }
      switch (o.kind) {
        case Outcome::kPass: ++c.pass; if (verbose) std::printf("PASS %s/%s\n", suite.c_str(), name.c_str()); break;
        case Outcome::kUnsupported:
          ++c.unsupported;
          if (verbose) std::printf("UNSUPPORTED %s/%s: %s\n", suite.c_str(), name.c_str(), o.detail.c_str());
          break;
        case Outcome::kFail:
        case Outcome::kSkip:
          ++c.fail;
          failures.push_back(suite + "/" + name + ": " + o.detail);
          break;
      }
    }
  }
  for (const std::string& f : failures) std::printf("FAIL %s\n", f.c_str());
  for (const std::string& s : stale) std::printf("STALE skip-list entry (now passes): %s\n", s.c_str());
  int total_pass = 0;
  for (auto& [suite, c] : counts) {
    std::printf("%-18s pass %4d  fail %3d  skip-listed %3d  op not in registry %3d\n", suite.c_str(),
                c.pass, c.fail, c.skip, c.unsupported);
    total_pass += c.pass;
  }
  int node_pass = counts["node"].pass;
  std::printf("conformance: %d cases pass (%d node cases)\n", total_pass, node_pass);
  bool ok = failures.empty() && node_pass >= min_node_pass && (!strict || stale.empty());
  if (node_pass < min_node_pass)
    std::printf("conformance: FAILED: %d node cases pass, at least %d required\n", node_pass, min_node_pass);
  return ok ? 0 : 1;
}
