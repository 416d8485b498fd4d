// Exports the bundled model and the test zoo through quench (import -> save_model) into
// <build>/roundtrip/. The exports must equal their originals; CTest then hands them to the
// onnxruntime cross-check (tests/CMakeLists.txt), which proves onnxruntime loads what quench writes.
#include <dirent.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/file_io.h"
#include "onnx/onnx_io.h"
#include "testutil.h"

namespace quench {
namespace {

std::vector<std::string> onnx_files(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n.size() > 5 && n.substr(n.size() - 5) == ".onnx") out.push_back(dir + "/" + n);
    }
    closedir(d);
  }
  return out;
}

TEST(ExportZoo, ExportsEqualOriginals) {
  const std::string out_dir = std::string(QUENCH_BINARY_DIR) + "/roundtrip";
  ::mkdir(out_dir.c_str(), 0755);
  std::vector<std::string> models = onnx_files(testing::source_path("models"));
  for (const std::string& m : onnx_files(testing::source_path("models/zoo"))) models.push_back(m);
  ASSERT_GE(models.size(), 5u);
  for (const std::string& path : models) {
    SCOPED_TRACE(path);
    auto model = onnx::load_model(path);
    ASSERT_TRUE(model.ok()) << model.status().message();
    std::string dst = out_dir + "/" + path.substr(path.rfind('/') + 1);
    ASSERT_TRUE(onnx::save_model(*model, dst).ok());
    auto a = read_file(path);
    auto b = read_file(dst);
    ASSERT_TRUE(a.ok() && b.ok());
    auto diff = onnx::diff_models(*a, *b);
    ASSERT_TRUE(diff.ok()) << diff.status().message();
    EXPECT_EQ(*diff, "");
  }
}

}  // namespace
}  // namespace quench
