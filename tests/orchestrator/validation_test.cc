// Request validation: every rule rejects with INVALID_ARGUMENT naming the field; the auth and
// address checks (token files, listen addresses); strategy arguments of the CLI.
#include "orchestrator/validation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>

#include "orchestrator/auth.h"
#include "orchestrator/client.h"
#include "orchestrator/grpc_status.h"
#include "orchestrator/model_registry.h"
#include "orchestrator/proto_json.h"
#include "orchestrator/server.h"
#include "tests/orchestrator/fake_strategy.h"
#include "tests/orchestrator/test_util.h"

namespace ponder::orchestrator {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

v1::SolveRequest ValidSolve() {
  v1::SolveRequest request;
  request.mutable_problem()->set_text("What is 1 + 1?");
  request.mutable_strategy()->mutable_self_consistency();
  request.mutable_budget()->set_n(4);
  return request;
}

v1::ExperimentSpec ValidSpec() {
  v1::ExperimentSpec spec;
  spec.set_name("test");
  spec.add_problems()->set_text("What is 1 + 1?");
  v1::NamedStrategy& strategy = *spec.add_strategies();
  strategy.set_name("sc");
  strategy.mutable_config()->mutable_self_consistency();
  spec.add_budgets()->set_n(2);
  return spec;
}

// The request's problem, made a code problem.
v1::Problem& CodeProblem(v1::SolveRequest& request) {
  request.mutable_problem()->set_answer_format(v1::ANSWER_FORMAT_CODE);
  return *request.mutable_problem();
}

struct Case {
  std::string name;
  std::function<void(v1::SolveRequest&)> mutate;
  std::string field;  // the message starts with it
};

TEST(ValidationTest, ValidRequestsPass) {
  testing::FakeStrategies strategies;
  EXPECT_TRUE(ValidateSolveRequest(ValidSolve(), ServiceLimits(), strategies).ok());
  EXPECT_TRUE(ValidateExperimentSpec(ValidSpec(), ServiceLimits(), strategies).ok());
}

TEST(ValidationTest, EachSolveRuleNamesItsField) {
  testing::FakeStrategies strategies({.needs_verifier = true});
  const std::vector<Case> cases = {
      {"no problem", [](auto& r) { r.clear_problem(); }, "problem:"},
      {"empty text", [](auto& r) { r.mutable_problem()->clear_text(); }, "problem.text:"},
      {"huge text", [](auto& r) { r.mutable_problem()->set_text(std::string(70000, 'x')); },
       "problem.text:"},
      {"long id", [](auto& r) { r.mutable_problem()->set_id(std::string(300, 'i')); },
       "problem.id:"},
      {"id with a newline", [](auto& r) { r.mutable_problem()->set_id(std::string("a\nb\0c", 5)); },
       "problem.id:"},
      {"bad format",
       [](auto& r) { r.mutable_problem()->set_answer_format(static_cast<v1::AnswerFormat>(9)); },
       "problem.answer_format:"},
      {"code problem with a reference answer",
       [](auto& r) { CodeProblem(r).set_reference_answer("def f(): pass"); },
       "problem.reference_answer:"},
      {"code tests on a math problem",
       [](auto& r) { r.mutable_problem()->mutable_code_tests()->add_tests("assert True"); },
       "problem.code_tests:"},
      {"tests and test code",
       [](auto& r) {
         CodeProblem(r).mutable_code_tests()->add_tests("assert True");
         r.mutable_problem()->mutable_code_tests()->set_test_code("assert True");
       },
       "problem.code_tests.test_code:"},
      {"huge test",
       [](auto& r) {
         CodeProblem(r).mutable_code_tests()->add_tests("assert True");
         r.mutable_problem()->mutable_code_tests()->add_tests(std::string(70000, '#'));
       },
       "problem.code_tests.tests[1]:"},
      {"example tests on a math problem",
       [](auto& r) { r.mutable_problem()->mutable_example_tests()->add_tests("assert True"); },
       "problem.example_tests:"},
      {"blank example test", [](auto& r) { CodeProblem(r).mutable_example_tests()->add_tests(""); },
       "problem.example_tests.tests[0]:"},
      {"blank test", [](auto& r) { CodeProblem(r).mutable_code_tests()->add_tests(" \n"); },
       "problem.code_tests.tests[0]:"},
      {"no test",
       [](auto& r) {
         CodeProblem(r).mutable_code_tests()->set_setup("import math");
         r.mutable_problem()->mutable_code_tests()->set_test_code("\n");
       },
       "problem.code_tests:"},
      {"code timeout out of range",
       [](auto& r) {
         CodeProblem(r).mutable_code_tests()->add_tests("assert True");
         r.mutable_problem()->mutable_code_tests()->set_timeout_seconds(0);
       },
       "problem.code_tests.timeout_seconds:"},
      {"no budget", [](auto& r) { r.clear_budget(); }, "budget:"},
      {"zero n", [](auto& r) { r.mutable_budget()->set_n(0); }, "budget.n:"},
      {"huge n", [](auto& r) { r.mutable_budget()->set_n(65); }, "budget.n:"},
      {"negative cap", [](auto& r) { r.mutable_budget()->set_max_generated_tokens(-1); },
       "budget.max_generated_tokens:"},
      {"no strategy", [](auto& r) { r.mutable_strategy()->clear_kind(); }, "strategy:"},
      {"negative temperature",
       [](auto& r) { r.mutable_strategy()->mutable_sampling()->set_temperature(-0.1); },
       "strategy.sampling.temperature:"},
      {"temperature whose reciprocal overflows",
       [](auto& r) { r.mutable_strategy()->mutable_sampling()->set_temperature(1e-300); },
       "strategy.sampling.temperature:"},
      {"top_p zero", [](auto& r) { r.mutable_strategy()->mutable_sampling()->set_top_p(0); },
       "strategy.sampling.top_p:"},
      {"top_k negative", [](auto& r) { r.mutable_strategy()->mutable_sampling()->set_top_k(-1); },
       "strategy.sampling.top_k:"},
      {"min_p above one", [](auto& r) { r.mutable_strategy()->mutable_sampling()->set_min_p(2); },
       "strategy.sampling.min_p:"},
      {"max_tokens above the server's limit",
       [](auto& r) { r.mutable_strategy()->mutable_sampling()->set_max_tokens(5000); },
       "strategy.sampling.max_tokens: must be at most 4096 (the server's --max-tokens), got 5000"},
      {"max_tokens above every strategy's limit",
       [](auto& r) { r.mutable_strategy()->mutable_sampling()->set_max_tokens(1 << 21); },
       "strategy.sampling.max_tokens: must be in [0, 1048576]"},
      {"max_step_tokens above the server's limit",
       [](auto& r) { r.mutable_strategy()->mutable_steps()->set_max_step_tokens(4097); },
       "strategy.steps.max_step_tokens: must be at most 4096"},
      {"too many steps",
       [](auto& r) { r.mutable_strategy()->mutable_steps()->set_max_steps(1001); },
       "strategy.steps.max_steps: must be in [0, 1000], got 1001"},
      {"empty delimiter", [](auto& r) { r.mutable_strategy()->mutable_steps()->set_delimiter(""); },
       "strategy.steps.delimiter:"},
      {"negative steps", [](auto& r) { r.mutable_strategy()->mutable_steps()->set_max_steps(-2); },
       "strategy.steps.max_steps:"},
      // With the CLI's flag for it (QA of stop 35: the message named the proto field alone).
      {"verifier missing", [](auto& r) { r.mutable_strategy()->mutable_best_of_n(); },
       "strategy.verifier: best_of_n scores candidates and needs a verifier (prm, orm, "
       "self_evaluation, arithmetic, unit_tests, program_of_thought or weighted; ponder solve and "
       "bench take it as --verifier JSON, e.g. --verifier '{\"arithmetic\": {}}')"},
      {"unknown aggregation",
       [](auto& r) {
         v1::VerifierConfig& verifier = *r.mutable_strategy()->mutable_verifier();
         verifier.mutable_arithmetic();
         verifier.set_aggregation(static_cast<v1::Aggregation>(99));
       },
       "strategy.verifier.aggregation:"},
      {"prm without a model",
       [](auto& r) { r.mutable_strategy()->mutable_verifier()->mutable_prm(); },
       "strategy.verifier.prm.model:"},
      {"prm without a format",
       [](auto& r) { r.mutable_strategy()->mutable_verifier()->mutable_prm()->set_model("prm"); },
       "strategy.verifier.prm.format: required"},
      {"orm without a model",
       [](auto& r) { r.mutable_strategy()->mutable_verifier()->mutable_orm(); },
       "strategy.verifier.orm.model:"},
      {"neutral score above one",
       [](auto& r) {
         r.mutable_strategy()->mutable_verifier()->mutable_arithmetic()->set_neutral_score(1.5);
       },
       "strategy.verifier.arithmetic.neutral_score:"},
      {"empty self-evaluation option",
       [](auto& r) {
         r.mutable_strategy()->mutable_verifier()->mutable_self_evaluation()->set_positive("");
       },
       "strategy.verifier.self_evaluation.positive:"},
      {"self-evaluation prompt without the solution",
       [](auto& r) {
         r.mutable_strategy()->mutable_verifier()->mutable_self_evaluation()->set_prompt(
             "Is {problem} hard?");
       },
       "strategy.verifier.self_evaluation.prompt: must contain \"{solution}\""},
      {"self-evaluation prompt that repeats the problem",
       [](auto& r) {
         r.mutable_strategy()->mutable_verifier()->mutable_self_evaluation()->set_prompt(
             "{solution} {problem}{problem}{problem}{problem}{problem}");
       },
       "strategy.verifier.self_evaluation.prompt: holds \"{problem}\" 5 times; at most 4"},
      {"weighted without parts",
       [](auto& r) { r.mutable_strategy()->mutable_verifier()->mutable_weighted(); },
       "strategy.verifier.weighted.parts:"},
      {"weighted part without weight",
       [](auto& r) {
         r.mutable_strategy()
             ->mutable_verifier()
             ->mutable_weighted()
             ->add_parts()
             ->mutable_verifier()
             ->mutable_arithmetic();
       },
       "strategy.verifier.weighted.parts[0].weight:"},
      {"weighted part whose weight would overflow the sum",
       [](auto& r) {
         auto* part = r.mutable_strategy()->mutable_verifier()->mutable_weighted()->add_parts();
         part->set_weight(1e308);
         part->mutable_verifier()->mutable_arithmetic();
       },
       "strategy.verifier.weighted.parts[0].weight: must be in (0, 1e+06], got 1e+308"},
      {"weighted part without verifier",
       [](auto& r) {
         r.mutable_strategy()->mutable_verifier()->mutable_weighted()->add_parts()->set_weight(1);
       },
       "strategy.verifier.weighted.parts[0].verifier:"},
      {"nested part's own rule",
       [](auto& r) {
         auto* part = r.mutable_strategy()->mutable_verifier()->mutable_weighted()->add_parts();
         part->set_weight(1);
         part->mutable_verifier()->mutable_prm();
       },
       "strategy.verifier.weighted.parts[0].verifier.prm.model:"},
      {"strategy's own rule",
       [](auto& r) { r.mutable_strategy()->mutable_beam_search()->set_beam_width(-1); },
       "strategy.beam_search.beam_width:"},
      {"template without placeholder",
       [](auto& r) { r.mutable_prompt()->set_user_template("Solve it."); },
       "prompt.user_template:"},
      // Found by fuzzing the server: 1820 "{problem}"s and a 64 kB problem rendered a 119 MB
      // prompt (1.7 GB of memory) before the context check refused it.
      {"template that repeats the problem",
       [](auto& r) {
         std::string repeated;
         for (int i = 0; i < 5; ++i) repeated += "{problem} ";
         r.mutable_prompt()->set_user_template(repeated);
       },
       "prompt.user_template: holds \"{problem}\" 5 times; at most 4"},
      {"temperature above the strategies' range",
       [](auto& r) { r.mutable_strategy()->mutable_sampling()->set_temperature(100); },
       "strategy.sampling.temperature: must be 0 (greedy) or in [1e-6, 10]"},
  };
  for (const Case& c : cases) {
    v1::SolveRequest request = ValidSolve();
    c.mutate(request);
    absl::Status status = ValidateSolveRequest(request, ServiceLimits(), strategies);
    EXPECT_TRUE(absl::IsInvalidArgument(status)) << c.name << ": " << status;
    EXPECT_THAT(std::string(status.message()), StartsWith(c.field)) << c.name;
  }
}

// The fields every strategy shares have one set of rules: the service reports the strategies'
// own message under the request's path, whichever factory it was given.
TEST(ValidationTest, SharedStrategyFieldsReadAsTheStrategiesSayThem) {
  testing::FakeStrategies strategies;
  const std::vector<std::function<void(v1::StrategyConfig&)>> mutations = {
      [](auto& c) { c.mutable_sampling()->set_top_p(1.5); },
      [](auto& c) { c.mutable_sampling()->set_min_p(-1); },
      [](auto& c) { c.mutable_sampling()->set_top_k(-3); },
      [](auto& c) { c.mutable_sampling()->set_temperature(11); },
      [](auto& c) { c.mutable_steps()->set_delimiter(""); },
      [](auto& c) { c.mutable_steps()->set_max_steps(-1); },
  };
  for (const auto& mutate : mutations) {
    v1::SolveRequest request = ValidSolve();
    mutate(*request.mutable_strategy());
    const absl::Status own = samplers::ValidateStrategy(request.strategy(), request.budget());
    const absl::Status served = ValidateSolveRequest(request, ServiceLimits(), strategies);
    ASSERT_TRUE(absl::IsInvalidArgument(own)) << own;
    EXPECT_EQ(std::string(served.message()), absl::StrCat("strategy.", own.message()));
  }
}

TEST(ValidationTest, EachExperimentRuleNamesItsField) {
  testing::FakeStrategies strategies;
  const std::vector<std::pair<std::function<void(v1::ExperimentSpec&)>, std::string>> cases = {
      {[](auto& s) { s.clear_problems(); }, "spec.dataset:"},
      {[](auto& s) { s.mutable_dataset()->set_name("gsm8k"); }, "spec.dataset:"},
      {[](auto& s) {
         s.clear_problems();
         s.mutable_dataset()->set_name("gsm8k");
         s.mutable_dataset()->set_offset(-1);
       },
       "spec.dataset.offset:"},
      {[](auto& s) { s.mutable_problems(0)->clear_text(); }, "spec.problems[0].text:"},
      {[](auto& s) {
         s.mutable_problems(0)->set_id("a");
         s.add_problems()->set_text("again");
         s.mutable_problems(1)->set_id("a");
       },
       "spec.problems[1].id:"},
      {[](auto& s) { s.clear_strategies(); }, "spec.strategies:"},
      {[](auto& s) { s.mutable_strategies(0)->set_name("has space"); }, "spec.strategies[0].name:"},
      {[](auto& s) { *s.add_strategies() = s.strategies(0); }, "spec.strategies[1].name:"},
      {[](auto& s) { s.mutable_strategies(0)->mutable_config()->clear_kind(); },
       "spec.strategies[0].config:"},
      {[](auto& s) { s.mutable_strategies(0)->mutable_config()->mutable_sampling()->set_top_p(3); },
       "spec.strategies[0].config.sampling.top_p:"},
      {[](auto& s) { s.clear_budgets(); }, "spec.budgets:"},
      {[](auto& s) { s.add_budgets()->set_n(0); }, "spec.budgets[1].n:"},
      {[](auto& s) { s.set_parallelism(17); }, "spec.parallelism:"},
      {[](auto& s) { s.set_name(std::string(201, 'n')); }, "spec.name:"},
      // Found by fuzzing the server: a NUL in a name cut `ponder query experiments` short; the
      // same seed or budget twice counted the same runs twice into one cell.
      {[](auto& s) { s.set_name(std::string("a\0b", 3)); }, "spec.name: 'a\\x00b'"},
      {[](auto& s) { s.set_name("two\nlines"); }, "spec.name:"},
      {[](auto& s) {
         s.add_seeds(1);
         s.add_seeds(1);
       },
       "spec.seeds[1]: 1 is given twice"},
      {[](auto& s) { s.add_budgets()->set_n(s.budgets(0).n()); }, "spec.budgets[1].n:"},
      {[](auto& s) {
         for (int i = 0; i < 65; ++i) s.add_seeds(i);
       },
       "spec.seeds:"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    v1::ExperimentSpec spec = ValidSpec();
    cases[i].first(spec);
    absl::Status status = ValidateExperimentSpec(spec, ServiceLimits(), strategies);
    EXPECT_TRUE(absl::IsInvalidArgument(status)) << "case " << i << ": " << status;
    EXPECT_THAT(std::string(status.message()), StartsWith(cases[i].second)) << "case " << i;
  }
}

TEST(ValidationTest, WithinAddsThePathToMessagesThatStartWithAField) {
  EXPECT_EQ(
      Within("strategy", absl::InvalidArgumentError("verifier.prm.format: required")).message(),
      "strategy.verifier.prm.format: required");
  // A sentence is not a field; other codes are left alone.
  EXPECT_EQ(
      Within("strategy", absl::InvalidArgumentError("reward model 'x': not loaded")).message(),
      "reward model 'x': not loaded");
  EXPECT_EQ(Within("strategy", absl::NotFoundError("verifier.prm.model: gone")).message(),
            "verifier.prm.model: gone");
}

TEST(ValidationTest, RewardModelsMustBeLoaded) {
  auto policy = testing::TinyEngine();
  ASSERT_NE(policy, nullptr);
  ModelRegistry models(*policy);
  models.AddRewardModel("prm", *policy);
  v1::VerifierConfig verifier;
  verifier.mutable_prm()->set_model("prm");
  EXPECT_TRUE(ValidateRewardModelNames(verifier, models, "strategy.verifier").ok());
  verifier.mutable_orm()->set_model("missing");
  absl::Status status = ValidateRewardModelNames(verifier, models, "strategy.verifier");
  EXPECT_TRUE(absl::IsInvalidArgument(status)) << status;
  EXPECT_THAT(std::string(status.message()), StartsWith("strategy.verifier.orm.model: "));
  EXPECT_THAT(std::string(status.message()), HasSubstr("'missing' is not loaded (loaded: prm"));
  v1::WeightedVerifiers::Part& part = *verifier.mutable_weighted()->add_parts();
  part.set_weight(1);
  part.mutable_verifier()->mutable_prm()->set_model("other");
  status = ValidateRewardModelNames(verifier, models, "v");
  EXPECT_THAT(std::string(status.message()), StartsWith("v.weighted.parts[0].verifier.prm.model:"));
}

TEST(ValidationTest, ExperimentRunCountIsCapped) {
  testing::FakeStrategies strategies;
  ServiceLimits limits;
  limits.max_experiment_runs = 10;
  v1::ExperimentSpec spec = ValidSpec();
  for (int i = 0; i < 11; ++i) spec.add_seeds(i);
  absl::Status status = ValidateExperimentSpec(spec, limits, strategies);
  EXPECT_TRUE(absl::IsInvalidArgument(status));
  EXPECT_THAT(status.message(), HasSubstr("11 runs"));
}

TEST(ValidationTest, PageSizeAndIds) {
  EXPECT_TRUE(ValidatePageSize(0).ok());
  EXPECT_TRUE(ValidatePageSize(1000).ok());
  EXPECT_THAT(std::string(ValidatePageSize(1001).message()), StartsWith("page_size:"));
  EXPECT_THAT(std::string(ValidatePageSize(-1).message()), StartsWith("page_size:"));
  EXPECT_THAT(std::string(ValidateExperimentId(0).message()), StartsWith("experiment_id:"));
}

TEST(AuthTest, LoopbackAddresses) {
  for (const char* address :
       {"127.0.0.1:50051", "localhost:1", "[::1]:50051", "127.1.2.3:0", "unix:/tmp/ponder.sock",
        "ipv4:127.0.0.1:5", "[0:0:0:0:0:0:0:1]:50051", "ipv6:[::1]:5", "[::ffff:127.0.0.1]:1"}) {
    EXPECT_TRUE(IsLoopbackAddress(address)) << address;
  }
  // Names that merely start like a loopback address resolve to whatever their DNS says.
  for (const char* address :
       {"0.0.0.0:50051", "[::]:50051", "10.0.0.2:1", "example.com:443", ":50051", "128.0.0.1:1",
        "127.0.0.1.example.com:50051", "127.evil:1", "[::2]:1", "[::ffff:10.0.0.1]:1"}) {
    EXPECT_FALSE(IsLoopbackAddress(address)) << address;
  }
}

TEST(AuthTest, BearerTokenMustMatchExactly) {
  EXPECT_TRUE(AuthorizationMatches("Bearer s3cret", "s3cret"));
  EXPECT_FALSE(AuthorizationMatches("Bearer s3cre", "s3cret"));
  EXPECT_FALSE(AuthorizationMatches("Bearer s3cretX", "s3cret"));
  EXPECT_TRUE(AuthorizationMatches("bearer s3cret", "s3cret"));
  EXPECT_TRUE(AuthorizationMatches("BEARER s3cret", "s3cret"));
  EXPECT_FALSE(AuthorizationMatches("Bearer S3CRET", "s3cret"));
  EXPECT_TRUE(AuthorizationMatches("Bearer   s3cret", "s3cret"));
  EXPECT_FALSE(AuthorizationMatches("Bearer s3cret ", "s3cret"));
  EXPECT_FALSE(AuthorizationMatches("Basic  s3cret", "s3cret"));
  EXPECT_FALSE(AuthorizationMatches("Bearers3cret", "s3cret"));
  EXPECT_FALSE(AuthorizationMatches("s3cret", "s3cret"));
  EXPECT_FALSE(AuthorizationMatches("Bearer ", ""));
}

TEST(AuthTest, TokenFileIsTrimmedAndMustNotBeEmpty) {
  const std::string path = testing::TempPath("token");
  {
    std::FILE* f = std::fopen(path.c_str(), "w");
    std::fputs("  abc123\n", f);
    std::fclose(f);
  }
  EXPECT_EQ(*ReadAuthToken(path), "abc123");
  {
    std::FILE* f = std::fopen(path.c_str(), "w");
    std::fputs("\n", f);
    std::fclose(f);
  }
  EXPECT_TRUE(absl::IsInvalidArgument(ReadAuthToken(path).status()));
  EXPECT_FALSE(ReadAuthToken(path + ".missing").ok());
}

// gRPC aborts a client whose metadata value holds a byte outside printable ASCII; both ends
// read the token with ReadAuthToken, which refuses such a file naming it.
TEST(AuthTest, TokenAHeaderCannotCarryIsRefusedNamingTheFile) {
  const std::string path = testing::TempPath("token");
  auto token_from = [&](const std::string& contents) {
    std::FILE* f = std::fopen(path.c_str(), "w");
    std::fwrite(contents.data(), 1, contents.size(), f);
    std::fclose(f);
    return ReadAuthToken(path);
  };
  for (const std::string& contents : std::vector<std::string>{
           "ab\ncd\n", "ab\tcd", "t\xC3\xA9st", std::string("a\0b", 3), "ab\rcd", "ab\x7F"}) {
    absl::StatusOr<std::string> token = token_from(contents);
    ASSERT_FALSE(token.ok()) << contents;
    EXPECT_TRUE(absl::IsInvalidArgument(token.status()));
    EXPECT_THAT(token.status().message(), HasSubstr("auth token file '" + path + "'"));
    EXPECT_THAT(token.status().message(), HasSubstr("printable ASCII"));
  }
  EXPECT_THAT(token_from("ab\ncd").status().message(), HasSubstr("byte 3 of the token is 0x0A"));
  // Surrounding whitespace is still trimmed, and inner spaces are allowed by HTTP/2.
  EXPECT_EQ(*token_from("\t abc.def-1~2+3/4= \r\n"), "abc.def-1~2+3/4=");
  EXPECT_EQ(*token_from("two words\n"), "two words");
  // The client reads its --auth-token-file the same way.
  ClientFlags flags;
  flags.server = "127.0.0.1:1";
  flags.auth_token_file = path;
  ASSERT_FALSE(token_from("ab\ncd").ok());
  EXPECT_THAT(flags.Options().status().message(), HasSubstr("auth token file '" + path + "'"));
}

// gRPC would take port 99999 for 34463 (mod 65536) and say nothing.
TEST(ServerTest, ListenAddressIsHostAndPortOrAUnixSocket) {
  for (const char* address : {"127.0.0.1:50051", "127.0.0.1:0", "localhost:65535", "[::1]:1",
                              "0.0.0.0:8080", "unix:/tmp/ponder.sock", "unix-abstract:ponder"}) {
    EXPECT_TRUE(ValidateListenAddress(address).ok()) << address;
  }
  auto message = [](std::string_view address) {
    return std::string(ValidateListenAddress(address).message());
  };
  EXPECT_THAT(message("127.0.0.1:99999"),
              HasSubstr("listen address '127.0.0.1:99999': port '99999' is not a number from 1 "
                        "to 65535"));
  EXPECT_THAT(message("127.0.0.1:-1"), HasSubstr("port '-1'"));
  EXPECT_THAT(message("127.0.0.1:"), HasSubstr("port ''"));
  EXPECT_THAT(message("127.0.0.1:0x50"), HasSubstr("port '0x50'"));
  EXPECT_THAT(message("127.0.0.1:5005100000"), HasSubstr("port '5005100000'"));
  EXPECT_THAT(message("garbage"), HasSubstr("listen address 'garbage' is not host:port"));
  EXPECT_THAT(message(":50051"), HasSubstr("is not host:port"));
  EXPECT_THAT(message(""), HasSubstr("the listen address is empty"));
  EXPECT_THAT(message("unix:"), HasSubstr("names no socket"));
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateListenAddress("garbage")));
}

TEST(AuthTest, ADirectoryIsNotAnEmptyTokenFile) {
  const std::string dir = testing::TempPath("token_dir");
  std::filesystem::create_directories(dir);
  absl::StatusOr<std::string> token = ReadAuthToken(dir);
  ASSERT_FALSE(token.ok());
  EXPECT_THAT(token.status().message(), HasSubstr(dir + " is a directory"));
}

// Recorded model paths are read from other working directories (QA of stop 35: a resume hint
// named 'models/arith-policy.gguf' from the old server's directory).
TEST(ModelPathTest, ARelativePathIsTakenFromTheWorkingDirectoryAndAnAbsoluteOneKept) {
  const std::string relative =
      std::filesystem::relative(testing::TinyModelPath(), std::filesystem::current_path());
  ASSERT_FALSE(relative.empty());
  ASSERT_NE(relative.front(), '/');
  EXPECT_EQ(PathFromRoot(relative), (std::filesystem::current_path() / relative).string());
  EXPECT_EQ(PathFromRoot(testing::TinyModelPath()), testing::TinyModelPath());
  // What names nothing here stays as typed, for the error that names it.
  EXPECT_EQ(PathFromRoot("Qwen/Qwen2.5-1.5B"), "Qwen/Qwen2.5-1.5B");
  EXPECT_EQ(PathFromRoot(""), "");
}

TEST(ClientTest, StrategyArgumentIsJsonOrAName) {
  auto named = ParseStrategyArgument("self-consistency", "--strategy");
  ASSERT_TRUE(named.ok()) << named.status();
  EXPECT_TRUE(named->has_self_consistency());
  auto json =
      ParseStrategyArgument(R"({"bestOfN": {}, "sampling": {"temperature": 0.5}})", "--strategy");
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_TRUE(json->has_best_of_n());
  EXPECT_EQ(json->sampling().temperature(), 0.5);
  auto unknown = ParseStrategyArgument("magic", "--strategy");
  EXPECT_TRUE(absl::IsInvalidArgument(unknown.status()));
  EXPECT_THAT(unknown.status().message(), HasSubstr("particle_filter"));
  auto bad_json = ParseStrategyArgument(R"({"noSuchField": 1})", "--strategy");
  EXPECT_TRUE(absl::IsInvalidArgument(bad_json.status()));
  EXPECT_THAT(std::string(bad_json.status().message()), StartsWith("--strategy"));
}

// A bare port reached gRPC's resolver, which answered with a DNS error (QA of stop 35).
TEST(ClientTest, AServerAddressWithoutAPortIsRefused) {
  for (const std::string address : {"50051", "localhost"}) {
    auto client = PonderClient::Connect({.address = address});
    EXPECT_TRUE(absl::IsInvalidArgument(client.status())) << address;
    EXPECT_THAT(client.status().message(), HasSubstr("give the server's address as host:port"));
  }
  EXPECT_TRUE(PonderClient::Connect({.address = "127.0.0.1:1"}).ok());
  EXPECT_TRUE(PonderClient::Connect({.address = "unix:/tmp/ponder.sock"}).ok());
}

// Protobuf's JSON parser takes trailing commas, so a spec with one started an experiment, and its
// syntax errors spread over lines with a caret that an error line cannot show (QA of stop 35).
TEST(ClientTest, JsonWithATrailingCommaIsRefusedNamingLineAndColumn) {
  auto trailing = ParseStrategyArgument(R"({"selfConsistency": {},})", "--strategy");
  EXPECT_TRUE(absl::IsInvalidArgument(trailing.status()));
  EXPECT_EQ(trailing.status().message(),
            "--strategy: not valid JSON (line 1, column 23: a comma before a closing bracket; "
            "JSON has no trailing commas)");
  v1::ExperimentSpec spec;
  const absl::Status comma =
      FromJson("{\"name\": \"x\",\n \"budgets\": [{\"n\": 1},]}", spec, "--spec spec.json");
  EXPECT_TRUE(absl::IsInvalidArgument(comma));
  EXPECT_THAT(std::string(comma.message()),
              StartsWith("--spec spec.json: not valid JSON (line 2, column 22: a comma"));
  EXPECT_EQ(spec.budgets_size(), 0);  // nothing of a refused text is kept
  // A syntax error is said on one line, with its place.
  const absl::Status missing =
      FromJson("{\"name\": \"x\"\n \"budgets\": []}", spec, "--spec spec.json");
  EXPECT_THAT(std::string(missing.message()),
              StartsWith("--spec spec.json: not valid JSON (line 2, column 10:"));
  EXPECT_EQ(std::string(missing.message()).find('\n'), std::string::npos);
  // What protobuf's mapping took before stays taken (specs written for it), a comma inside a
  // string is no trailing comma, and a byte order mark is skipped.
  EXPECT_TRUE(
      FromJson("\xEF\xBB\xBF{\"name\": \"a,}\", \"budgets\": [{\"n\": 1}]}", spec, "x").ok());
  EXPECT_EQ(spec.name(), "a,}");
  auto lenient =
      ParseStrategyArgument(R"({"bestOfN": {}, "sampling": {"temperature": 1.}})", "--strategy");
  ASSERT_TRUE(lenient.ok()) << lenient.status();
  EXPECT_EQ(lenient->sampling().temperature(), 1.0);
  // Protobuf takes single-quoted strings too: a comma inside one is no trailing comma, one after
  // one is (and a form feed is whitespace there). A byte order mark before --strategy is skipped.
  EXPECT_TRUE(FromJson("{'name': 'a\"',\n \"budgets\": [{\"n\": 1}]}", spec, "x").ok());
  EXPECT_EQ(spec.name(), "a\"");
  EXPECT_TRUE(FromJson("{\"name\": ',}'}", spec, "x").ok());
  EXPECT_FALSE(FromJson("{\"name\": 'a\"',\f}", spec, "x").ok());
  EXPECT_TRUE(ParseStrategyArgument("\xEF\xBB\xBF{\"selfConsistency\": {}}", "--strategy").ok());
}

TEST(ClientTest, AStatusWithoutAMessageGetsOneNamingItsCode) {
  const absl::Status empty = FromGrpcStatus(grpc::Status(grpc::StatusCode::UNAVAILABLE, ""));
  EXPECT_TRUE(absl::IsUnavailable(empty));
  EXPECT_THAT(empty.message(), HasSubstr("the call failed with UNAVAILABLE and no message"));
  EXPECT_EQ(FromGrpcStatus(grpc::Status(grpc::StatusCode::NOT_FOUND, "no experiment 3")).message(),
            "no experiment 3");
  // gRPC's words for a connection a stopping server closed say what happened.
  const absl::Status closed =
      FromGrpcStatus(grpc::Status(grpc::StatusCode::UNAVAILABLE, "Socket closed"));
  EXPECT_TRUE(absl::IsUnavailable(closed));
  EXPECT_EQ(closed.message(),
            "the connection to the server ended (Socket closed): did the server stop? see its log");
}

// Two --prm of one name left the first loaded but unreachable; refused before loading anything
// (the paths need not exist).
TEST(ModelRegistryTest, TwoRewardModelsOfOneNameAreRefused) {
  auto loaded = LoadedModels::Load("/absent/policy.gguf", {"a=/absent/x.gguf", "a=/absent/y.gguf"},
                                   engine::LocalEngineOptions());
  ASSERT_FALSE(loaded.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(loaded.status()));
  EXPECT_THAT(loaded.status().message(),
              HasSubstr("--prm: two reward models are named 'a' (/absent/x.gguf and "
                        "/absent/y.gguf)"));
  // By the file's name too.
  EXPECT_THAT(LoadedModels::Load("/absent/policy.gguf", {"/m/prm.gguf", "/n/prm.gguf"},
                                 engine::LocalEngineOptions())
                  .status()
                  .message(),
              HasSubstr("two reward models are named 'prm'"));
}

TEST(ModelRegistryTest, NamedModelFlags) {
  EXPECT_EQ(*ParseNamedModel("prm=/m/qwen-prm.gguf"),
            std::make_pair(std::string("prm"), std::string("/m/qwen-prm.gguf")));
  EXPECT_EQ(ParseNamedModel("/m/qwen-prm.gguf")->first, "qwen-prm");
  EXPECT_EQ(ParseNamedModel("/m/Qwen2.5-Math-PRM/")->first, "Qwen2.5-Math-PRM");
  EXPECT_FALSE(ParseNamedModel("=path").ok());
  EXPECT_FALSE(ParseNamedModel("name=").ok());
}

}  // namespace
}  // namespace ponder::orchestrator
