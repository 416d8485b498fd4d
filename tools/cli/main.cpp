// quench: the command-line tool.
//
//   quench inspect MODEL [--json]
//   quench run MODEL --input [name=]x.npy ... [--output y.npy | --output-dir DIR] [--threads N]
//   quench eval MODEL --data D [--labels L] [--batch 64] ...
//   quench bench MODEL [--batch 1] [--iterations 50] [--warmup 5] [--json]
//   quench demo
//
// Exit codes: 0 success, 1 an error in the input or the run (one line "quench: error: ..." on
// stderr), 2 a command-line usage error.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <new>
#include <string>
#include <vector>

#include "commands.h"

namespace {

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

void print_error(const std::string& message) {
  std::string line = "quench: error: " + message;
  // One line, whatever the message holds.
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  std::fprintf(stderr, "%s\n", line.c_str());
}

// "inspect, run, eval, bench, demo<last_sep>quantize".
std::string command_names(const std::vector<quench::cli::CliCommand>& commands,
                                 const std::string& last_sep) {
  std::string out;
  for (size_t i = 0; i < commands.size(); ++i) {
    if (i) out += i + 1 == commands.size() ? last_sep : ", ";
    out += commands[i].app->get_name();
  }
  return out;
}

int run_cli(int argc, char** argv) {
  using namespace quench::cli;
  CLI::App app{"quench: ONNX inference and post-training quantization on the CPU", "quench"};
  app.set_version_flag("--version", "quench 0.1.0");
  app.require_subcommand(1, 1);
  app.fallthrough(false);
  std::vector<CliCommand> commands = {add_inspect_command(app), add_run_command(app),
                                      add_eval_command(app), add_bench_command(app),
                                      add_demo_command(app), add_quantize_command(app)};
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string where = "quench";
    for (const CliCommand& c : commands) {
      if (c.app->parsed()) where += " " + c.app->get_name();
    }
    std::string what = e.what();
    if (what == "A subcommand is required" || what.rfind("Requires at least 1 subcommand", 0) == 0) {
      what = "a command is required: " + command_names(commands, " or ");
      if (argc > 1 && argv[1][0] != '-') {
        what = std::string("unknown command '") + argv[1] + "' (commands: " +
               command_names(commands, ", ") + ")";
      }
    }
    print_error(what + " (see " + where + " --help)");
    return kExitUsage;
  }
  for (const CliCommand& c : commands) {
    if (!c.app->parsed()) continue;
    quench::Status s = c.run();
    if (!s.ok()) {
      std::fflush(stdout);
      print_error(s.message());
      return kExitError;
    }
    return std::fflush(stdout) == 0 ? 0 : kExitError;
  }
  print_error("a command is required: " + command_names(commands, " or ") + " (see quench --help)");
  return kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  // Library code reports errors as values; this is the last line of defence against anything that
  // still throws (allocation failure, a bug), so that the user gets a message and not an abort.
  try {
    return run_cli(argc, argv);
  } catch (const std::bad_alloc&) {
    print_error("out of memory");
  } catch (const std::exception& e) {
    print_error(std::string("internal error: ") + e.what());
  } catch (...) {
    print_error("internal error: unknown exception");
  }
  return kExitError;
}
