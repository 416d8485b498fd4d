// Round trip over every model of the ONNX backend test data (Debian's libonnx-testdata):
// import -> export must equal the original field for field (tensors compared by value), and
// import -> export -> import -> export must give the same bytes as the first export.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <iostream>

#include "core/file_io.h"
#include "onnx/onnx_io.h"

namespace quench::onnx {
namespace {

namespace fs = std::filesystem;

const char* const kTestData = "/usr/share/libonnx-testdata/data";

std::vector<std::string> corpus_models() {
  std::vector<std::string> out;
  for (const char* group : {"node", "pytorch-converted", "pytorch-operator", "simple", "real"}) {
    fs::path dir = fs::path(kTestData) / group;
    if (!fs::is_directory(dir)) continue;
    for (const auto& entry : fs::directory_iterator(dir)) {
      fs::path model = entry.path() / "model.onnx";
      if (fs::is_regular_file(model)) out.push_back(model.string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(OnnxRoundTrip, EveryBackendTestModel) {
  const std::vector<std::string> models = corpus_models();
  if (models.empty()) GTEST_SKIP() << kTestData << " not installed (apt install libonnx-testdata)";
  // The Debian package holds 1072 models; a much smaller count means the walk above broke.
  EXPECT_GT(models.size(), 1000u);
  int passed = 0, unsupported = 0;
  std::vector<std::string> failures;
  for (const std::string& path : models) {
    Result<std::string> original = read_file(path);
    ASSERT_TRUE(original.ok()) << original.status().message();
    Result<Model> m1 = load_model(path);
    if (!m1.ok() && m1.status().code() == StatusCode::kUnsupported) {
      ++unsupported;
      std::cout << "  unsupported: " << m1.status().message() << "\n";
      continue;
    }
    if (!m1.ok()) {
      failures.push_back(path + ": import: " + m1.status().message());
      continue;
    }
    Result<std::string> e1 = serialize_model(*m1);
    if (!e1.ok()) {
      failures.push_back(path + ": export: " + e1.status().message());
      continue;
    }
    Result<std::string> diff = diff_models(*original, *e1);
    if (!diff.ok() || !diff->empty()) {
      failures.push_back(path + ": export differs from the original:\n" +
                         (diff.ok() ? *diff : diff.status().message()));
      continue;
    }
    Result<Model> m2 = parse_model(*e1, fs::path(path).parent_path().string());
    if (!m2.ok()) {
      failures.push_back(path + ": re-import: " + m2.status().message());
      continue;
    }
    Result<std::string> e2 = serialize_model(*m2);
    if (!e2.ok() || *e2 != *e1) {
      failures.push_back(path + ": second export differs from the first");
      continue;
    }
    ++passed;
  }
  std::cout << "round trip: " << passed << " models passed, " << unsupported
            << " skipped as unsupported, " << failures.size() << " failed, of " << models.size()
            << "\n";
  for (size_t i = 0; i < failures.size() && i < 10; ++i) ADD_FAILURE() << failures[i];
  EXPECT_TRUE(failures.empty()) << failures.size() << " models failed the round trip";
  EXPECT_EQ(passed + unsupported, static_cast<int>(models.size()));
}

}  // namespace
}  // namespace quench::onnx
