#include "verifiers/verifier.h"

#include <algorithm>
#include <numeric>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "verifiers/arithmetic_step_checker.h"
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

Solution SplitSteps(std::string_view text, std::string_view delimiter, bool complete) {
  Solution solution;
  solution.complete = complete;
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

// A weighted part's build error under the part's path: "verifier.prm.step_tag: ..." becomes
// "verifier.weighted.parts[1].verifier.prm.step_tag: ...". Messages that name no field stay.
absl::Status WithinPart(int index, const absl::Status& status) {
  if (!absl::StartsWith(status.message(), "verifier.")) return status;
  return absl::Status(status.code(),
                      absl::StrCat("verifier.weighted.parts[", index, "].", status.message()));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Verifier>> MakeVerifier(const v1::VerifierConfig& config,
                                                       VerifierModels& models) {
  switch (config.kind_case()) {
    case v1::VerifierConfig::kPrm: {
      if (config.prm().model().empty())
        return absl::InvalidArgumentError("verifier.prm.model is required");
      PONDER_ASSIGN_OR_RETURN(engine::Engine * model, models.RewardModel(config.prm().model()));
      return MakeProcessRewardModelVerifier(config.prm(), model);
    }
    case v1::VerifierConfig::kOrm: {
      if (config.orm().model().empty())
        return absl::InvalidArgumentError("verifier.orm.model is required");
      PONDER_ASSIGN_OR_RETURN(engine::Engine * model, models.RewardModel(config.orm().model()));
      return MakeOutcomeRewardModelVerifier(config.orm(), model);
    }
    case v1::VerifierConfig::kSelfEvaluation:
      if (models.policy() == nullptr)
        return absl::InvalidArgumentError("verifier.self_evaluation needs the policy model");
      return MakeSelfEvaluationVerifier(config.self_evaluation(), models.policy());
    case v1::VerifierConfig::kArithmetic: {
      double neutral =
          config.arithmetic().has_neutral_score() ? config.arithmetic().neutral_score() : 0.5;
      double tolerance =
          config.arithmetic().has_tolerance() ? config.arithmetic().tolerance() : 1e-6;
      if (neutral < 0 || neutral > 1) {
        return absl::InvalidArgumentError("verifier.arithmetic.neutral_score must be in [0, 1]");
      }
      if (!(tolerance >= 0))
        return absl::InvalidArgumentError("verifier.arithmetic.tolerance must be >= 0");
      return std::make_unique<ArithmeticStepChecker>(neutral, tolerance);
    }
    case v1::VerifierConfig::kWeighted: {
      if (config.weighted().parts().empty())
        return absl::InvalidArgumentError("verifier.weighted.parts is empty");
      std::vector<WeightedVerifier::Part> parts;
      for (int i = 0; i < config.weighted().parts_size(); ++i) {
        const auto& part = config.weighted().parts(i);
        if (!(part.weight() > 0 && part.weight() <= kMaxVerifierWeight)) {
          return absl::InvalidArgumentError(absl::StrCat(
              "verifier.weighted.parts[", i, "].weight must be in (0, ", kMaxVerifierWeight, "]"));
        }
        absl::StatusOr<std::unique_ptr<Verifier>> verifier = MakeVerifier(part.verifier(), models);
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
      "verifier: set one of prm, orm, self_evaluation, arithmetic, weighted");
}

}  // namespace ponder::verifiers
