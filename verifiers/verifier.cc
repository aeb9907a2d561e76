#include "verifiers/verifier.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "verifiers/arithmetic_step_checker.h"
#include "verifiers/program_verifiers.h"
#include "verifiers/reward_model_verifier.h"

namespace ponder::verifiers {

// The aggregations of search-and-learn's aggregate_scores (sal/utils/score.py: "min", "prod",
// "last") plus the mean; AGGREGATION_MODEL is the single score of the whole solution.
double Aggregate(std::span<const double> step_scores, v1::Aggregation aggregation) {
  if (step_scores.empty()) return 0.0;
  switch (aggregation) {
    case v1::AGGREGATION_MIN:
      return *std::min_element(step_scores.begin(), step_scores.end());
    case v1::AGGREGATION_PROD:
      return std::accumulate(step_scores.begin(), step_scores.end(), 1.0,
                             std::multiplies<double>());
    case v1::AGGREGATION_MEAN:
      return std::accumulate(step_scores.begin(), step_scores.end(), 0.0) /
             static_cast<double>(step_scores.size());
    case v1::AGGREGATION_MODEL:
    case v1::AGGREGATION_LAST:
    default:
      return step_scores.back();
  }
}

std::string JoinedSteps(const Solution& solution) {
  if (solution.text.empty()) return absl::StrJoin(solution.steps, "\n\n");
  absl::string_view text = solution.text;
  if (!solution.delimiter.empty()) absl::ConsumeSuffix(&text, solution.delimiter);
  return std::string(text);
}

Solution SplitSteps(std::string_view text, std::string_view delimiter, bool complete) {
  Solution solution;
  solution.complete = complete;
  solution.text = std::string(text);
  solution.delimiter = std::string(delimiter);
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = delimiter.empty() ? std::string_view::npos : text.find(delimiter, start);
    std::string_view step =
        text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (step.find_first_not_of(" \t\r\n") != std::string_view::npos)
      solution.steps.emplace_back(step);
    if (end == std::string_view::npos) break;
    start = end + delimiter.size();
  }
  return solution;
}

namespace {

// A weighted mean of several verifiers' aggregated scores; per-step scores are not combined
// (the parts may cut steps differently), so the result has the one combined score.
class WeightedVerifier : public Verifier {
 public:
  struct Part {
    std::unique_ptr<Verifier> verifier;
    double weight;
    v1::Aggregation aggregation;
  };
  explicit WeightedVerifier(std::vector<Part> parts) : parts_(std::move(parts)) {}

  absl::StatusOr<VerifyResult> Score(std::string_view problem, std::span<const Solution> solutions,
                                     const VerifyOptions& options) override {
    VerifyResult result;
    result.scores.resize(solutions.size());
    double total_weight = 0;
    for (const Part& part : parts_) total_weight += part.weight;
    for (const Part& part : parts_) {
      VerifyOptions part_options = options;
      part_options.aggregation = part.aggregation;
      PONDER_ASSIGN_OR_RETURN(VerifyResult scored,
                              part.verifier->Score(problem, solutions, part_options));
      result.tokens_processed += scored.tokens_processed;
      for (size_t i = 0; i < solutions.size(); ++i) {
        result.scores[i].aggregate += part.weight / total_weight * scored.scores[i].aggregate;
        result.scores[i].over_context |= scored.scores[i].over_context;
      }
    }
    for (VerifierScores& scores : result.scores) scores.step_scores = {scores.aggregate};
    return result;
  }
  std::string name() const override {
    std::string out = "weighted(";
    for (size_t i = 0; i < parts_.size(); ++i) {
      absl::StrAppend(&out, i ? ", " : "", parts_[i].weight, "*", parts_[i].verifier->name());
    }
    return out + ")";
  }

 private:
  std::vector<Part> parts_;
};

size_t CountOccurrences(std::string_view text, std::string_view part) {
  size_t count = 0;
  for (size_t at = text.find(part); at != std::string_view::npos;
       at = text.find(part, at + part.size())) {
    ++count;
  }
  return count;
}

absl::Status ValidateVerifierAt(const v1::VerifierConfig& verifier, std::string_view field,
                                int depth) {
  if (!v1::Aggregation_IsValid(verifier.aggregation())) {
    return InvalidField(FieldPath(field, "aggregation"),
                        absl::StrCat("unknown value ", verifier.aggregation(),
                                     " (use AGGREGATION_LAST, _MIN, _PROD, _MEAN or _MODEL)"));
  }
  auto bounded_text = [&](bool has, const std::string& text, std::string_view sub) -> absl::Status {
    if (has && text.size() > kMaxVerifierTextBytes) {
      return InvalidField(FieldPath(field, sub), absl::StrCat("at most ", kMaxVerifierTextBytes,
                                                              " bytes, got ", text.size()));
    }
    return absl::OkStatus();
  };
  switch (verifier.kind_case()) {
    case v1::VerifierConfig::kPrm: {
      const v1::ProcessRewardModel& prm = verifier.prm();
      if (prm.model().empty()) {
        return InvalidField(
            FieldPath(field, "prm.model"),
            "required: the name of a reward model the server loaded (--prm NAME=PATH)");
      }
      if (!v1::ProcessRewardModel::Format_IsValid(prm.format())) {
        return InvalidField(FieldPath(field, "prm.format"),
                            absl::StrCat("unknown value ", prm.format()));
      }
      if (prm.format() == v1::ProcessRewardModel::FORMAT_UNSPECIFIED) {
        return InvalidField(
            FieldPath(field, "prm.format"),
            "required: FORMAT_QWEN_MATH_PRM, FORMAT_RLHFLOW or FORMAT_MATH_SHEPHERD");
      }
      if (prm.has_step_tag() && prm.step_tag().empty()) {
        return InvalidField(FieldPath(field, "prm.step_tag"), "must not be empty when set");
      }
      PONDER_RETURN_IF_ERROR(bounded_text(prm.has_step_tag(), prm.step_tag(), "prm.step_tag"));
      return bounded_text(prm.has_system_prompt(), prm.system_prompt(), "prm.system_prompt");
    }
    case v1::VerifierConfig::kOrm:
      if (verifier.orm().model().empty()) {
        return InvalidField(
            FieldPath(field, "orm.model"),
            "required: the name of a reward model the server loaded (--prm NAME=PATH)");
      }
      return absl::OkStatus();
    case v1::VerifierConfig::kSelfEvaluation: {
      const v1::SelfEvaluation& self = verifier.self_evaluation();
      PONDER_RETURN_IF_ERROR(
          bounded_text(self.has_prompt(), self.prompt(), "self_evaluation.prompt"));
      if (self.has_prompt()) {
        // Without "{solution}" the policy would judge a prompt that does not hold the solution.
        const std::string prompt_field = FieldPath(field, "self_evaluation.prompt");
        PONDER_RETURN_IF_ERROR(CheckPlaceholder(self.prompt(), "{solution}", /*required=*/true,
                                                prompt_field, "the solution"));
        PONDER_RETURN_IF_ERROR(CheckPlaceholder(self.prompt(), "{problem}", /*required=*/false,
                                                prompt_field, "the problem text"));
      }
      if (self.has_positive() && self.positive().empty()) {
        return InvalidField(FieldPath(field, "self_evaluation.positive"),
                            "must not be empty when set");
      }
      if (self.has_negative() && self.negative().empty()) {
        return InvalidField(FieldPath(field, "self_evaluation.negative"),
                            "must not be empty when set");
      }
      PONDER_RETURN_IF_ERROR(
          bounded_text(self.has_positive(), self.positive(), "self_evaluation.positive"));
      return bounded_text(self.has_negative(), self.negative(), "self_evaluation.negative");
    }
    case v1::VerifierConfig::kArithmetic: {
      const v1::ArithmeticStepChecker& arithmetic = verifier.arithmetic();
      if (arithmetic.has_neutral_score() &&
          !(arithmetic.neutral_score() >= 0 && arithmetic.neutral_score() <= 1)) {
        return InvalidField(FieldPath(field, "arithmetic.neutral_score"),
                            absl::StrCat("must be in [0, 1], got ", arithmetic.neutral_score()));
      }
      if (arithmetic.has_tolerance() &&
          !(std::isfinite(arithmetic.tolerance()) && arithmetic.tolerance() >= 0)) {
        return InvalidField(FieldPath(field, "arithmetic.tolerance"),
                            absl::StrCat("must be >= 0, got ", arithmetic.tolerance()));
      }
      return absl::OkStatus();
    }
    case v1::VerifierConfig::kUnitTests:
    case v1::VerifierConfig::kProgramOfThought:
      return absl::OkStatus();
    case v1::VerifierConfig::kWeighted: {
      const v1::WeightedVerifiers& weighted = verifier.weighted();
      if (weighted.parts_size() == 0 || weighted.parts_size() > kMaxWeightedParts) {
        return InvalidField(
            FieldPath(field, "weighted.parts"),
            absl::StrCat("give 1 to ", kMaxWeightedParts, " parts, got ", weighted.parts_size()));
      }
      if (depth >= kMaxVerifierDepth) {
        return InvalidField(
            FieldPath(field, "weighted"),
            absl::StrCat("weighted verifiers nest at most ", kMaxVerifierDepth, " deep"));
      }
      for (int i = 0; i < weighted.parts_size(); ++i) {
        const v1::WeightedVerifiers::Part& part = weighted.parts(i);
        const std::string part_field = FieldPath(field, absl::StrCat("weighted.parts[", i, "]"));
        if (!(part.weight() > 0 && part.weight() <= kMaxVerifierWeight)) {
          return InvalidField(
              FieldPath(part_field, "weight"),
              absl::StrCat("must be in (0, ", kMaxVerifierWeight, "], got ", part.weight()));
        }
        if (part.verifier().kind_case() == v1::VerifierConfig::KIND_NOT_SET) {
          return InvalidField(FieldPath(part_field, "verifier"),
                              "required: set one of prm, orm, self_evaluation, arithmetic, "
                              "unit_tests, program_of_thought, weighted");
        }
        PONDER_RETURN_IF_ERROR(
            ValidateVerifierAt(part.verifier(), FieldPath(part_field, "verifier"), depth + 1));
      }
      return absl::OkStatus();
    }
    case v1::VerifierConfig::KIND_NOT_SET:
      return absl::OkStatus();
  }
  return absl::OkStatus();
}

// A weighted part's build error under the part's path: "verifier.prm.step_tag: ..." becomes
// "verifier.weighted.parts[1].verifier.prm.step_tag: ...". Messages that name no field stay.
absl::Status WithinPart(int index, const absl::Status& status) {
  if (!absl::StartsWith(status.message(), "verifier.")) return status;
  return absl::Status(status.code(),
                      absl::StrCat("verifier.weighted.parts[", index, "].", status.message()));
}

}  // namespace

absl::Status CheckPlaceholder(std::string_view text, std::string_view placeholder, bool required,
                              std::string_view field, std::string_view what) {
  const size_t uses = CountOccurrences(text, placeholder);
  if (uses == 0 && required) {
    return InvalidField(field, absl::StrCat("must contain \"", AsAbsl(placeholder), "\" (where ",
                                            AsAbsl(what), " goes)"));
  }
  if (uses > kMaxPlaceholderUses) {
    return InvalidField(
        field, absl::StrCat("holds \"", AsAbsl(placeholder), "\" ", uses, " times; at most ",
                            kMaxPlaceholderUses, " (each is replaced by ", AsAbsl(what), ")"));
  }
  return absl::OkStatus();
}

bool UsesVerifier(const v1::VerifierConfig& config, v1::VerifierConfig::KindCase kind) {
  if (config.kind_case() == kind) return true;
  for (const v1::WeightedVerifiers::Part& part : config.weighted().parts()) {
    if (UsesVerifier(part.verifier(), kind)) return true;
  }
  return false;
}

bool RunsPrograms(const v1::VerifierConfig& config) {
  return UsesVerifier(config, v1::VerifierConfig::kUnitTests) ||
         UsesVerifier(config, v1::VerifierConfig::kProgramOfThought);
}

absl::Status ValidateVerifierConfig(const v1::VerifierConfig& config, std::string_view field) {
  return ValidateVerifierAt(config, field, 0);
}

namespace {

// MakeVerifier's building, on a configuration ValidateVerifierConfig accepted.
absl::StatusOr<std::unique_ptr<Verifier>> Build(const v1::VerifierConfig& config,
                                                VerifierModels& models) {
  switch (config.kind_case()) {
    case v1::VerifierConfig::kPrm: {
      PONDER_ASSIGN_OR_RETURN(engine::Engine * model, models.RewardModel(config.prm().model()));
      return MakeProcessRewardModelVerifier(config.prm(), model);
    }
    case v1::VerifierConfig::kOrm: {
      PONDER_ASSIGN_OR_RETURN(engine::Engine * model, models.RewardModel(config.orm().model()));
      return MakeOutcomeRewardModelVerifier(config.orm(), model);
    }
    case v1::VerifierConfig::kSelfEvaluation:
      if (models.policy() == nullptr)
        return absl::InvalidArgumentError("verifier.self_evaluation needs the policy model");
      return MakeSelfEvaluationVerifier(config.self_evaluation(), models.policy());
    case v1::VerifierConfig::kArithmetic: {
      const v1::ArithmeticStepChecker& arithmetic = config.arithmetic();
      return std::make_unique<ArithmeticStepChecker>(
          arithmetic.has_neutral_score() ? arithmetic.neutral_score() : 0.5,
          arithmetic.has_tolerance() ? arithmetic.tolerance() : 1e-6);
    }
    case v1::VerifierConfig::kUnitTests: {
      PONDER_ASSIGN_OR_RETURN(ProgramTester * tester, models.program_tester());
      if (tester->answer_format().value_or(AnswerFormat::kCode) != AnswerFormat::kCode) {
        return absl::InvalidArgumentError(
            "verifier.unit_tests: runs code problems' example tests; this problem's "
            "answer_format is not ANSWER_FORMAT_CODE");
      }
      return std::make_unique<UnitTestVerifier>(tester);
    }
    case v1::VerifierConfig::kProgramOfThought: {
      PONDER_ASSIGN_OR_RETURN(ProgramTester * tester, models.program_tester());
      const AnswerFormat format = tester->answer_format().value_or(AnswerFormat::kMath);
      if (format == AnswerFormat::kCode) {
        return absl::InvalidArgumentError(
            "verifier.program_of_thought: checks a math answer against a program's; this "
            "problem is a code problem (ANSWER_FORMAT_CODE)");
      }
      return std::make_unique<ProgramOfThoughtVerifier>(tester, format);
    }
    case v1::VerifierConfig::kWeighted: {
      std::vector<WeightedVerifier::Part> parts;
      for (int i = 0; i < config.weighted().parts_size(); ++i) {
        const auto& part = config.weighted().parts(i);
        absl::StatusOr<std::unique_ptr<Verifier>> verifier = Build(part.verifier(), models);
        if (!verifier.ok()) return WithinPart(i, verifier.status());
        v1::Aggregation aggregation = part.verifier().aggregation() == v1::AGGREGATION_UNSPECIFIED
                                          ? v1::AGGREGATION_LAST
                                          : part.verifier().aggregation();
        parts.push_back({*std::move(verifier), part.weight(), aggregation});
      }
      return std::make_unique<WeightedVerifier>(std::move(parts));
    }
    case v1::VerifierConfig::KIND_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError(
      "verifier: set one of prm, orm, self_evaluation, arithmetic, unit_tests, program_of_thought, "
      "weighted");
}

}  // namespace

absl::StatusOr<std::unique_ptr<Verifier>> MakeVerifier(const v1::VerifierConfig& config,
                                                       VerifierModels& models) {
  PONDER_RETURN_IF_ERROR(ValidateVerifierConfig(config));
  return Build(config, models);
}

}  // namespace ponder::verifiers
