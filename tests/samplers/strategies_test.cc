// Strategy logic on hand-computed cases, with a scripted policy and a scripted verifier.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <limits>
#include <map>

#include "samplers/partial.h"
#include "samplers/strategy.h"
#include "samplers/weibull_mixture.h"
#include "tests/samplers/scripted_engine.h"

namespace ponder::samplers {
namespace {

using testing::ScriptedEngine;

// Scores a solution by the number after "q=" in its last step (0.5 when absent). A solution of
// more than `max_steps` steps is over the verifier's context (scored 0, marked).
class ScriptedVerifier : public verifiers::Verifier {
 public:
  int calls = 0;
  size_t max_steps = std::numeric_limits<size_t>::max();
  absl::StatusOr<verifiers::VerifyResult> Score(std::string_view,
                                                std::span<const verifiers::Solution> solutions,
                                                const verifiers::VerifyOptions& options) override {
    ++calls;
    verifiers::VerifyResult result;
    for (const verifiers::Solution& s : solutions) {
      verifiers::VerifierScores scores;
      if (s.steps.size() > max_steps) {
        scores.over_context = true;
        result.scores.push_back(std::move(scores));
        continue;
      }
      for (const std::string& step : s.steps) {
        size_t at = step.rfind("q=");
        scores.step_scores.push_back(at == std::string::npos ? 0.5
                                                             : std::atof(step.c_str() + at + 2));
      }
      if (scores.step_scores.empty()) scores.step_scores.push_back(0.5);
      scores.aggregate = verifiers::Aggregate(
          scores.step_scores, options.aggregation == v1::AGGREGATION_MODEL ? v1::AGGREGATION_LAST
                                                                           : options.aggregation);
      result.scores.push_back(std::move(scores));
    }
    return result;
  }
  std::string name() const override { return "scripted"; }
};

// Completions drawn in order from a list: the i-th completion of the whole solve gets texts[i]
// (for strategies that send one request, whose samples the scripted engine writes in order; the
// counter is atomic, as requests may run concurrently).
ScriptedEngine::Script FromList(std::vector<std::string> texts) {
  auto next = std::make_shared<std::atomic<size_t>>(0);
  return
      [texts, next](const std::string&, uint64_t, int) { return texts[(*next)++ % texts.size()]; };
}

struct Fixture {
  ScriptedEngine engine;
  ScriptedVerifier verifier;
  ProblemInput problem{"What?", {'Q', ':'}, verifiers::AnswerFormat::kGsm8k};
  std::vector<v1::TraceStep> events;  // what the solve reported as it went

  explicit Fixture(ScriptedEngine::Script script) : engine(std::move(script)) {}

  absl::StatusOr<v1::SolveResult> Solve(const std::string& strategy_json_kind, int n,
                                        uint64_t seed = 1,
                                        std::function<void(v1::StrategyConfig&)> edit = nullptr,
                                        int64_t max_generated_tokens = 0) {
    SolveContext context;
    context.policy = &engine;
    context.verifier = &verifier;
    context.budget.set_n(n);
    context.budget.set_max_generated_tokens(max_generated_tokens);
    context.seed = seed;
    context.on_step = [this](const v1::TraceStep& step) { events.push_back(step); };
    v1::StrategyConfig& config = context.config;
    if (strategy_json_kind == "sc") config.mutable_self_consistency();
    if (strategy_json_kind == "bon") config.mutable_best_of_n();
    if (strategy_json_kind == "wbon") config.mutable_weighted_best_of_n();
    if (strategy_json_kind == "ppl") config.mutable_perplexity();
    if (strategy_json_kind == "rpc") config.mutable_rpc();
    if (strategy_json_kind == "asc") config.mutable_adaptive_self_consistency();
    if (strategy_json_kind == "beam") config.mutable_beam_search()->set_beam_width(2);
    if (strategy_json_kind == "dvts") config.mutable_dvts()->set_beam_width(2);
    if (strategy_json_kind == "pf") config.mutable_particle_filter();
    config.mutable_verifier()
        ->mutable_arithmetic();  // a verifier must be configured; the scripted one scores
    if (edit) edit(config);
    absl::Status valid = ValidateStrategy(config, context.budget);
    if (!valid.ok()) return valid;
    auto strategy = MakeStrategy(config);
    if (!strategy.ok()) return strategy.status();
    return (*strategy)->Solve(problem, context);
  }
};

// A step's text is valid UTF-8 where its parent's tokens ended inside a character (decoded as
// U+FFFD): it starts at that character, which the step completed. It used to be cut at the
// parent's length in bytes, inside the character, and the server's clients could not decode the
// result (QA in stop 32).
TEST(StepTextTest, StartsAtTheCharacterAParentEndedInside) {
  using internal::StepText;
  EXPECT_EQ(StepText("ab", "abcd"), "cd");
  EXPECT_EQ(StepText("", "abc"), "abc");
  EXPECT_EQ(StepText("x \xEF\xBF\xBD", "x \xC3\xB9 y"), "\xC3\xB9 y");        // U+00F9, 2 bytes
  EXPECT_EQ(StepText("x \xEF\xBF\xBD", "x \xEF\xBC\x8B!"), "\xEF\xBC\x8B!");  // U+FF0B
  EXPECT_EQ(StepText("x\xEF\xBF\xBD", "x\xC3\xB9"), "\xC3\xB9");  // shorter than the parent
}

TEST(SelfConsistencyTest, MajorityClassWinsAndAnswerlessSamplesDoNotVote) {
  Fixture f(FromList(
      {"so #### 5", "the answer is 5.0<eos>", "x #### 3", "no idea", "no idea", "no idea"}));
  auto result = f.Solve("sc", 6);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->candidates_size(), 6);
  EXPECT_EQ(result->answer(), "5");
  // 5 and 5.0 are one class; both selected; the no-answer samples have class -1.
  EXPECT_TRUE(result->candidates(0).selected());
  EXPECT_TRUE(result->candidates(1).selected());
  EXPECT_EQ(result->candidates(0).answer_class(), result->candidates(1).answer_class());
  EXPECT_EQ(result->candidates(3).answer_class(), -1);
  EXPECT_EQ(f.engine.calls, 1);  // one request, n = 6
}

// With no answer to vote with, nothing is chosen (result.proto: -1): candidate 0 was marked
// selected, under RPC a path its own pruning had removed (QA of stop 35).
TEST(SelfConsistencyTest, NoAnswerAmongTheSamplesChoosesNothing) {
  for (const char* kind : {"sc", "rpc", "wbon", "asc"}) {
    Fixture f(FromList({"no idea", "still nothing", "hmm"}));
    auto result = f.Solve(kind, 3);
    ASSERT_TRUE(result.ok()) << kind << ": " << result.status();
    EXPECT_EQ(result->selected_candidate(), -1) << kind;
    EXPECT_FALSE(result->has_answer()) << kind;
    for (const v1::Candidate& c : result->candidates()) EXPECT_FALSE(c.selected()) << kind;
  }
}

TEST(SelfConsistencyTest, TieGoesToTheClassThatOccursFirst) {
  Fixture f(FromList({"#### 7", "#### 2", "#### 2", "#### 7"}));
  auto result = f.Solve("sc", 4);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->answer(), "7");
}

TEST(BestOfNTest, HighestVerifierScoreWins) {
  Fixture f(FromList({"q=0.2 #### 1", "q=0.9 #### 2", "q=0.9 #### 3", "q=0.5 #### 4"}));
  auto result = f.Solve("bon", 4);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->answer(), "2");  // the first of the two 0.9s
  EXPECT_EQ(result->selected_candidate(), 1);
  EXPECT_DOUBLE_EQ(result->candidates(3).score(), 0.5);
}

TEST(WeightedBestOfNTest, HeaviestClassWinsOverTheSingleBest) {
  Fixture f(FromList({"q=0.9 #### 3", "q=0.5 #### 5", "q=0.5 #### 5.00"}));
  auto result = f.Solve("wbon", 3);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->answer(), "5");  // 0.5 + 0.5 > 0.9
  EXPECT_FALSE(result->candidates(0).selected());
  EXPECT_TRUE(result->candidates(2).selected());
}

TEST(PerplexityTest, HighestMeanLogprobWins) {
  Fixture f(FromList({"#### 1", "#### 2", "#### 3"}));
  f.engine.mean_logprob = {{"#### 1", -0.5}, {"#### 2", -0.05}, {"#### 3", -0.2}};
  auto result = f.Solve("ppl", 3);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->answer(), "2");
}

// RPC on a hand-made case. Answer A: three identical completions with p = exp(-0.1); answer B:
// two distinct completions with p = exp(-0.5). Self-consistency picks A (3 votes). Perplexity
// consistency counts A's identical texts once (0.905) against B's two (2 x 0.607 = 1.213): B.
// With reasoning pruning, B's paths lie below the mean; they are pruned exactly when the fitted
// mixture puts them in the low component.
TEST(RpcTest, CountsDistinctCompletionsOnceAndPrunesLowPaths) {
  std::vector<std::string> texts = {"A path #### 10", "A path #### 10", "A path #### 10",
                                    "B one #### 20", "B two #### 20"};
  auto make = [&] {
    auto f = std::make_unique<Fixture>(FromList(texts));
    f->engine.mean_logprob = {
        {"A path #### 10", -0.1}, {"B one #### 20", -0.5}, {"B two #### 20", -0.5}};
    return f;
  };
  auto sc = make()->Solve("sc", 5);
  ASSERT_TRUE(sc.ok());
  EXPECT_EQ(sc->answer(), "10");
  auto pc =
      make()->Solve("rpc", 5, 1, [](v1::StrategyConfig& c) { c.mutable_rpc()->set_prune(false); });
  ASSERT_TRUE(pc.ok());
  EXPECT_EQ(pc->answer(), "20");
  auto rpc = make()->Solve("rpc", 5);
  ASSERT_TRUE(rpc.ok());
  std::vector<double> p = {std::exp(-0.1), std::exp(-0.1), std::exp(-0.1), std::exp(-0.5),
                           std::exp(-0.5)};
  auto fit = FitWeibullMixture(p);
  ASSERT_TRUE(fit.ok());
  std::vector<bool> pruned = PrunePaths(*fit, p);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(rpc->candidates(i).pruned(), pruned[i]) << i;
  double a = std::exp(-0.1), b = pruned[3] ? 0.0 : 2 * std::exp(-0.5);
  EXPECT_EQ(rpc->answer(), b > a ? "20" : "10");
  EXPECT_EQ(rpc->diagnostics().at("pruned"),
            static_cast<double>(std::count(pruned.begin(), pruned.end(), true)));
}

TEST(AdaptiveSelfConsistencyTest, StopsOnceTheLeaderHoldsItsShare) {
  Fixture unanimous(FromList({"#### 4"}));
  auto result = unanimous.Solve("asc", 16);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->candidates_size(), 4);  // one round of 4, all agree
  EXPECT_EQ(result->diagnostics().at("rounds"), 1);
  Fixture split(FromList({"#### 1", "#### 2"}));
  result = split.Solve("asc", 16);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->candidates_size(), 16);  // never reaches 75%: the whole budget
}

// budget.max_generated_tokens was ignored by the sampling strategies (QA: a cap of 60 and 627
// tokens generated). They now never pass it: samples of at most 30 tokens (20 each here, with
// the EOS token) are drawn as many at a time as could run to 30 within what is left: two (40 of
// 70), then one (30 left); with 10 left not one more fits. A sample is cut only to give a solve
// its first when the cap is below max_tokens.
TEST(SamplingStrategiesTest, NeverPassTheTokenCap) {
  for (const char* kind : {"sc", "bon", "wbon", "ppl", "rpc", "asc"}) {
    Fixture f(FromList({"#### 12345678901234<eos>"}));
    auto result = f.Solve(
        kind, 8, 1, [](v1::StrategyConfig& c) { c.mutable_sampling()->set_max_tokens(30); },
        /*max_generated_tokens=*/70);
    ASSERT_TRUE(result.ok()) << kind << ": " << result.status();
    EXPECT_EQ(result->usage().generated_tokens(), 60) << kind;
    EXPECT_EQ(result->candidates_size(), 3) << kind;
    EXPECT_EQ(result->answer(), "12345678901234") << kind;

    Fixture small(FromList({"#### 12345678901234<eos>"}));
    result = small.Solve(
        kind, 8, 1, [](v1::StrategyConfig& c) { c.mutable_sampling()->set_max_tokens(30); },
        /*max_generated_tokens=*/15);
    ASSERT_TRUE(result.ok()) << kind << ": " << result.status();
    EXPECT_EQ(result->usage().generated_tokens(), 15) << kind;
    ASSERT_EQ(result->candidates_size(), 1) << kind;
    EXPECT_EQ(result->candidates(0).finish_reason(), "length") << kind;
  }
  // Particle Gibbs starts no run once the cap is spent (each would generate its free particles
  // to their ends in one step).
  Fixture gibbs([](const std::string& context, uint64_t, int) -> std::string {
    return std::count(context.begin(), context.end(), '\n') >= 4 ? "#### 3<eos>" : "s\n\n";
  });
  auto runs = gibbs.Solve(
      "pf", 8, 1,
      [](v1::StrategyConfig& c) { c.mutable_particle_filter()->set_gibbs_iterations(2); },
      /*max_generated_tokens=*/10);
  ASSERT_TRUE(runs.ok()) << runs.status();
  ASSERT_GT(runs->trace_size(), 0);
  for (const auto& node : runs->trace()) EXPECT_EQ(node.gibbs_iteration(), 0);
  // Without a cap, or with one that all N samples fit in, one request draws them all.
  Fixture whole(FromList({"#### 12345678901234<eos>"}));
  auto result = whole.Solve(
      "sc", 8, 1, [](v1::StrategyConfig& c) { c.mutable_sampling()->set_max_tokens(30); },
      /*max_generated_tokens=*/240);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->candidates_size(), 8);
  EXPECT_EQ(whole.engine.calls, 1);
  // The round's progress event counts the tokens generated so far (it said 0: the result's usage
  // is filled when the solve ends).
  ASSERT_EQ(whole.events.size(), 1u);
  EXPECT_EQ(whole.events[0].num_tokens(), 160);
  EXPECT_EQ(result->usage().generated_tokens(), 160);
}

// Beam search with N = 4, M = 2: the first step of each beam carries its score; the 2 best
// survive, each is expanded twice, and the finished beam with the best score is the answer.
TEST(BeamSearchTest, KeepsTheBestNOverMBeamsAndReturnsTheBestFinishedOne) {
  std::map<std::string, int> counter;
  auto script = [&counter](const std::string& context, uint64_t, int index) -> std::string {
    int step = static_cast<int>(std::count(context.begin(), context.end(), '\n')) / 2;
    if (step == 0) {
      static const char* first[] = {"a q=0.3\n\n", "b q=0.8\n\n", "c q=0.6\n\n", "d q=0.1\n\n"};
      return first[counter["first"]++ % 4];
    }
    // Second step ends the solution with an answer; its score depends on the branch.
    char branch = context[context.find("Q:") + 2];
    return branch == 'b' ? "#### 8 q=0.7<eos>" : "#### 6 q=0.9<eos>";
  };
  Fixture f(script);
  auto result = f.Solve("beam", 4);
  ASSERT_TRUE(result.ok()) << result.status();
  // Iteration 0: 4 nodes, b (0.8) and c (0.6) kept.
  std::vector<std::string> kept;
  for (const auto& node : result->trace()) {
    if (node.iteration() == 0 && node.kept()) kept.push_back(node.text().substr(0, 1));
  }
  EXPECT_THAT(kept, ::testing::ElementsAre("b", "c"));
  // Iteration 1: each survivor expanded twice, all finish; c's continuation scores 0.9.
  EXPECT_EQ(result->candidates_size(), 4);
  EXPECT_EQ(result->answer(), "6");
}

// Equal scores (a rule-based verifier's neutral 0.5 everywhere): sal repeats the survivors
// round-robin ((active * repeats)[:N]: a, b, a, b) and np.argsort(scores)[-N/M:] keeps the later
// of equals, so each survivor keeps one child; Ponder ordered children parent by parent and kept
// the earlier, both children of the first survivor. Found by an audit against sal's code.
TEST(BeamSearchTest, ChildrenComeRoundRobinAndTiesKeepTheLaterBeam) {
  auto script = [](const std::string& context, uint64_t, int index) -> std::string {
    int step = static_cast<int>(std::count(context.begin(), context.end(), '\n')) / 2;
    if (step == 2) return "#### 1<eos>";
    // The step names its parent's last step and its own index among the parent's copies.
    const size_t last = context.rfind("s");
    const std::string parent =
        step == 0 ? "" : context.substr(last + 1, context.find('\n', last) - last - 1);
    return "s" + parent + std::to_string(index) + "\n\n";
  };
  Fixture f(script);
  auto result = f.Solve("beam", 4);
  ASSERT_TRUE(result.ok()) << result.status();
  std::vector<std::string> kept[2];
  for (const auto& node : result->trace()) {
    if (node.iteration() < 2 && node.kept()) kept[node.iteration()].push_back(node.text());
  }
  // Iteration 0: the root's four copies s0..s3, all 0.5: the later two survive.
  EXPECT_THAT(kept[0], ::testing::ElementsAre("s2\n\n", "s3\n\n"));
  // Iteration 1: children s20 s30 s21 s31 (round-robin); the later two, one of each parent.
  EXPECT_THAT(kept[1], ::testing::UnorderedElementsAre("s31\n\n", "s21\n\n"));
}

TEST(DvtsTest, EachSubtreeFollowsItsBestExpansion) {
  int calls = 0;
  auto script = [&calls](const std::string& context, uint64_t, int index) -> std::string {
    ++calls;
    if (context.find("\n\n") == std::string::npos)
      return index == 0 ? "low q=0.2\n\n" : "high q=0.7\n\n";
    return context.find("high") != std::string::npos ? "#### 1 q=0.9<eos>" : "#### 2 q=0.95<eos>";
  };
  Fixture f(script);
  auto result = f.Solve("dvts", 4);  // 2 subtrees of width 2
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->candidates_size(), 4);
  for (const auto& c : result->candidates()) EXPECT_NE(c.text().find("high"), std::string::npos);
  EXPECT_EQ(result->answer(), "1");
}

// Two first steps: "bait" scores 0.9 alone but leads to "trap" (0.1) and the answer 7; "good"
// scores 0.3 alone and leads to "fine" (0.8) and the answer 3. `bait_first`: bait is the first
// sample of a step's request.
ScriptedEngine::Script BaitOrGood(bool bait_first) {
  return [bait_first](const std::string& context, uint64_t, int index) -> std::string {
    if (context.find("trap") != std::string::npos) return "#### 7 q=0.2<eos>";
    if (context.find("fine") != std::string::npos) return "#### 3 q=0.9<eos>";
    if (context.find("bait") != std::string::npos) return "trap q=0.1\n\n";
    if (context.find("good") != std::string::npos) return "fine q=0.8\n\n";
    return (index == 0) == bait_first ? "bait q=0.9\n\n" : "good q=0.3\n\n";
  };
}

// Lookahead (sal's DVTS): a step that scores well alone but leads to a bad next step loses to
// one whose greedy rollout scores better; the subtree keeps the step, not the rollout, whose
// steps are generated at temperature 0, counted in usage and left out of the trace.
TEST(DvtsTest, LookaheadRanksStepsByTheirGreedyRollouts) {
  const ScriptedEngine::Script script = BaitOrGood(/*bait_first=*/true);
  Fixture plain(script);
  auto greedy_choice = plain.Solve("dvts", 2);  // one subtree of width 2
  ASSERT_TRUE(greedy_choice.ok()) << greedy_choice.status();
  EXPECT_EQ(greedy_choice->answer(), "7");  // bait (0.9) beat good (0.3)

  Fixture f(script);
  auto result =
      f.Solve("dvts", 2, 1, [](v1::StrategyConfig& c) { c.mutable_dvts()->set_lookahead(1); });
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->answer(), "3");  // good's rollout (fine, 0.8) beat bait's (trap, 0.1)
  // The kept first step is good's, scored by its rollout; no rollout step is a trace node.
  bool kept_good = false;
  for (const auto& node : result->trace()) {
    EXPECT_EQ(node.text().find("trap"), std::string::npos) << node.text();
    if (node.iteration() == 0 && node.kept()) {
      kept_good = node.text().find("good") != std::string::npos;
      EXPECT_DOUBLE_EQ(node.reward(), 0.8);
    }
  }
  EXPECT_TRUE(kept_good);
  EXPECT_GT(result->usage().generated_tokens(), greedy_choice->usage().generated_tokens());
  // The steps are sampled as configured (one request of 2 a step), the rollouts greedy (one
  // request per candidate): iterations 0 and 1 roll out, the last (finished steps) does not.
  const auto sampled = ::testing::Gt(0.0);
  EXPECT_THAT(f.engine.temperatures,
              ::testing::ElementsAre(sampled, 0.0, 0.0, sampled, 0.0, 0.0, sampled));
}

// A rollout too long for the verifier's context leaves its candidate scored alone (not 0): with
// room for one step only, the lookahead case above ranks as plain DVTS does.
TEST(DvtsTest, ACandidateWhoseRolloutOverflowsTheVerifierIsScoredAlone) {
  // Bait second: scoring both rollouts 0 would keep the first step (good).
  Fixture f(BaitOrGood(/*bait_first=*/false));
  f.verifier.max_steps = 1;
  auto result =
      f.Solve("dvts", 2, 1, [](v1::StrategyConfig& c) { c.mutable_dvts()->set_lookahead(1); });
  ASSERT_TRUE(result.ok()) << result.status();
  bool kept_bait = false;
  for (const auto& node : result->trace()) {
    if (node.iteration() == 0 && node.kept()) {
      kept_bait = node.text().find("bait") != std::string::npos;
      EXPECT_DOUBLE_EQ(node.reward(), 0.9);
    }
  }
  EXPECT_TRUE(kept_bait);
  EXPECT_GT(result->diagnostics().at("verifier_over_context"), 0);
}

// Rollouts stop once the budget's max_generated_tokens is spent: with lookahead 16 on steps
// that never end a solution, a cap of 30 tokens stops the first rollouts after one step of
// each candidate (9 tokens), not sixteen, and the next iteration finishes the solutions.
TEST(DvtsTest, LookaheadStopsAtTheTokenBudget) {
  auto script = [](const std::string&, uint64_t, int) -> std::string { return "s q=0.5\n\n"; };
  Fixture f(script);
  auto result =
      f.Solve("dvts", 2, 1, [](v1::StrategyConfig& c) { c.mutable_dvts()->set_lookahead(16); });
  ASSERT_TRUE(result.ok()) << result.status();
  const int64_t unbounded = result->usage().generated_tokens();
  Fixture capped(script);
  auto bounded = capped.Solve(
      "dvts", 2, 1, [](v1::StrategyConfig& c) { c.mutable_dvts()->set_lookahead(16); },
      /*max_generated_tokens=*/30);
  ASSERT_TRUE(bounded.ok()) << bounded.status();
  // Children 18, one rollout step 18, then the final iteration's 18.
  EXPECT_EQ(bounded->usage().generated_tokens(), 54);
  EXPECT_GT(unbounded, 54 * 4);
}

// The default width (4) with a smaller budget: one subtree of n candidates a step, never more
// (budget 1 drew 4 candidates a step).
TEST(DvtsTest, TheDefaultWidthShrinksToASmallerBudget) {
  auto script = [](const std::string& context, uint64_t, int index) -> std::string {
    if (context.find("\n\n") == std::string::npos) return "step q=0.5\n\n";
    return "#### 3 q=0.9<eos>";
  };
  for (int n : {1, 2, 3}) {
    Fixture f(script);
    auto result =
        f.Solve("dvts", n, 1, [](v1::StrategyConfig& c) { c.mutable_dvts()->clear_beam_width(); });
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->candidates_size(), n) << n;
    int first_step = 0;
    for (const auto& node : result->trace()) first_step += node.iteration() == 0 ? 1 : 0;
    EXPECT_EQ(first_step, n) << n;
  }
}

// Particle filtering with a step that is right (reward 0.99) or wrong (0.01): resampling in
// proportion to the odds (99 : 1/99) leaves only right particles, and the answer is theirs.
TEST(ParticleFilterTest, ResamplingConcentratesOnHighRewardParticles) {
  auto script = [](const std::string& context, uint64_t seed, int index) -> std::string {
    if (context.find("\n\n") == std::string::npos)
      return (seed + index) % 2 ? "right q=0.99\n\n" : "wrong q=0.01\n\n";
    return context.find("right") != std::string::npos ? "#### 42 q=0.99<eos>"
                                                      : "#### 13 q=0.01<eos>";
  };
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    Fixture f(script);
    auto result = f.Solve("pf", 8, seed);
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->answer(), "42") << "seed " << seed;
    int right = 0;
    for (const auto& c : result->candidates()) right += c.answer() == "42";
    EXPECT_GE(right, 7) << "seed " << seed;  // P(a wrong particle survives) < 8 * 1e-4
  }
}

TEST(ParticleFilterTest, SameSeedSameResultOtherSeedOtherDraws) {
  auto script = [](const std::string& context, uint64_t seed, int index) -> std::string {
    int steps = static_cast<int>(std::count(context.begin(), context.end(), '\n')) / 2;
    if (steps >= 3) return "#### " + std::to_string(seed % 7) + "<eos>";
    return "s q=0." + std::to_string(1 + (seed + index) % 9) + "\n\n";
  };
  Fixture a(script), b(script), c(script);
  auto ra = a.Solve("pf", 8, 3), rb = b.Solve("pf", 8, 3), rc = c.Solve("pf", 8, 4);
  ASSERT_TRUE(ra.ok() && rb.ok() && rc.ok());
  EXPECT_EQ(ra->SerializeAsString().size(), rb->SerializeAsString().size());
  ra->mutable_usage()->clear_wall_seconds();
  rb->mutable_usage()->clear_wall_seconds();
  EXPECT_EQ(ra->SerializeAsString(), rb->SerializeAsString());
  rc->mutable_usage()->clear_wall_seconds();
  EXPECT_NE(ra->SerializeAsString(), rc->SerializeAsString());
}

// Entropic tempering without a resampling method resamples systematically, as its_hub's
// EntropicParticleFiltering does by default (plain particle filtering stays multinomial).
TEST(ParticleFilterTest, EntropicTemperingResamplesSystematicallyByDefault) {
  auto script = [](const std::string& context, uint64_t seed, int index) -> std::string {
    int steps = static_cast<int>(std::count(context.begin(), context.end(), '\n')) / 2;
    if (steps >= 3) return "#### " + std::to_string(seed % 7) + "<eos>";
    return "s q=0." + std::to_string(1 + (seed + index) % 9) + "\n\n";
  };
  auto solve = [&](uint64_t seed, v1::ParticleFilter::Resampling resampling) {
    Fixture f(script);
    auto result = f.Solve("pf", 8, seed, [&](v1::StrategyConfig& c) {
      c.mutable_particle_filter()->set_entropic_ess_fraction(0.5);
      c.mutable_particle_filter()->set_resampling(resampling);
    });
    EXPECT_TRUE(result.ok()) << result.status();
    result->mutable_usage()->clear_wall_seconds();
    return result->SerializeAsString();
  };
  int differs_from_multinomial = 0;
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    const std::string unspecified = solve(seed, v1::ParticleFilter::RESAMPLING_UNSPECIFIED);
    EXPECT_EQ(unspecified, solve(seed, v1::ParticleFilter::RESAMPLING_SYSTEMATIC)) << seed;
    differs_from_multinomial +=
        unspecified != solve(seed, v1::ParticleFilter::RESAMPLING_MULTINOMIAL) ? 1 : 0;
  }
  EXPECT_GT(differs_from_multinomial, 0);
}

TEST(StrategyTest, CancellationStopsTheSolve) {
  Fixture f(FromList({"#### 1"}));
  engine::CancellationToken cancel;
  cancel.Cancel();
  SolveContext context;
  context.policy = &f.engine;
  context.budget.set_n(4);
  context.cancel = &cancel;
  context.config.mutable_self_consistency();
  auto strategy = MakeStrategy(context.config);
  ASSERT_TRUE(strategy.ok());
  EXPECT_EQ((*strategy)->Solve(f.problem, context).status().code(), absl::StatusCode::kCancelled);
}

TEST(StrategyTest, ValidationNamesTheField) {
  v1::StrategyConfig config;
  v1::Budget budget;
  budget.set_n(4);
  EXPECT_THAT(std::string(ValidateStrategy(config, budget).message()),
              ::testing::HasSubstr("strategy"));
  config.mutable_beam_search()->set_beam_width(8);
  config.mutable_verifier()->mutable_arithmetic();
  EXPECT_THAT(std::string(ValidateStrategy(config, budget).message()),
              ::testing::HasSubstr("beam_search.beam_width"));
  config.mutable_particle_filter()->set_gibbs_iterations(3);
  EXPECT_THAT(std::string(ValidateStrategy(config, budget).message()),
              ::testing::HasSubstr("particle_filter.gibbs_iterations"));
  for (int lookahead : {-1, 17}) {
    config.mutable_dvts()->set_lookahead(lookahead);
    EXPECT_THAT(std::string(ValidateStrategy(config, budget).message()),
                ::testing::HasSubstr("dvts.lookahead: must be in [0, 16]"))
        << lookahead;
  }
  config.mutable_dvts()->set_lookahead(16);
  EXPECT_TRUE(ValidateStrategy(config, budget).ok());
  // DVTS spends N as N / M subtrees of M: sal refuses an N that is no multiple of M (a budget of
  // 6 at width 4 ran one subtree of 4 here, 2 unspent); the default width shrinks below 4.
  budget.set_n(6);
  EXPECT_EQ(std::string(ValidateStrategy(config, budget).message()),
            "dvts.beam_width: budget.n (6) must be a multiple of it (4 by default): DVTS runs N / "
            "M subtrees of M candidates");
  config.mutable_dvts()->set_beam_width(3);
  EXPECT_TRUE(ValidateStrategy(config, budget).ok());
  config.mutable_dvts()->clear_beam_width();
  for (int n : {1, 2, 3, 8}) {
    budget.set_n(n);
    EXPECT_TRUE(ValidateStrategy(config, budget).ok()) << n;
  }
  budget.set_n(4);
  config.mutable_best_of_n();
  config.clear_verifier();
  EXPECT_THAT(std::string(ValidateStrategy(config, budget).message()),
              ::testing::HasSubstr("verifier"));
  budget.set_n(0);
  config.mutable_self_consistency();
  EXPECT_THAT(std::string(ValidateStrategy(config, budget).message()),
              ::testing::HasSubstr("budget.n"));
}

// Found by a stress test: a weight temperature whose reciprocal overflows made every particle
// weight NaN, and an unknown resampling value ran as multinomial.
TEST(StrategyTest, ParticleFilterWeightsNeedAUsableTemperatureAndAKnownResampling) {
  v1::Budget budget;
  budget.set_n(4);
  v1::StrategyConfig config;
  config.mutable_verifier()->mutable_arithmetic();
  v1::ParticleFilter& pf = *config.mutable_particle_filter();
  for (double t : {1e-320, 0.0, -1.0, 1e7, std::numeric_limits<double>::infinity(),
                   std::numeric_limits<double>::quiet_NaN()}) {
    pf.set_temperature(t);
    EXPECT_THAT(std::string(ValidateStrategy(config, budget).message()),
                ::testing::HasSubstr("particle_filter.temperature: must be in [1e-06, 1e+06]"))
        << t;
  }
  for (double t : {1e-6, 1.0, 1e6}) {
    pf.set_temperature(t);
    EXPECT_TRUE(ValidateStrategy(config, budget).ok()) << t;
  }
  pf.set_resampling(static_cast<v1::ParticleFilter::Resampling>(7));
  EXPECT_THAT(std::string(ValidateStrategy(config, budget).message()),
              ::testing::HasSubstr("particle_filter.resampling: unknown value 7"));
}

}  // namespace
}  // namespace ponder::samplers
