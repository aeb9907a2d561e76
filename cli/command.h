// The `ponder` CLI is a set of subcommands. Each lives in its own `*_command.cc` file in this
// folder and registers itself with PONDER_REGISTER_COMMAND; `ponder_main.cc` dispatches.
//
// A command returns the process exit code: 0 on success, 1 on a runtime error, 2 on a usage
// error. Results go to stdout, diagnostics to stderr.
#ifndef PONDER_CLI_COMMAND_H_
#define PONDER_CLI_COMMAND_H_

#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace ponder::cli {

using CommandFn = int (*)(std::span<char* const> args);

struct Command {
  std::string_view name;
  std::string_view summary;
  CommandFn run;
};

// Registers `command`; called from static initializers (see PONDER_REGISTER_COMMAND).
bool RegisterCommand(const Command& command);

// Prints a status from FlagParser::Parse or a command and returns the exit code for it:
// --help (kCancelled) prints usage to stdout and gives 0; argument errors give 2; others 1.
int ReportStatus(std::string_view command, const absl::Status& status);

// Whether `path` is a file that starts with GGUF's magic (false for a folder or a missing file).
bool IsGgufFile(const std::string& path);

}  // namespace ponder::cli

#define PONDER_REGISTER_COMMAND(name, summary, fn)                \
  [[maybe_unused]] static const bool ponder_command_registered_ = \
      ::ponder::cli::RegisterCommand({name, summary, fn})

#endif  // PONDER_CLI_COMMAND_H_
