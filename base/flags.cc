#include "base/flags.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/status_macros.h"
#include "base/strings.h"

namespace ponder {

void FlagParser::AddString(std::string name, std::string* out, std::string help) {
  flags_.push_back({std::move(name), Kind::kString, out, std::move(help)});
}
void FlagParser::AddStringList(std::string name, std::vector<std::string>* out, std::string help) {
  flags_.push_back({std::move(name), Kind::kStringList, out, std::move(help)});
}
void FlagParser::AddInt(std::string name, int64_t* out, std::string help) {
  flags_.push_back({std::move(name), Kind::kInt64, out, std::move(help)});
}
void FlagParser::AddInt(std::string name, int* out, std::string help) {
  flags_.push_back({std::move(name), Kind::kInt, out, std::move(help)});
}
void FlagParser::AddInt(std::string name, uint64_t* out, std::string help) {
  flags_.push_back({std::move(name), Kind::kUint64, out, std::move(help)});
}
void FlagParser::AddDouble(std::string name, double* out, std::string help) {
  flags_.push_back({std::move(name), Kind::kDouble, out, std::move(help)});
}
void FlagParser::AddDouble(std::string name, std::optional<double>* out, std::string help) {
  flags_.push_back({std::move(name), Kind::kOptionalDouble, out, std::move(help)});
}
void FlagParser::AddBool(std::string name, bool* out, std::string help) {
  flags_.push_back({std::move(name), Kind::kBool, out, std::move(help)});
}

FlagParser::Flag* FlagParser::Find(std::string_view name) {
  for (Flag& flag : flags_) {
    if (flag.name == name) return &flag;
  }
  return nullptr;
}

void FlagParser::RefuseRepeats(std::string_view name) {
  if (Flag* flag = Find(name); flag != nullptr) flag->refuse_repeats = true;
}

bool FlagParser::WasSet(std::string_view name) const {
  for (const Flag& flag : flags_) {
    if (flag.name == name) return flag.set;
  }
  return false;
}

namespace {

// `value` as an integer of type T in [low, high]; the errors name the flag, and tell a value
// that is not an integer from one out of range (SimpleAtoi fails on both).
template <typename T>
absl::StatusOr<T> ParseInteger(std::string_view flag, std::string_view value, T low, T high) {
  T number = 0;
  const bool parsed = absl::SimpleAtoi(AsAbsl(value), &number);
  absl::string_view digits = absl::StripAsciiWhitespace(AsAbsl(value));
  if (!absl::ConsumePrefix(&digits, "-")) absl::ConsumePrefix(&digits, "+");
  const bool integer = !digits.empty() && std::all_of(digits.begin(), digits.end(), [](char c) {
    return absl::ascii_isdigit(c);
  });
  if (!parsed && !integer) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", AsAbsl(flag), ": expected an integer, got '", AsAbsl(value), "'"));
  }
  if (!parsed || number < low || number > high) {
    return absl::InvalidArgumentError(absl::StrCat("--", AsAbsl(flag), ": ", AsAbsl(value),
                                                   " is out of range [", low, ", ", high, "]"));
  }
  return number;
}

absl::StatusOr<double> ParseNumber(std::string_view flag, std::string_view value) {
  double number = 0;
  if (!absl::SimpleAtod(AsAbsl(value), &number)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", AsAbsl(flag), ": expected a number, got '", AsAbsl(value), "'"));
  }
  return number;
}

}  // namespace

absl::Status FlagParser::Assign(Flag& flag, std::string_view value) {
  flag.set = true;
  switch (flag.kind) {
    case Kind::kString:
      *static_cast<std::string*>(flag.out) = std::string(value);
      return absl::OkStatus();
    case Kind::kStringList:
      static_cast<std::vector<std::string>*>(flag.out)->emplace_back(value);
      return absl::OkStatus();
    case Kind::kInt64: {
      PONDER_ASSIGN_OR_RETURN(
          *static_cast<int64_t*>(flag.out),
          ParseInteger<int64_t>(flag.name, value, std::numeric_limits<int64_t>::min(),
                                std::numeric_limits<int64_t>::max()));
      return absl::OkStatus();
    }
    case Kind::kInt: {
      PONDER_ASSIGN_OR_RETURN(
          const int64_t number,
          ParseInteger<int64_t>(flag.name, value, std::numeric_limits<int>::min(),
                                std::numeric_limits<int>::max()));
      *static_cast<int*>(flag.out) = static_cast<int>(number);
      return absl::OkStatus();
    }
    case Kind::kUint64: {
      PONDER_ASSIGN_OR_RETURN(
          *static_cast<uint64_t*>(flag.out),
          ParseInteger<uint64_t>(flag.name, value, 0, std::numeric_limits<uint64_t>::max()));
      return absl::OkStatus();
    }
    case Kind::kDouble: {
      PONDER_ASSIGN_OR_RETURN(*static_cast<double*>(flag.out), ParseNumber(flag.name, value));
      return absl::OkStatus();
    }
    case Kind::kOptionalDouble: {
      PONDER_ASSIGN_OR_RETURN(*static_cast<std::optional<double>*>(flag.out),
                              ParseNumber(flag.name, value));
      return absl::OkStatus();
    }
    case Kind::kBool:
      if (!absl::SimpleAtob(AsAbsl(value), static_cast<bool*>(flag.out))) {
        return absl::InvalidArgumentError(
            absl::StrCat("--", flag.name, ": expected true or false, got '", AsAbsl(value), "'"));
      }
      return absl::OkStatus();
  }
  return absl::InternalError("unknown flag kind");
}

absl::Status FlagParser::Parse(std::span<char* const> args) {
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg == "--help" || arg == "-h") return absl::CancelledError(Usage());
    if (arg == "--") {
      for (++i; i < args.size(); ++i) positional_.emplace_back(args[i]);
      break;
    }
    if (arg.size() < 3 || arg.substr(0, 2) != "--") {
      positional_.emplace_back(arg);
      continue;
    }
    std::string_view body = arg.substr(2);
    std::string_view name = body;
    std::optional<std::string_view> value;
    if (size_t eq = body.find('='); eq != std::string_view::npos) {
      name = body.substr(0, eq);
      value = body.substr(eq + 1);
    }
    Flag* flag = Find(name);
    if (flag == nullptr) {
      return UsageError(absl::StrCat("unknown flag --", AsAbsl(name)));
    }
    if (flag->set && flag->refuse_repeats) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", AsAbsl(name), " is given more than once; give it once"));
    }
    if (!value.has_value()) {
      if (flag->kind == Kind::kBool) {
        value = "true";
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return absl::InvalidArgumentError(absl::StrCat("--", AsAbsl(name), ": missing value"));
      }
    }
    if (absl::Status status = Assign(*flag, *value); !status.ok()) return status;
  }
  return absl::OkStatus();
}

namespace {

// The Status payload that carries a UsageError's usage text.
constexpr char kUsagePayload[] = "type.ponder.dev/flags.usage";

}  // namespace

absl::Status FlagParser::UsageError(std::string_view message) const {
  absl::Status status = absl::InvalidArgumentError(AsAbsl(message));
  status.SetPayload(kUsagePayload, absl::Cord(Usage()));
  return status;
}

std::string FlagParser::Usage() const {
  std::string out = absl::StrCat("usage: ", usage_, "\n");
  for (const Flag& flag : flags_) {
    absl::StrAppendFormat(&out, "  --%-18s %s\n", flag.name, flag.help);
  }
  return out;
}

absl::Status CheckFlagRange(std::string_view flag, int64_t value, int64_t min, int64_t max,
                            std::string_view why) {
  if (value >= min && value <= max) return absl::OkStatus();
  std::string message =
      max == std::numeric_limits<int64_t>::max()
          ? absl::StrCat("--", AsAbsl(flag), " must be >= ", min, ", got ", value)
          : absl::StrCat("--", AsAbsl(flag), " must be in [", min, ", ", max, "], got ", value);
  if (!why.empty()) absl::StrAppend(&message, " (", AsAbsl(why), ")");
  return absl::InvalidArgumentError(message);
}

absl::StatusOr<std::vector<int>> ParseCounts(std::string_view flag, std::string_view text, int min,
                                             int max) {
  std::vector<int> counts;
  for (const std::string& piece :
       std::vector<std::string>(absl::StrSplit(std::string(text), ','))) {
    int n = 0;
    if (!absl::SimpleAtoi(piece, &n) || n < min || n > max) {
      return absl::InvalidArgumentError(absl::StrCat("--", std::string(flag), ": '", piece,
                                                     "' is not a count from ", min, " to ", max));
    }
    counts.push_back(n);
  }
  return counts;
}

std::string TerminalSafe(std::string_view message) { return Printable(message); }

void PrintToStderr(std::string_view program, std::string_view message) {
  const std::string safe = TerminalSafe(message);
  std::fprintf(stderr, "%.*s: %.*s\n", static_cast<int>(program.size()), program.data(),
               static_cast<int>(safe.size()), safe.data());
}

int ExitCodeFor(std::string_view program, const absl::Status& status) {
  if (status.ok()) return 0;
  if (status.code() == absl::StatusCode::kCancelled) {
    std::fputs(std::string(status.message()).c_str(), stdout);
    return 0;
  }
  PrintToStderr(program, AsStd(status.message()));
  // The program's own text (flag names and help), not a quote of input: printed as it is.
  if (auto usage = status.GetPayload(kUsagePayload); usage.has_value()) {
    std::fputs(std::string(*usage).c_str(), stderr);
  }
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

}  // namespace ponder
