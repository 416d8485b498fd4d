// Running the `quench` binary from a test: arguments shell-quoted, stdout and stderr captured
// through files in the test's scratch folder (so stderr is never a terminal), stdin empty.
//
//   CliResult r = run_quench(dir, {"inspect", "model.onnx"});   // dir: anything with file(name)
//   EXPECT_EQ(r.code, 0);
#pragma once

#include <stdlib.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace quench::testing {

inline const std::string kQuenchBinary = QUENCH_BINARY_DIR "/tools/cli/quench";

struct CliResult {
  int code = -1;
  std::string out;
  std::string err;
};

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') q += "'\\''";
    else q += c;
  }
  return q + "'";
}

template <class Dir>
CliResult run_quench(const Dir& dir, const std::vector<std::string>& args) {
  std::string cmd = shell_quote(kQuenchBinary);
  // Appended piece by piece: GCC 12 warns (-Wrestrict, a false positive) on "literal" + string.
  for (const std::string& a : args) {
    cmd += ' ';
    cmd += shell_quote(a);
  }
  const std::string out = dir.file("stdout.txt"), err = dir.file("stderr.txt");
  cmd += " >";
  cmd += shell_quote(out);
  cmd += " 2>";
  cmd += shell_quote(err);
  cmd += " </dev/null";
  const int status = std::system(cmd.c_str());
  CliResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

}  // namespace quench::testing
