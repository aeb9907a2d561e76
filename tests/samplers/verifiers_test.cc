#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "verifiers/arithmetic_step_checker.h"
#include "verifiers/verifier.h"

namespace ponder::verifiers {
namespace {

TEST(AggregateTest, FollowsSearchAndLearnDefinitions) {
  std::vector<double> s = {0.9, 0.5, 0.8};
  EXPECT_DOUBLE_EQ(Aggregate(s, v1::AGGREGATION_LAST), 0.8);
  EXPECT_DOUBLE_EQ(Aggregate(s, v1::AGGREGATION_MIN), 0.5);
  EXPECT_DOUBLE_EQ(Aggregate(s, v1::AGGREGATION_PROD), 0.9 * 0.5 * 0.8);
  EXPECT_DOUBLE_EQ(Aggregate(s, v1::AGGREGATION_MEAN), 2.2 / 3);
  EXPECT_DOUBLE_EQ(Aggregate({}, v1::AGGREGATION_MIN), 0.0);
}

TEST(SplitStepsTest, CutsAtTheDelimiterAndDropsBlankSteps) {
  Solution s = SplitSteps("Step 1\n\n\n\nStep 2\n\n  \n\nThe answer", "\n\n", true);
  EXPECT_THAT(s.steps, ::testing::ElementsAre("Step 1", "Step 2", "The answer"));
  EXPECT_TRUE(s.complete);
}

// A verifier that reads the whole solution (a reward model's `model` aggregation, an outcome
// model, self-evaluation) gets it as written, without the delimiter that ends a partial one:
// its steps joined by their own delimiter, blank ones too, as its_hub gives its reward model
// `step_token.join(steps)`. They were joined by "\n\n" whatever the delimiter, without the
// blank steps.
TEST(SplitStepsTest, JoinedStepsAreTheTextAsWritten) {
  EXPECT_EQ(JoinedSteps(SplitSteps("Let x = 2.\nThen y = 4.\n", "\n", false)),
            "Let x = 2.\nThen y = 4.");
  EXPECT_EQ(JoinedSteps(SplitSteps("Let x = 2.\n\nThen y = 4.\n", "\n", false)),
            "Let x = 2.\n\nThen y = 4.");
  EXPECT_EQ(JoinedSteps(SplitSteps("a\n\n\n\nb", "\n\n", true)), "a\n\n\n\nb");
  EXPECT_EQ(JoinedSteps(Solution{.steps = {"a", "b"}}), "a\n\nb");  // text unknown
}

TEST(ArithmeticStepCheckerTest, RecomputesEveryEquation) {
  auto check = [](std::string_view text) {
    std::vector<bool> holds;
    for (const CheckedEquation& e : CheckArithmetic(text)) holds.push_back(e.holds);
    return holds;
  };
  EXPECT_THAT(check("Janet has 16 - 3 = 13 eggs left."), ::testing::ElementsAre(true));
  EXPECT_THAT(check("She earns 13 * 2 = $26 a day."), ::testing::ElementsAre(true));
  EXPECT_THAT(check("So 13 * 2 = 24."), ::testing::ElementsAre(false));
  EXPECT_THAT(check("10 / 3 = 3.33 and 10 / 3 = 3.4"), ::testing::ElementsAre(true, false));
  EXPECT_THAT(check("(2 + 3) × 4 = 20 and 20 ÷ 5 = 4"), ::testing::ElementsAre(true, true));
  EXPECT_THAT(check("1,200 + 800 = 2,000"), ::testing::ElementsAre(true));
  EXPECT_THAT(check("5 + 3 = 8 + 2 = 10"), ::testing::ElementsAre(true, true));
  EXPECT_THAT(check("Let x = 5. Then 2x + 3 = 13."), ::testing::ElementsAre());  // no arithmetic
  EXPECT_THAT(check("3 x 4 = 12"), ::testing::ElementsAre(true));
  EXPECT_THAT(check("if a == 2 or b <= 3"), ::testing::ElementsAre());
}

TEST(ArithmeticStepCheckerTest, ScoresStepsOneZeroOrNeutral) {
  ArithmeticStepChecker checker(0.5);
  Solution solution{{"16 - 3 = 13", "The ducks are happy.", "13 * 2 = 27"}, true};
  auto result = checker.Score("", {&solution, 1}, {v1::AGGREGATION_MIN});
  ASSERT_TRUE(result.ok());
  EXPECT_THAT(result->scores[0].step_scores, ::testing::ElementsAre(1.0, 0.5, 0.0));
  EXPECT_DOUBLE_EQ(result->scores[0].aggregate, 0.0);
  auto whole = checker.Score("", {&solution, 1}, {v1::AGGREGATION_MODEL});
  EXPECT_THAT(whole->scores[0].step_scores, ::testing::ElementsAre(0.0));
}

class NoModels : public VerifierModels {
 public:
  engine::Engine* policy() override { return nullptr; }
  absl::StatusOr<engine::Engine*> RewardModel(std::string_view name) override {
    return absl::NotFoundError("no reward model named " + std::string(name));
  }
};

TEST(MakeVerifierTest, BuildsRuleVerifiersAndNamesBadFields) {
  NoModels models;
  v1::VerifierConfig config;
  EXPECT_EQ(MakeVerifier(config, models).status().code(), absl::StatusCode::kInvalidArgument);
  config.mutable_arithmetic()->set_neutral_score(2);
  EXPECT_THAT(std::string(MakeVerifier(config, models).status().message()),
              ::testing::HasSubstr("verifier.arithmetic.neutral_score"));
  config.mutable_arithmetic()->set_neutral_score(0.3);
  EXPECT_TRUE(MakeVerifier(config, models).ok());
  config.mutable_prm()->set_model("prm");
  EXPECT_THAT(std::string(MakeVerifier(config, models).status().message()),
              ::testing::HasSubstr("verifier.prm.format: required"));
  config.mutable_prm()->set_format(v1::ProcessRewardModel::FORMAT_QWEN_MATH_PRM);
  EXPECT_THAT(std::string(MakeVerifier(config, models).status().message()),
              ::testing::HasSubstr("no reward model named prm"));
  // A weighted combination of two rule verifiers.
  v1::VerifierConfig weighted;
  auto* part = weighted.mutable_weighted()->add_parts();
  part->set_weight(3);
  part->mutable_verifier()->mutable_arithmetic()->set_neutral_score(1.0);
  part = weighted.mutable_weighted()->add_parts();
  part->set_weight(1);
  part->mutable_verifier()->mutable_arithmetic()->set_neutral_score(0.0);
  auto verifier = MakeVerifier(weighted, models);
  ASSERT_TRUE(verifier.ok());
  Solution plain{{"no numbers here"}, true};
  auto scored = (*verifier)->Score("", {&plain, 1}, {});
  ASSERT_TRUE(scored.ok());
  EXPECT_DOUBLE_EQ(scored->scores[0].aggregate, 0.75);
  // Weights whose sum overflows made every score 0: each is at most kMaxVerifierWeight.
  v1::VerifierConfig heavy = weighted;
  heavy.mutable_weighted()->mutable_parts(0)->set_weight(1e308);
  EXPECT_EQ(std::string(MakeVerifier(heavy, models).status().message()),
            "verifier.weighted.parts[0].weight: must be in (0, 1e+06], got 1e+308");
  // A part's build error names the part, however deep: here the policy that self-evaluation
  // needs and these models lack (the configuration's own rules name their field from the root).
  v1::VerifierConfig judged;
  auto* judge = judged.mutable_weighted()->add_parts();
  judge->set_weight(1);
  judge->mutable_verifier()->mutable_self_evaluation();
  EXPECT_EQ(std::string(MakeVerifier(judged, models).status().message()),
            "verifier.weighted.parts[0].verifier.self_evaluation needs the policy model");
  // A part's error names the part, however deep.
  weighted.mutable_weighted()
      ->mutable_parts(1)
      ->mutable_verifier()
      ->mutable_arithmetic()
      ->set_tolerance(-1);
  EXPECT_EQ(std::string(MakeVerifier(weighted, models).status().message()),
            "verifier.weighted.parts[1].verifier.arithmetic.tolerance: must be >= 0, got -1");
  v1::VerifierConfig outer;
  part = outer.mutable_weighted()->add_parts();
  part->set_weight(1);
  *part->mutable_verifier() = weighted;
  EXPECT_EQ(std::string(MakeVerifier(outer, models).status().message()),
            "verifier.weighted.parts[0].verifier.weighted.parts[1].verifier.arithmetic.tolerance: "
            "must be >= 0, got -1");
}

}  // namespace
}  // namespace ponder::verifiers
