// `ponder`: the command-line client, benchmark runner and tool box. Subcommands register
// themselves (cli/command.h); this file only dispatches.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/flags.h"
#include "base/strings.h"
#include "cli/command.h"

namespace ponder::cli {
namespace {

std::vector<Command>& Registry() {
  static std::vector<Command> commands;
  return commands;
}

void PrintUsage(std::FILE* out) {
  std::vector<Command> commands = Registry();
  std::sort(commands.begin(), commands.end(),
            [](const Command& a, const Command& b) { return a.name < b.name; });
  absl::FPrintF(out,
                "usage: ponder <command> [flags]   (ponder <command> --help for its flags)\n\n");
  for (const Command& command : commands) {
    absl::FPrintF(out, "  %-14s %s\n", command.name, command.summary);
  }
}

}  // namespace

bool RegisterCommand(const Command& command) {
  Registry().push_back(command);
  return true;
}

bool IsGgufFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, sizeof(magic)) && std::string_view(magic, 4) == "GGUF";
}

int ReportStatus(std::string_view command, const absl::Status& status) {
  return ExitCodeFor(absl::StrCat("ponder ", AsAbsl(command)), status);
}

}  // namespace ponder::cli

int main(int argc, char** argv) {
  using ponder::cli::Command;
  if (argc < 2 || std::string_view(argv[1]) == "--help" || std::string_view(argv[1]) == "help") {
    ponder::cli::PrintUsage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  std::string_view name = argv[1];
  for (const Command& command : ponder::cli::Registry()) {
    if (command.name == name) return command.run({argv + 2, static_cast<size_t>(argc - 2)});
  }
  absl::FPrintF(stderr, "ponder: unknown command '%s'\n\n", name);
  ponder::cli::PrintUsage(stderr);
  return 2;
}
