// A small command-line flag parser for `ponder` subcommands: `--name value` or `--name=value`,
// repeatable list flags, booleans (`--flag`, `--flag=false`), and positional arguments.
// Errors name the flag and the rule that was broken.
#ifndef PONDER_BASE_FLAGS_H_
#define PONDER_BASE_FLAGS_H_

#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ponder {

class FlagParser {
 public:
  // `usage` is the one-line synopsis printed by Usage(), e.g. "ponder tokenize --model PATH ...".
  explicit FlagParser(std::string usage) : usage_(std::move(usage)) {}

  // Each Add* binds --name to `out`; `out` keeps its value when the flag is absent. An integer
  // that does not fit `out`'s type is an error naming the flag, never a truncated value: bind a
  // flag whose value ends up in an int (or int32 field) to an int.
  void AddString(std::string name, std::string* out, std::string help);
  void AddStringList(std::string name, std::vector<std::string>* out, std::string help);
  void AddInt(std::string name, int64_t* out, std::string help);
  void AddInt(std::string name, int* out, std::string help);
  void AddInt(std::string name, uint64_t* out, std::string help);  // seeds: 0 to 2^64 - 1
  void AddDouble(std::string name, double* out, std::string help);
  // Set only when the flag is given: "not given" cannot be mistaken for a value.
  void AddDouble(std::string name, std::optional<double>* out, std::string help);
  void AddBool(std::string name, bool* out, std::string help);

  // Parses `args` (not including the program and subcommand names). `--help` yields a
  // kCancelled status whose message is Usage(), so callers print it and exit 0. A flag given
  // twice keeps the last value (so a wrapper can override a default it passed), except one
  // marked RefuseRepeats.
  absl::Status Parse(std::span<char* const> args);

  // Makes a second --`name` an error naming the flag: for values where keeping only the last
  // would silently drop what the user meant (two --prompt texts). `name` must be added first.
  void RefuseRepeats(std::string_view name);

  bool WasSet(std::string_view name) const;
  const std::vector<std::string>& positional() const { return positional_; }
  std::string Usage() const;
  // InvalidArgument `message` with Usage() attached: ExitCodeFor prints the message on its line
  // and the usage text after it as it is (a message is one line; the usage is several).
  absl::Status UsageError(std::string_view message) const;

 private:
  enum class Kind { kString, kStringList, kInt64, kInt, kUint64, kDouble, kOptionalDouble, kBool };
  struct Flag {
    std::string name;
    Kind kind;
    void* out;
    std::string help;
    bool set = false;
    bool refuse_repeats = false;
  };
  Flag* Find(std::string_view name);
  absl::Status Assign(Flag& flag, std::string_view value);

  std::string usage_;
  std::vector<Flag> flags_;
  std::vector<std::string> positional_;
};

// OK when `value` is in [`min`, `max`]; otherwise InvalidArgument "--<flag> must be in [min,
// max], got <value>" ("must be >= <min>" when `max` is left out), followed by " (<why>)" when
// `why` is given, e.g. "0: all".
absl::Status CheckFlagRange(std::string_view flag, int64_t value, int64_t min,
                            int64_t max = std::numeric_limits<int64_t>::max(),
                            std::string_view why = "");

// The counts of a comma-separated list given to --`flag` (e.g. "1,4,16"), each from `min` to
// `max`; an error naming the flag and the first piece that is not one.
absl::StatusOr<std::vector<int>> ParseCounts(std::string_view flag, std::string_view text, int min,
                                             int max);

// `message` on one line, its control characters written as escapes (\n, \x00, \x1b ...): error
// messages quote what files and requests hold, and a NUL would cut the message short, an escape
// sequence drive the terminal, a line break forge a line of its own.
std::string TerminalSafe(std::string_view message);

// Writes "<program>: <message>" and a line break to stderr, the message through TerminalSafe:
// for the errors, warnings and log lines of Ponder's programs, which quote files' bytes.
void PrintToStderr(std::string_view program, std::string_view message);

// Prints `status` the way Ponder's command-line programs do and returns the exit code for it:
// --help (kCancelled from Parse) prints its usage text to stdout and gives 0; otherwise the
// message goes to stderr as "<program>: <message>" (then the usage of a UsageError), and the code
// is 2 for argument errors (kInvalidArgument) and 1 for everything else.
int ExitCodeFor(std::string_view program, const absl::Status& status);

}  // namespace ponder

#endif  // PONDER_BASE_FLAGS_H_
