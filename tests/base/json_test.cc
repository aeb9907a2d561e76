#include "base/json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ponder {
namespace {

using ::testing::HasSubstr;

TEST(ParseJsonTest, ParsesADocument) {
  absl::StatusOr<nlohmann::json> value = ParseJson(R"({"a": [1, 2.5, "x"], "b": -1e308})");
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ((*value)["a"][2], "x");
  EXPECT_EQ((*value)["b"].get<double>(), -1e308);
}

TEST(ParseJsonTest, SyntaxErrorsGiveLineAndColumn) {
  JsonSyntaxError error;
  absl::StatusOr<nlohmann::json> value = ParseJson("{\"a\": 1,\n  \"b\": x}", &error);
  ASSERT_FALSE(value.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(value.status()));
  EXPECT_EQ(error.line, 2);
  EXPECT_EQ(error.column, 8);
  EXPECT_EQ(error.byte, 17);
  EXPECT_THAT(error.reason, HasSubstr("syntax error while parsing value"));
  EXPECT_THAT(value.status().message(), HasSubstr("line 2, column 8: syntax error"));
  EXPECT_THAT(ParseJson("").status().message(), HasSubstr("line 1, column 1:"));
  EXPECT_FALSE(ParseJson("{} {}").ok());  // one document, nothing after it
}

// nlohmann throws out_of_range (406), not parse_error, for these: a catch of parse_error alone
// let them abort `ponder bench --problems` and the dataset commands.
TEST(ParseJsonTest, ANumberBeyondADoubleIsAnErrorNotAnException) {
  for (const char* number : {"1e400", "-1e999", "1.5e309"}) {
    JsonSyntaxError error;
    const std::string text = std::string("{\"problem\": \"1+2?\",\n \"answer\": ") + number + "}";
    absl::StatusOr<nlohmann::json> value = ParseJson(text, &error);
    ASSERT_FALSE(value.ok()) << number;
    EXPECT_TRUE(absl::IsInvalidArgument(value.status()));
    EXPECT_EQ(error.line, 2) << number;
    EXPECT_EQ(error.column, 12) << number;  // where the number starts
    EXPECT_EQ(error.reason,
              std::string("the number ") + number + " is out of the range of a double");
  }
  EXPECT_TRUE(ParseJson("[1e308, 1e-400, 18446744073709551616]").ok());  // in range, or rounded
}

}  // namespace
}  // namespace ponder
