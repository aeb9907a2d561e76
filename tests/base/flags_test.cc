#include "base/flags.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace ponder {
namespace {

std::vector<char*> Args(std::vector<std::string>& storage) {
  std::vector<char*> args;
  for (std::string& s : storage) args.push_back(s.data());
  return args;
}

TEST(FlagParserTest, ParsesAllKindsInBothSpellings) {
  std::string model;
  std::vector<std::string> stops;
  int64_t n = 1;
  double temperature = 1.0;
  bool chat = false;
  FlagParser parser("test");
  parser.AddString("model", &model, "");
  parser.AddStringList("stop", &stops, "");
  parser.AddInt("n", &n, "");
  parser.AddDouble("temperature", &temperature, "");
  parser.AddBool("chat", &chat, "");
  std::vector<std::string> storage = {"--model", "m.gguf",        "--stop=a", "--stop", "b=c",
                                      "--n=4",   "--temperature", "0.5",      "--chat", "pos"};
  std::vector<char*> args = Args(storage);
  ASSERT_TRUE(parser.Parse(args).ok());
  EXPECT_EQ(model, "m.gguf");
  EXPECT_EQ(stops, (std::vector<std::string>{"a", "b=c"}));
  EXPECT_EQ(n, 4);
  EXPECT_DOUBLE_EQ(temperature, 0.5);
  EXPECT_TRUE(chat);
  EXPECT_TRUE(parser.WasSet("n"));
  EXPECT_EQ(parser.positional(), std::vector<std::string>{"pos"});
}

TEST(FlagParserTest, RejectsUnknownFlagAndBadNumberNamingTheFlag) {
  int64_t n = 0;
  FlagParser parser("test");
  parser.AddInt("n", &n, "");
  std::vector<std::string> bad_number = {"--n", "four"};
  std::vector<char*> args = Args(bad_number);
  absl::Status status = parser.Parse(args);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("--n"), std::string::npos);

  FlagParser other("test");
  std::vector<std::string> unknown = {"--nope"};
  std::vector<char*> args2 = Args(unknown);
  status = other.Parse(args2);
  EXPECT_NE(status.message().find("--nope"), std::string::npos);
}

// `ponder solve --budget 2147483648` reached the request as -2147483648: an int64 flag was cast
// to int32. A flag bound to an int refuses what an int cannot hold, naming the flag.
TEST(FlagParserTest, IntegersOutsideTheirTypeAreErrorsNamingTheFlag) {
  int budget = 0;
  int64_t seed = 0;
  FlagParser parser("test");
  parser.AddInt("budget", &budget, "");
  parser.AddInt("seed", &seed, "");
  auto parse = [&](std::vector<std::string> storage) {
    std::vector<char*> args = Args(storage);
    return parser.Parse(args);
  };
  absl::Status wrapped = parse({"--budget", "2147483648"});
  EXPECT_EQ(wrapped.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(wrapped.message(), "--budget: 2147483648 is out of range [-2147483648, 2147483647]");
  EXPECT_EQ(budget, 0);
  EXPECT_FALSE(parse({"--budget=-2147483649"}).ok());
  EXPECT_EQ(parse({"--budget", "2147483647", "--seed", "5000000000"}), absl::OkStatus());
  EXPECT_EQ(budget, 2147483647);
  EXPECT_EQ(seed, 5000000000);
  absl::Status huge = parse({"--seed", "99999999999999999999"});
  EXPECT_EQ(huge.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(huge.message().find("--seed: 99999999999999999999 is out of range"), std::string::npos)
      << huge;
  EXPECT_NE(parse({"--budget", "1.5"}).message().find("expected an integer"), std::string::npos);
}

// Seeds are unsigned 64-bit numbers in requests and in `bench --seeds`: `solve --seed -1` became
// 2^64 - 1 and `solve --seed 18446744073709551615` was refused. An unsigned flag takes the whole
// range and refuses negatives.
TEST(FlagParserTest, UnsignedFlagsTakeEverySeedAndRefuseNegatives) {
  uint64_t seed = 7;
  FlagParser parser("test");
  parser.AddInt("seed", &seed, "");
  auto parse = [&](std::vector<std::string> storage) {
    std::vector<char*> args = Args(storage);
    return parser.Parse(args);
  };
  EXPECT_EQ(parse({"--seed", "18446744073709551615"}), absl::OkStatus());
  EXPECT_EQ(seed, std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(parse({"--seed=-1"}).message(), "--seed: -1 is out of range [0, 18446744073709551615]");
  EXPECT_EQ(parse({"--seed", "18446744073709551616"}).message(),
            "--seed: 18446744073709551616 is out of range [0, 18446744073709551615]");
  EXPECT_EQ(parse({"--seed", "x1"}).message(), "--seed: expected an integer, got 'x1'");
  EXPECT_EQ(seed, std::numeric_limits<uint64_t>::max());
}

TEST(FlagParserTest, ARepeatedFlagKeepsTheLastUnlessMarkedToRefuseRepeats) {
  std::string listen, prompt;
  FlagParser parser("test");
  parser.AddString("listen", &listen, "");
  parser.AddString("prompt", &prompt, "");
  parser.RefuseRepeats("prompt");
  std::vector<std::string> overridden = {"--listen", "a:1", "--listen=b:2", "--prompt", "x"};
  std::vector<char*> args = Args(overridden);
  ASSERT_TRUE(parser.Parse(args).ok());
  EXPECT_EQ(listen, "b:2");

  FlagParser twice("test");
  twice.AddString("prompt", &prompt, "");
  twice.RefuseRepeats("prompt");
  std::vector<std::string> repeated = {"--prompt", "x", "--prompt=y"};
  std::vector<char*> repeated_args = Args(repeated);
  const absl::Status status = twice.Parse(repeated_args);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "--prompt is given more than once; give it once");
}

TEST(FlagRangeTest, NamesTheFlagTheRangeAndWhatTheEndsMean) {
  EXPECT_TRUE(CheckFlagRange("limit", 0, 0).ok());
  EXPECT_TRUE(CheckFlagRange("limit", 5, 0, 5).ok());
  const absl::Status below = CheckFlagRange("limit", -1, 0);
  EXPECT_EQ(below.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(below.message(), "--limit must be >= 0, got -1");
  EXPECT_EQ(CheckFlagRange("max-tokens", -3, 0, 100, "0: the default").message(),
            "--max-tokens must be in [0, 100], got -3 (0: the default)");
  EXPECT_EQ(CheckFlagRange("n", 101, 0, 100).message(), "--n must be in [0, 100], got 101");
}

TEST(FlagParserTest, AnOptionalNumberIsSetOnlyWhenGiven) {
  std::optional<double> temperature;
  FlagParser parser("test");
  parser.AddDouble("temperature", &temperature, "");
  std::vector<std::string> none;
  std::vector<char*> no_args = Args(none);
  ASSERT_TRUE(parser.Parse(no_args).ok());
  EXPECT_FALSE(temperature.has_value());
  std::vector<std::string> given = {"--temperature", "-1"};
  std::vector<char*> args = Args(given);
  ASSERT_TRUE(parser.Parse(args).ok());
  EXPECT_EQ(temperature, -1.0);
  std::vector<std::string> bad = {"--temperature", "warm"};
  std::vector<char*> bad_args = Args(bad);
  EXPECT_NE(parser.Parse(bad_args).message().find("--temperature"), std::string::npos);
}

TEST(FlagParserTest, MissingValueIsAnError) {
  std::string s;
  FlagParser parser("test");
  parser.AddString("model", &s, "");
  std::vector<std::string> storage = {"--model"};
  std::vector<char*> args = Args(storage);
  EXPECT_EQ(parser.Parse(args).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
TEST(ParseCountsTest, ReadsACommaSeparatedListAndNamesTheFirstBadPiece) {
  auto counts = ParseCounts("npl", "1,4,16", 1, 64);
  ASSERT_TRUE(counts.ok()) << counts.status();
  EXPECT_EQ(*counts, (std::vector<int>{1, 4, 16}));
  for (const char* bad : {"1,x", "0", "1,65", "", "2,,3"}) {
    auto refused = ParseCounts("npl", bad, 1, 64);
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(refused.status().message().find("--npl: '"), std::string::npos) << refused.status();
  }
}

// An argument error is one line and the usage after it, each of its lines as written: the usage
// was part of the message, whose line breaks TerminalSafe escapes, so `ponder bench --limt 5`
// printed a line of 3 000 characters full of '\n' (QA of stop 35).
TEST(FlagParserTest, AnUnknownFlagIsOneLineFollowedByTheUsage) {
  int64_t n = 0;
  FlagParser parser("prog [--n N]");
  parser.AddInt("n", &n, "how many");
  std::vector<std::string> unknown = {"--nope"};
  std::vector<char*> args = Args(unknown);
  const absl::Status status = parser.Parse(args);
  EXPECT_EQ(status.message(), "unknown flag --nope");
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(ExitCodeFor("prog", status), 2);
  EXPECT_EQ(::testing::internal::GetCapturedStderr(),
            "prog: unknown flag --nope\nusage: prog [--n N]\n  --n                  how many\n");

  // Another error of the caller's, with the usage; and an ordinary one, without.
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(ExitCodeFor("prog", parser.UsageError("give --n")), 2);
  EXPECT_EQ(::testing::internal::GetCapturedStderr(),
            "prog: give --n\nusage: prog [--n N]\n  --n                  how many\n");
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(ExitCodeFor("prog", absl::NotFoundError("no such\nfile")), 1);
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "prog: no such\\nfile\n");
}

// What files and requests hold reaches error messages: a NUL cut the message short, an escape
// sequence reached the terminal and a line break could forge a line (QA and review, stop 32).
TEST(TerminalSafeTest, EscapesControlCharactersLineBreaksIncluded) {
  EXPECT_EQ(TerminalSafe(std::string("key 'evil\0tail'", 15)), "key 'evil\\x00tail'");
  EXPECT_EQ(TerminalSafe("\x1b[31mred\x1b[0m"), "\\x1b[31mred\\x1b[0m");
  EXPECT_EQ(TerminalSafe("ponder: FAKE\nponder generate: all good\t\xc3\xa9"),
            "ponder: FAKE\\nponder generate: all good\\t\xc3\xa9");
}

}  // namespace ponder
