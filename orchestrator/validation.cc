#include "orchestrator/validation.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "samplers/strategy.h"
#include "verifiers/verifier.h"

namespace ponder::orchestrator {
namespace {

constexpr size_t kMaxProblemIdBytes = 256;
constexpr size_t kMaxReferenceBytes = 4096;
constexpr size_t kMaxPromptBytes = 16 << 10;
constexpr size_t kMaxNameBytes = 200;
constexpr size_t kMaxStrategyNameBytes = 64;
constexpr int kMaxStrategies = 64;
constexpr int kMaxBudgets = 64;
constexpr int kMaxSeeds = 64;
constexpr int kMaxInlineProblems = 100'000;
constexpr int kMaxPageSize = 1000;
// CodeTests (service.proto).
constexpr size_t kMaxCodeSetupBytes = 256 << 10;
constexpr int kMaxCodeTests = 1000;
constexpr size_t kMaxCodeTestBytes = 64 << 10;
constexpr size_t kMaxTestCodeBytes = 1 << 20;
constexpr double kMaxCodeTimeoutSeconds = 600;

bool IsBlank(std::string_view text) {
  return text.find_first_not_of(" \t\r\n\f\v") == std::string_view::npos;
}

absl::Status ValidateCodeTests(const v1::CodeTests& tests, std::string_view field) {
  if (tests.setup().size() > kMaxCodeSetupBytes) {
    return InvalidField(
        FieldPath(field, "setup"),
        absl::StrCat("at most ", kMaxCodeSetupBytes, " bytes, got ", tests.setup().size()));
  }
  if (tests.tests_size() > kMaxCodeTests) {
    return InvalidField(
        FieldPath(field, "tests"),
        absl::StrCat("at most ", kMaxCodeTests, " tests, got ", tests.tests_size()));
  }
  for (int i = 0; i < tests.tests_size(); ++i) {
    const std::string test_field = absl::StrCat(AsAbsl(field), ".tests[", i, "]");
    if (tests.tests(i).size() > kMaxCodeTestBytes) {
      return InvalidField(test_field, absl::StrCat("at most ", kMaxCodeTestBytes, " bytes, got ",
                                                   tests.tests(i).size()));
    }
    // An empty test would pass whatever the program does.
    if (IsBlank(tests.tests(i))) return InvalidField(test_field, "a test must not be blank");
  }
  if (tests.test_code().size() > kMaxTestCodeBytes) {
    return InvalidField(
        FieldPath(field, "test_code"),
        absl::StrCat("at most ", kMaxTestCodeBytes, " bytes, got ", tests.test_code().size()));
  }
  if (!tests.tests().empty() && !tests.test_code().empty()) {
    return InvalidField(FieldPath(field, "test_code"), "set either tests or test_code, not both");
  }
  if (tests.tests().empty() && IsBlank(tests.test_code())) {
    return InvalidField(field,
                        "give the tests (tests or test_code); leave code_tests unset for "
                        "a problem that is not graded");
  }
  if (tests.has_timeout_seconds() &&
      !(tests.timeout_seconds() > 0 && tests.timeout_seconds() <= kMaxCodeTimeoutSeconds)) {
    return InvalidField(FieldPath(field, "timeout_seconds"),
                        absl::StrCat("must be in (0, ", kMaxCodeTimeoutSeconds, "], got ",
                                     tests.timeout_seconds()));
  }
  return absl::OkStatus();
}

std::string StrategyKinds() {
  const google::protobuf::OneofDescriptor* kind =
      v1::StrategyConfig::descriptor()->FindOneofByName("kind");
  std::vector<std::string> names;
  for (int i = 0; i < kind->field_count(); ++i) names.push_back(kind->field(i)->name());
  return absl::StrJoin(names, ", ");
}

bool IsStrategyNameCharacter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.';
}

// The server's --max-tokens, on top of the strategies' own rules for these fields.
absl::Status ValidateTokenLimits(const v1::StrategyConfig& config, const ServiceLimits& limits,
                                 std::string_view field) {
  const auto check = [&](std::string_view sub, int32_t tokens) {
    if (tokens <= limits.max_tokens) return absl::OkStatus();
    return InvalidField(FieldPath(field, sub),
                        absl::StrCat("must be at most ", limits.max_tokens,
                                     " (the server's --max-tokens), got ", tokens));
  };
  PONDER_RETURN_IF_ERROR(check("sampling.max_tokens", config.sampling().max_tokens()));
  return check("steps.max_step_tokens", config.steps().max_step_tokens());
}

}  // namespace

v1::ServerLimits LimitsProto(const ServiceLimits& limits) {
  v1::ServerLimits proto;
  proto.set_max_concurrent_solves(limits.max_concurrent_solves);
  proto.set_max_queued_solves(limits.max_queued_solves);
  proto.set_max_budget_n(limits.max_budget_n);
  proto.set_max_tokens(limits.max_tokens);
  proto.set_max_problem_bytes(limits.max_problem_bytes);
  proto.set_max_request_bytes(limits.max_request_bytes);
  proto.set_max_running_experiments(limits.max_running_experiments);
  proto.set_max_experiment_parallelism(limits.max_experiment_parallelism);
  proto.set_max_experiment_runs(limits.max_experiment_runs);
  return proto;
}

absl::Status ValidateProblem(const v1::Problem& problem, const ServiceLimits& limits,
                             std::string_view field) {
  if (problem.text().empty()) return InvalidField(FieldPath(field, "text"), "must not be empty");
  if (static_cast<int64_t>(problem.text().size()) > limits.max_problem_bytes) {
    return InvalidField(
        FieldPath(field, "text"),
        absl::StrCat(problem.text().size(), " bytes, more than the server's limit of ",
                     limits.max_problem_bytes, " (--max-problem-bytes)"));
  }
  if (problem.id().size() > kMaxProblemIdBytes) {
    return InvalidField(FieldPath(field, "id"), absl::StrCat("at most ", kMaxProblemIdBytes,
                                                             " bytes, got ", problem.id().size()));
  }
  if (absl::Status line = CheckNoControlCharacters(problem.id()); !line.ok()) {
    return InvalidField(FieldPath(field, "id"), AsStd(line.message()));
  }
  if (problem.has_reference_answer() && problem.reference_answer().size() > kMaxReferenceBytes) {
    return InvalidField(FieldPath(field, "reference_answer"),
                        absl::StrCat("at most ", kMaxReferenceBytes, " bytes, got ",
                                     problem.reference_answer().size()));
  }
  if (!v1::AnswerFormat_IsValid(problem.answer_format())) {
    return InvalidField(FieldPath(field, "answer_format"),
                        absl::StrCat("unknown value ", problem.answer_format(),
                                     " (use ANSWER_FORMAT_MATH, ANSWER_FORMAT_GSM8K or "
                                     "ANSWER_FORMAT_CODE)"));
  }
  if (problem.answer_format() == v1::ANSWER_FORMAT_CODE) {
    if (problem.has_reference_answer()) {
      return InvalidField(FieldPath(field, "reference_answer"),
                          "a code problem is graded by its code_tests; leave it unset");
    }
  } else if (problem.has_code_tests()) {
    return InvalidField(FieldPath(field, "code_tests"),
                        "only for problems with answer_format ANSWER_FORMAT_CODE");
  }
  if (problem.answer_format() != v1::ANSWER_FORMAT_CODE && problem.has_example_tests()) {
    return InvalidField(FieldPath(field, "example_tests"),
                        "only for problems with answer_format ANSWER_FORMAT_CODE");
  }
  if (problem.has_code_tests()) {
    PONDER_RETURN_IF_ERROR(ValidateCodeTests(problem.code_tests(), FieldPath(field, "code_tests")));
  }
  if (problem.has_example_tests()) {
    PONDER_RETURN_IF_ERROR(
        ValidateCodeTests(problem.example_tests(), FieldPath(field, "example_tests")));
  }
  return absl::OkStatus();
}

absl::Status ValidateBudget(const v1::Budget& budget, const ServiceLimits& limits,
                            std::string_view field) {
  if (budget.n() < 1 || budget.n() > limits.max_budget_n) {
    return InvalidField(
        FieldPath(field, "n"),
        absl::StrCat("must be in [1, ", limits.max_budget_n,
                     "] (the upper bound is the server's --max-budget-n), got ", budget.n()));
  }
  if (budget.max_generated_tokens() < 0) {
    return InvalidField(
        FieldPath(field, "max_generated_tokens"),
        absl::StrCat("must be >= 0 (0 = no cap), got ", budget.max_generated_tokens()));
  }
  return absl::OkStatus();
}

absl::Status ValidateStrategyConfig(const v1::StrategyConfig& config, const v1::Budget& budget,
                                    const ServiceLimits& limits, const StrategyFactory& strategies,
                                    std::string_view field) {
  if (config.kind_case() == v1::StrategyConfig::KIND_NOT_SET) {
    return InvalidField(field.empty() ? "strategy" : field,
                        absl::StrCat("no strategy set; set one of ", StrategyKinds()));
  }
  PONDER_RETURN_IF_ERROR(Within(field, samplers::ValidateSampling(config.sampling())));
  PONDER_RETURN_IF_ERROR(Within(field, samplers::ValidateSteps(config.steps())));
  PONDER_RETURN_IF_ERROR(ValidateTokenLimits(config, limits, field));
  if (strategies.NeedsVerifier(config) &&
      config.verifier().kind_case() == v1::VerifierConfig::KIND_NOT_SET) {
    const google::protobuf::FieldDescriptor* kind =
        v1::StrategyConfig::descriptor()->FindFieldByNumber(config.kind_case());
    return InvalidField(
        FieldPath(field, "verifier"),
        absl::StrCat(kind != nullptr ? kind->name() : "this strategy",
                     " scores candidates and needs a verifier (prm, orm, "
                     "self_evaluation, arithmetic, unit_tests, program_of_thought or weighted; "
                     "ponder solve and bench take it as --verifier JSON, e.g. "
                     "--verifier '{\"arithmetic\": {}}')"));
  }
  PONDER_RETURN_IF_ERROR(
      verifiers::ValidateVerifierConfig(config.verifier(), FieldPath(field, "verifier")));
  return Within(field, strategies.Validate(config, budget));
}

absl::Status Within(std::string_view field, const absl::Status& status) {
  if (!absl::IsInvalidArgument(status) || field.empty()) return status;
  // Only a message that starts with a field ("verifier.prm.format: ..."), not a sentence.
  const std::string_view message = AsStd(status.message());
  const size_t colon = message.find(": ");
  if (colon == std::string_view::npos ||
      message.substr(0, colon).find(' ') != std::string_view::npos)
    return status;
  return absl::InvalidArgumentError(absl::StrCat(AsAbsl(field), ".", status.message()));
}

absl::Status ValidatePrompt(const v1::PromptConfig& prompt, std::string_view field) {
  if (prompt.has_system_prompt() && prompt.system_prompt().size() > kMaxPromptBytes) {
    return InvalidField(
        FieldPath(field, "system_prompt"),
        absl::StrCat("at most ", kMaxPromptBytes, " bytes, got ", prompt.system_prompt().size()));
  }
  if (prompt.has_user_template()) {
    if (prompt.user_template().size() > kMaxPromptBytes) {
      return InvalidField(
          FieldPath(field, "user_template"),
          absl::StrCat("at most ", kMaxPromptBytes, " bytes, got ", prompt.user_template().size()));
    }
    PONDER_RETURN_IF_ERROR(verifiers::CheckPlaceholder(
        prompt.user_template(), "{problem}",
        /*required=*/true, FieldPath(field, "user_template"), "the problem text"));
  }
  return absl::OkStatus();
}

absl::Status ValidateSolveRequest(const v1::SolveRequest& request, const ServiceLimits& limits,
                                  const StrategyFactory& strategies) {
  if (!request.has_problem()) return InvalidField("problem", "required");
  PONDER_RETURN_IF_ERROR(ValidateProblem(request.problem(), limits, "problem"));
  if (!request.has_budget()) return InvalidField("budget", "required (budget.n >= 1)");
  PONDER_RETURN_IF_ERROR(ValidateBudget(request.budget(), limits, "budget"));
  PONDER_RETURN_IF_ERROR(ValidatePrompt(request.prompt(), "prompt"));
  return ValidateStrategyConfig(request.strategy(), request.budget(), limits, strategies,
                                "strategy");
}

absl::Status ValidateExperimentSpec(const v1::ExperimentSpec& spec, const ServiceLimits& limits,
                                    const StrategyFactory& strategies) {
  if (spec.name().size() > kMaxNameBytes) {
    return InvalidField(
        "spec.name", absl::StrCat("at most ", kMaxNameBytes, " bytes, got ", spec.name().size()));
  }
  if (absl::Status line = CheckNoControlCharacters(spec.name()); !line.ok()) {
    return InvalidField("spec.name", AsStd(line.message()));
  }
  const bool has_dataset = !spec.dataset().name().empty();
  if (has_dataset == (spec.problems_size() > 0)) {
    return InvalidField("spec.dataset", has_dataset
                                            ? "give either a dataset or inline problems, not both"
                                            : "give a dataset (spec.dataset.name) or inline "
                                              "problems (spec.problems)");
  }
  if (has_dataset) {
    if (spec.dataset().offset() < 0) {
      return InvalidField("spec.dataset.offset",
                          absl::StrCat("must be >= 0, got ", spec.dataset().offset()));
    }
    if (spec.dataset().limit() < 0) {
      return InvalidField("spec.dataset.limit", absl::StrCat("must be >= 0 (0 = to the end), got ",
                                                             spec.dataset().limit()));
    }
  }
  if (spec.problems_size() > kMaxInlineProblems) {
    return InvalidField("spec.problems", absl::StrCat("at most ", kMaxInlineProblems,
                                                      " inline, got ", spec.problems_size()));
  }
  std::set<std::string> problem_ids;
  for (int i = 0; i < spec.problems_size(); ++i) {
    const std::string field = absl::StrCat("spec.problems[", i, "]");
    PONDER_RETURN_IF_ERROR(ValidateProblem(spec.problems(i), limits, field));
    const std::string id = spec.problems(i).id().empty() ? absl::StrCat(i) : spec.problems(i).id();
    if (!problem_ids.insert(id).second) {
      return InvalidField(FieldPath(field, "id"), absl::StrCat("'", id, "' is not unique"));
    }
  }
  if (spec.strategies_size() == 0 || spec.strategies_size() > kMaxStrategies) {
    return InvalidField(
        "spec.strategies",
        absl::StrCat("give 1 to ", kMaxStrategies, " strategies, got ", spec.strategies_size()));
  }
  if (spec.budgets_size() == 0 || spec.budgets_size() > kMaxBudgets) {
    return InvalidField("spec.budgets", absl::StrCat("give 1 to ", kMaxBudgets, " budgets, got ",
                                                     spec.budgets_size()));
  }
  std::set<int> budget_ns;
  for (int i = 0; i < spec.budgets_size(); ++i) {
    const std::string field = absl::StrCat("spec.budgets[", i, "]");
    PONDER_RETURN_IF_ERROR(ValidateBudget(spec.budgets(i), limits, field));
    // Results are kept and summed per (strategy, n): a second budget of the same n would be
    // counted into the first one's cells.
    if (!budget_ns.insert(spec.budgets(i).n()).second) {
      return InvalidField(FieldPath(field, "n"),
                          absl::StrCat(spec.budgets(i).n(), " is given twice"));
    }
  }
  std::set<std::string> strategy_names;
  for (int i = 0; i < spec.strategies_size(); ++i) {
    const v1::NamedStrategy& strategy = spec.strategies(i);
    const std::string field = absl::StrCat("spec.strategies[", i, "]");
    if (strategy.name().empty() || strategy.name().size() > kMaxStrategyNameBytes) {
      return InvalidField(FieldPath(field, "name"),
                          absl::StrCat("required, at most ", kMaxStrategyNameBytes, " bytes"));
    }
    for (char c : strategy.name()) {
      if (!IsStrategyNameCharacter(c)) {
        return InvalidField(
            FieldPath(field, "name"),
            absl::StrCat("'", strategy.name(), "': use only letters, digits, '_', '-' and '.'"));
      }
    }
    if (!strategy_names.insert(strategy.name()).second) {
      return InvalidField(FieldPath(field, "name"),
                          absl::StrCat("'", strategy.name(), "' is not unique"));
    }
    // Strategy rules may depend on the budget (e.g. DVTS's width must divide n): check each pair.
    for (const v1::Budget& budget : spec.budgets()) {
      PONDER_RETURN_IF_ERROR(ValidateStrategyConfig(strategy.config(), budget, limits, strategies,
                                                    FieldPath(field, "config")));
    }
  }
  if (spec.seeds_size() > kMaxSeeds) {
    return InvalidField("spec.seeds",
                        absl::StrCat("at most ", kMaxSeeds, " seeds, got ", spec.seeds_size()));
  }
  std::set<uint64_t> seeds;
  for (int i = 0; i < spec.seeds_size(); ++i) {
    if (!seeds.insert(spec.seeds(i)).second) {  // the same runs again, counted twice
      return InvalidField(absl::StrCat("spec.seeds[", i, "]"),
                          absl::StrCat(spec.seeds(i), " is given twice"));
    }
  }
  PONDER_RETURN_IF_ERROR(ValidatePrompt(spec.prompt(), "spec.prompt"));
  if (spec.parallelism() < 0 || spec.parallelism() > limits.max_experiment_parallelism) {
    return InvalidField("spec.parallelism",
                        absl::StrCat("must be in [0, ", limits.max_experiment_parallelism,
                                     "] (0 = the server's default; the upper bound is its "
                                     "--max-experiment-parallelism), got ",
                                     spec.parallelism()));
  }
  const int64_t runs = int64_t{spec.problems_size()} * spec.strategies_size() *
                       spec.budgets_size() * std::max(1, spec.seeds_size());
  if (runs > limits.max_experiment_runs) {
    return InvalidField("spec", absl::StrCat(runs,
                                             " runs (problems x strategies x budgets x seeds), "
                                             "more than the server's limit of ",
                                             limits.max_experiment_runs));
  }
  return absl::OkStatus();
}

absl::Status ValidateRewardModelNames(const v1::VerifierConfig& verifier, ModelRegistry& models,
                                      std::string_view field) {
  auto loaded = [&](const std::string& name, std::string_view sub) {
    absl::StatusOr<engine::Engine*> model = models.RewardModel(name);
    return model.ok() ? absl::OkStatus()
                      : InvalidField(FieldPath(field, sub), AsStd(model.status().message()));
  };
  switch (verifier.kind_case()) {
    case v1::VerifierConfig::kPrm:
      return loaded(verifier.prm().model(), "prm.model");
    case v1::VerifierConfig::kOrm:
      return loaded(verifier.orm().model(), "orm.model");
    case v1::VerifierConfig::kWeighted:
      for (int i = 0; i < verifier.weighted().parts_size(); ++i) {
        PONDER_RETURN_IF_ERROR(ValidateRewardModelNames(
            verifier.weighted().parts(i).verifier(), models,
            FieldPath(field, absl::StrCat("weighted.parts[", i, "].verifier"))));
      }
      return absl::OkStatus();
    default:
      return absl::OkStatus();
  }
}

absl::Status ValidateExperimentId(int64_t id) {
  if (id <= 0) return InvalidField("experiment_id", absl::StrCat("must be > 0, got ", id));
  return absl::OkStatus();
}

absl::Status ValidatePageSize(int32_t page_size) {
  if (page_size < 0 || page_size > kMaxPageSize) {
    return InvalidField("page_size", absl::StrCat("must be in [0, ", kMaxPageSize,
                                                  "] (0 = the default), got ", page_size));
  }
  return absl::OkStatus();
}

}  // namespace ponder::orchestrator
