// Helpers shared by the data tests: a scratch folder, raw file writes, numpy via /usr/bin/python3.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace quench::testing {

// A fresh folder under /tmp, removed with everything in it at the end of the test.
class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "quench-test-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) ADD_FAILURE() << "mkdtemp failed";
    path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// "'path'", the way quench messages quote file names.
inline std::string qp(const std::string& path) {
  std::string s = "'";
  s += path;
  s += "'";
  return s;
}

// Runs a Python script with the system interpreter (which has numpy); returns its exit status.
inline int run_python(const ScratchDir& dir, const std::string& script) {
  std::string path = dir.file("script.py");
  write_bytes(path, script);
  std::string cmd = "/usr/bin/python3 " + path;
  return std::system(cmd.c_str());
}

}  // namespace quench::testing
