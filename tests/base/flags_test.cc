#include "base/flags.h"

#include <gtest/gtest.h>

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

TEST(FlagParserTest, MissingValueIsAnError) {
  std::string s;
  FlagParser parser("test");
  parser.AddString("model", &s, "");
  std::vector<std::string> storage = {"--model"};
  std::vector<char*> args = Args(storage);
  EXPECT_EQ(parser.Parse(args).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ponder
