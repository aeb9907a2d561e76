#include "verifiers/reward_model_verifier.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <span>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/mutex.h"
#include "base/hash.h"
#include "base/status_macros.h"
#include "base/strings.h"

namespace ponder::verifiers {
namespace {

// Steps for one read-out: one per step, or the whole solution as one step (AGGREGATION_MODEL).
std::vector<std::string> StepsFor(const Solution& solution, v1::Aggregation aggregation) {
  if (aggregation == v1::AGGREGATION_MODEL) return {JoinedSteps(solution)};
  return solution.steps;
}

absl::Status CheckStopped(const VerifyOptions& options) {
  if (options.cancel != nullptr && options.cancel->cancelled())
    return absl::CancelledError("verification cancelled");
  if (options.deadline.has_value() && absl::Now() >= *options.deadline) {
    return absl::DeadlineExceededError("verification passed its deadline");
  }
  return absl::OkStatus();
}

// Scores already read, by the tokens up to their position. A causal model's read-out at a
// position depends on those tokens alone, so a step-level search, which scores every partial
// again with one more step, needs each step read once; and it must not read the old steps again,
// since the engine's prefix cache serves a score request only up to its first read position:
// reading from the first step would recompute the whole partial at every step. One memo per
// verifier, that is per solve.
class ReadMemo {
 public:
  // For each of `positions` (strictly ascending, into the request's tokens), a hash of the
  // tokens up to and including it and of its position; fewer keys when a position is out of
  // order or out of range.
  static std::vector<uint64_t> Keys(const engine::ScoreRequest& request,
                                    std::span<const int64_t> positions) {
    std::vector<uint64_t> keys;
    keys.reserve(positions.size());
    uint64_t hash = kGoldenGamma;
    size_t next = 0;
    const size_t total = request.prefix_tokens.size() + request.continuation_tokens.size();
    for (size_t i = 0; i < total && next < positions.size(); ++i) {
      const int32_t token = i < request.prefix_tokens.size()
                                ? request.prefix_tokens[i]
                                : request.continuation_tokens[i - request.prefix_tokens.size()];
      hash = Mix64(hash ^ (static_cast<uint64_t>(static_cast<uint32_t>(token)) + (1ull << 32)));
      while (next < positions.size() && positions[next] == static_cast<int64_t>(i)) {
        keys.push_back(Mix64(hash ^ static_cast<uint64_t>(i)));  // the length in the key too
        ++next;
      }
    }
    return keys;
  }

  std::optional<double> Find(uint64_t key) const {
    absl::MutexLock lock(&mu_);
    auto it = scores_.find(key);
    if (it == scores_.end()) return std::nullopt;
    return it->second;
  }
  void Add(uint64_t key, double score) {
    absl::MutexLock lock(&mu_);
    scores_[key] = score;
  }

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, double> scores_ ABSL_GUARDED_BY(mu_);
};

// Sends one score request per solution and turns each result into step scores. A solution
// whose input does not fit the model's context is not sent: it gets VerifierScores with
// over_context set (aggregate 0). Read positions (reward_positions or pair_positions, one
// score each, in order) already in `memo` are not read again; a request with none left is not
// sent.
template <typename Build, typename Read>
absl::StatusOr<VerifyResult> ScoreAll(engine::Engine& model, ReadMemo& memo,
                                      std::span<const Solution> solutions,
                                      const VerifyOptions& options, Build build, Read read) {
  PONDER_RETURN_IF_ERROR(CheckStopped(options));
  // An input over the model's context, or over what its KV budget holds, is scored as over the
  // context (the engine would fail the request).
  const int64_t context = model.Info().usable_context();
  std::vector<engine::ScoreRequest> requests;
  std::vector<size_t> sent;  // the solution of each request
  struct Reads {
    std::vector<uint64_t> keys;     // every read position's, in order
    std::vector<uint64_t> missing;  // the keys of the positions sent to the model, in order
  };
  std::vector<Reads> reads(solutions.size());
  VerifyResult out;
  out.scores.resize(solutions.size());
  for (size_t i = 0; i < solutions.size(); ++i) {
    PONDER_ASSIGN_OR_RETURN(engine::ScoreRequest request, build(solutions[i]));
    std::vector<int64_t>& positions =
        request.reward_positions.empty() ? request.pair_positions : request.reward_positions;
    const int64_t tokens =
        static_cast<int64_t>(request.prefix_tokens.size() + request.continuation_tokens.size());
    if (context > 0 && tokens > context) {
      out.scores[i].over_context = true;
      continue;
    }
    reads[i].keys = ReadMemo::Keys(request, positions);
    if (reads[i].keys.size() != positions.size()) {  // unsorted, repeated or out of range
      return absl::InternalError(
          absl::StrCat("read positions of a score request must ascend "
                       "inside its ",
                       tokens, " tokens"));
    }
    std::vector<int64_t> to_read;
    for (size_t k = 0; k < positions.size(); ++k) {
      if (memo.Find(reads[i].keys[k]).has_value()) continue;
      to_read.push_back(positions[k]);
      reads[i].missing.push_back(reads[i].keys[k]);
    }
    if (to_read.empty() && !positions.empty()) continue;  // every read is known
    positions = std::move(to_read);
    request.cancel = options.cancel;
    request.deadline = options.deadline;
    requests.push_back(std::move(request));
    sent.push_back(i);
  }
  std::vector<absl::StatusOr<engine::ScoreResult>> results = model.ScoreMany(requests);
  for (size_t r = 0; r < results.size(); ++r) {
    PONDER_RETURN_IF_ERROR(results[r].status());
    PONDER_ASSIGN_OR_RETURN(std::vector<double> read_now, read(*results[r], requests[r]));
    const Reads& wanted = reads[sent[r]];
    if (read_now.size() != wanted.missing.size()) {
      return absl::InternalError(absl::StrCat("the model returned ", read_now.size(),
                                              " read-outs for ", wanted.missing.size(),
                                              " positions"));
    }
    for (size_t k = 0; k < read_now.size(); ++k) memo.Add(wanted.missing[k], read_now[k]);
    out.tokens_processed +=
        static_cast<int64_t>(requests[r].prefix_tokens.size()) - results[r]->cached_tokens;
  }
  for (size_t i = 0; i < solutions.size(); ++i) {
    if (out.scores[i].over_context) continue;
    VerifierScores& scores = out.scores[i];
    for (uint64_t key : reads[i].keys) scores.step_scores.push_back(*memo.Find(key));
    scores.aggregate = Aggregate(scores.step_scores, options.aggregation);
  }
  return out;
}

std::vector<double> PairScores(const engine::ScoreResult& result) {
  return std::vector<double>(result.pair_probabilities.begin(), result.pair_probabilities.end());
}

// The token `text` is, for `purpose`; else InvalidArgument naming `field`, the setting that
// asked for it (the step tag, or the format whose labels these are).
absl::StatusOr<int32_t> RequireToken(engine::Engine& model, std::string_view text,
                                     std::string_view field, std::string_view purpose) {
  std::optional<int32_t> id = model.TokenId(text);
  if (id.has_value()) return *id;
  PONDER_ASSIGN_OR_RETURN(std::vector<int32_t> ids, model.Tokenize(text, false));
  if (ids.size() == 1) return ids[0];
  return absl::InvalidArgumentError(absl::StrCat(AsAbsl(field), ": the model ", model.Info().path,
                                                 " has no single token for ", AsAbsl(purpose), " '",
                                                 Printable(text, 64), "'"));
}

// The token `text` is where it follows a word and a space, as a Math-Shepherd input holds its
// tag (" ки") and as the model was trained to write its labels (" +", " -"): the model card takes
// `tokenizer.encode(f"{good_token} {bad_token}")[1:]` (648 and 387 in Mistral's vocabulary, the
// pieces "▁+" and "▁-") and `tokenizer.encode(f"{step_tag}")[-1]` (12902), where SentencePiece's
// space prefix gives the spaced pieces. The bare pieces ("+", "ки") are other tokens, which the
// model never reads or writes there. Else InvalidArgument naming `field`.
absl::StatusOr<int32_t> TokenAfterSpace(engine::Engine& model, std::string_view text,
                                        std::string_view field, std::string_view purpose) {
  PONDER_ASSIGN_OR_RETURN(std::vector<int32_t> ids,
                          model.Tokenize(absl::StrCat("a ", AsAbsl(text)), false));
  if (!ids.empty()) {
    // The last token must hold all of `text` (with the space or without it).
    const std::string piece = model.Detokenize({ids.back()});
    if (piece == text || piece == absl::StrCat(" ", AsAbsl(text))) return ids.back();
  }
  return absl::InvalidArgumentError(absl::StrCat(AsAbsl(field), ": the model ", model.Info().path,
                                                 " has no single token for ", AsAbsl(purpose), " '",
                                                 Printable(text, 64), "' after a space"));
}

// Where a PRM's step scores are read: every position that holds `tag` in the solution, the part
// of `text` from the character `solution_at` on (`tokens` is `text` tokenized). The references
// read every position that holds the tag (Qwen's `input_ids == step_sep_id`, Math-Shepherd's
// `input_id == step_tag_id`), which is the same whenever the prompt does not hold the tag; where
// it does (a problem with "<extra_0>" in it), those positions are no steps and are not read.
absl::StatusOr<std::vector<int64_t>> SolutionTagPositions(engine::Engine& model,
                                                          std::string_view text, size_t solution_at,
                                                          bool add_bos,
                                                          std::span<const int32_t> tokens,
                                                          int32_t tag) {
  PONDER_ASSIGN_OR_RETURN(std::vector<int32_t> prompt,
                          model.Tokenize(text.substr(0, solution_at), add_bos));
  // The prompt's last token may merge with the solution's first (" " and a word): start one
  // early. It is never a tag: the solution's first tag follows its first step.
  std::vector<int64_t> positions;
  for (size_t i = prompt.empty() ? 0 : prompt.size() - 1; i < tokens.size(); ++i) {
    if (tokens[i] == tag) positions.push_back(static_cast<int64_t>(i));
  }
  return positions;
}

// Qwen2.5-Math-PRM (model card, "Quick Start"): system prompt, the question as the user turn,
// the steps joined by "<extra_0>" (and one after the last) as the assistant turn, rendered with
// add_generation_prompt=False; the step reward is the positive-class probability (label 1 of
// the two-way head, softmax) at every "<extra_0>".
class QwenMathPrm : public Verifier {
 public:
  QwenMathPrm(engine::Engine& model, int32_t tag, std::string tag_text, std::string system)
      : model_(model), tag_(tag), tag_text_(std::move(tag_text)), system_(std::move(system)) {}

  absl::StatusOr<VerifyResult> Score(std::string_view problem, std::span<const Solution> solutions,
                                     const VerifyOptions& options) override {
    return ScoreAll(
        model_, memo_, solutions, options,
        [&](const Solution& solution) -> absl::StatusOr<engine::ScoreRequest> {
          std::vector<std::string> steps = StepsFor(solution, options.aggregation);
          std::string assistant = absl::StrJoin(steps, tag_text_) + tag_text_;
          PONDER_ASSIGN_OR_RETURN(
              std::string text,
              model_.ApplyChatTemplate(
                  {{"system", system_}, {"user", std::string(problem)}, {"assistant", assistant}},
                  /*add_generation_prompt=*/false));
          engine::ScoreRequest request;
          PONDER_ASSIGN_OR_RETURN(request.prefix_tokens, model_.Tokenize(text, false));
          // The assistant turn is the last place its text occurs (the template closes the turn
          // after it). A template that rewrites the text (trims it) leaves the whole input to be
          // read, as the reference reads it.
          size_t solution_at = text.rfind(assistant);
          if (solution_at == std::string::npos) solution_at = 0;
          PONDER_ASSIGN_OR_RETURN(
              request.reward_positions,
              SolutionTagPositions(model_, text, solution_at, false, request.prefix_tokens, tag_));
          return request;
        },
        [&](const engine::ScoreResult& result,
            const engine::ScoreRequest&) -> absl::StatusOr<std::vector<double>> {
          std::vector<double> scores;
          for (const auto& reward : result.rewards) {
            if (reward.probabilities.size() < 2) {
              return absl::FailedPreconditionError("the PRM's head has fewer than two labels");
            }
            scores.push_back(reward.probabilities[1]);
          }
          return scores;
        });
  }
  std::string name() const override {
    return absl::StrCat("prm:qwen-math(", model_.Info().path, ")");
  }

 private:
  engine::Engine& model_;
  int32_t tag_;
  std::string tag_text_, system_;
  ReadMemo memo_;
};

// RLHFlow PRMs (RLHFlow/RLHF-Reward-Modeling, math-rm/prm_evaluate.py): the conversation has one
// user turn per step (the first one "question + ' ' + step") each answered by an assistant "+";
// the step's score is softmax over the logits of "+" and "-" where the model predicts that "+"
// (the position before it, "-3" from the end for the last step), i.e. P(+) / (P(+) + P(-)).
class RlhflowPrm : public Verifier {
 public:
  RlhflowPrm(engine::Engine& model, int32_t plus, int32_t minus)
      : model_(model), plus_(plus), minus_(minus) {}

  absl::StatusOr<VerifyResult> Score(std::string_view problem, std::span<const Solution> solutions,
                                     const VerifyOptions& options) override {
    return ScoreAll(
        model_, memo_, solutions, options,
        [&](const Solution& solution) -> absl::StatusOr<engine::ScoreRequest> {
          std::vector<std::string> steps = StepsFor(solution, options.aggregation);
          std::vector<engine::Engine::Message> conversation;
          engine::ScoreRequest request;
          for (size_t k = 0; k < steps.size(); ++k) {
            conversation.push_back(
                {"user", k == 0 ? absl::StrCat(AsAbsl(problem), " ", steps[0]) : steps[k]});
            // The "+" of this turn sits right after the rendered prefix that opens the turn.
            PONDER_ASSIGN_OR_RETURN(std::string opened,
                                    model_.ApplyChatTemplate(conversation, true));
            PONDER_ASSIGN_OR_RETURN(std::vector<int32_t> prefix, model_.Tokenize(opened, false));
            request.pair_positions.push_back(static_cast<int64_t>(prefix.size()) - 1);
            conversation.push_back({"assistant", "+"});
          }
          PONDER_ASSIGN_OR_RETURN(std::string text, model_.ApplyChatTemplate(conversation, false));
          PONDER_ASSIGN_OR_RETURN(request.prefix_tokens, model_.Tokenize(text, false));
          for (int64_t position : request.pair_positions) {
            if (position + 1 >= static_cast<int64_t>(request.prefix_tokens.size()) ||
                request.prefix_tokens[position + 1] != plus_) {
              return absl::FailedPreconditionError(
                  "the chat template does not tokenize an assistant '+' turn as the '+' token");
            }
          }
          request.pair_token_a = plus_;
          request.pair_token_b = minus_;
          return request;
        },
        [](const engine::ScoreResult& result, const engine::ScoreRequest&)
            -> absl::StatusOr<std::vector<double>> { return PairScores(result); });
  }
  std::string name() const override {
    return absl::StrCat("prm:rlhflow(", model_.Info().path, ")");
  }

 private:
  engine::Engine& model_;
  int32_t plus_, minus_;
  ReadMemo memo_;
};

// Math-Shepherd (peiyi9979/math-shepherd-mistral-7b-prm, model card): the input is
// "question + ' ' + steps", each step followed by " ки" and the steps joined by "\n"; the step
// score is softmax over the " +" and " -" logits at each " ки" token, taking " +" (the tokens
// of TokenAfterSpace).
class MathShepherdPrm : public Verifier {
 public:
  MathShepherdPrm(engine::Engine& model, int32_t tag, std::string tag_text, int32_t plus,
                  int32_t minus)
      : model_(model), tag_(tag), tag_text_(std::move(tag_text)), plus_(plus), minus_(minus) {}

  absl::StatusOr<VerifyResult> Score(std::string_view problem, std::span<const Solution> solutions,
                                     const VerifyOptions& options) override {
    return ScoreAll(
        model_, memo_, solutions, options,
        [&](const Solution& solution) -> absl::StatusOr<engine::ScoreRequest> {
          std::vector<std::string> steps = StepsFor(solution, options.aggregation);
          std::string text = absl::StrCat(AsAbsl(problem), " ");
          const size_t solution_at = text.size();
          for (size_t k = 0; k < steps.size(); ++k) {
            absl::StrAppend(&text, k == 0 ? "" : "\n", steps[k], " ", tag_text_);
          }
          engine::ScoreRequest request;
          PONDER_ASSIGN_OR_RETURN(request.prefix_tokens, model_.Tokenize(text, true));
          PONDER_ASSIGN_OR_RETURN(
              request.pair_positions,
              SolutionTagPositions(model_, text, solution_at, true, request.prefix_tokens, tag_));
          request.pair_token_a = plus_;
          request.pair_token_b = minus_;
          return request;
        },
        [](const engine::ScoreResult& result, const engine::ScoreRequest&)
            -> absl::StatusOr<std::vector<double>> { return PairScores(result); });
  }
  std::string name() const override {
    return absl::StrCat("prm:math-shepherd(", model_.Info().path, ")");
  }

 private:
  engine::Engine& model_;
  int32_t tag_;
  std::string tag_text_;
  int32_t plus_, minus_;
  ReadMemo memo_;
};

// An outcome reward model: the question as the user turn, the solution as the assistant turn;
// the head is read at the last token. A two-label head gives the probability of label 1; a
// one-label head (a scalar reward) is squashed with the logistic function.
class OutcomeRewardModel : public Verifier {
 public:
  explicit OutcomeRewardModel(engine::Engine& model) : model_(model) {}

  absl::StatusOr<VerifyResult> Score(std::string_view problem, std::span<const Solution> solutions,
                                     const VerifyOptions& options) override {
    VerifyOptions whole = options;
    whole.aggregation = v1::AGGREGATION_MODEL;  // one score for the whole solution
    return ScoreAll(
        model_, memo_, solutions, whole,
        [&](const Solution& solution) -> absl::StatusOr<engine::ScoreRequest> {
          PONDER_ASSIGN_OR_RETURN(
              std::string text,
              model_.ApplyChatTemplate(
                  {{"user", std::string(problem)}, {"assistant", JoinedSteps(solution)}}, false));
          engine::ScoreRequest request;
          PONDER_ASSIGN_OR_RETURN(request.prefix_tokens, model_.Tokenize(text, false));
          request.reward_positions = {static_cast<int64_t>(request.prefix_tokens.size()) - 1};
          return request;
        },
        [](const engine::ScoreResult& result,
           const engine::ScoreRequest&) -> absl::StatusOr<std::vector<double>> {
          if (result.rewards.empty()) return absl::InternalError("no read-out at the last token");
          const auto& reward = result.rewards.back();
          if (reward.logits.size() == 1)
            return std::vector<double>{1.0 / (1.0 + std::exp(-reward.logits[0]))};
          if (reward.probabilities.size() < 2) {
            return absl::FailedPreconditionError("the ORM's head has no labels");
          }
          return std::vector<double>{reward.probabilities[1]};
        });
  }
  std::string name() const override { return absl::StrCat("orm(", model_.Info().path, ")"); }

 private:
  engine::Engine& model_;
  ReadMemo memo_;
};

constexpr char kDefaultSelfEvaluationPrompt[] =
    "Here is a math problem and a proposed solution.\n\nProblem: {problem}\n\nProposed "
    "solution:\n{solution}\n\n"
    "Is the proposed solution correct? Answer with a single word, True or False.";

// The policy judges a solution: the verification prompt as a user turn, then P(positive) /
// (P(positive) + P(negative)) for the first token of the reply (Kadavath et al. 2022's P(True)).
class SelfEvaluation : public Verifier {
 public:
  SelfEvaluation(engine::Engine& policy, std::string prompt, int32_t positive, int32_t negative)
      : policy_(policy), prompt_(std::move(prompt)), positive_(positive), negative_(negative) {}

  absl::StatusOr<VerifyResult> Score(std::string_view problem, std::span<const Solution> solutions,
                                     const VerifyOptions& options) override {
    VerifyOptions whole = options;
    whole.aggregation = v1::AGGREGATION_MODEL;
    return ScoreAll(
        policy_, memo_, solutions, whole,
        [&](const Solution& solution) -> absl::StatusOr<engine::ScoreRequest> {
          // One pass over the template: every placeholder is replaced, and text that came in
          // with the problem or the solution is never read as a placeholder.
          const std::string steps = JoinedSteps(solution);
          const std::string question =
              absl::StrReplaceAll(prompt_, {{"{problem}", AsAbsl(problem)}, {"{solution}", steps}});
          PONDER_ASSIGN_OR_RETURN(std::string text,
                                  policy_.ApplyChatTemplate({{"user", question}}, true));
          engine::ScoreRequest request;
          PONDER_ASSIGN_OR_RETURN(request.prefix_tokens, policy_.Tokenize(text, false));
          request.pair_positions = {static_cast<int64_t>(request.prefix_tokens.size()) - 1};
          request.pair_token_a = positive_;
          request.pair_token_b = negative_;
          return request;
        },
        [](const engine::ScoreResult& result, const engine::ScoreRequest&)
            -> absl::StatusOr<std::vector<double>> { return PairScores(result); });
  }
  std::string name() const override { return "self-evaluation"; }

 private:
  engine::Engine& policy_;
  std::string prompt_;
  int32_t positive_, negative_;
  ReadMemo memo_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Verifier>> MakeProcessRewardModelVerifier(
    const v1::ProcessRewardModel& config, engine::Engine* model) {
  switch (config.format()) {
    case v1::ProcessRewardModel::FORMAT_QWEN_MATH_PRM: {
      // Its step rewards come from the reward head: a model without one failed at the first
      // score, with an error that named no field (QA of stop 35).
      if (!model->Info().has_reward_head) {
        return absl::InvalidArgumentError(absl::StrCat(
            "verifier.prm.model: ", model->Info().path,
            " has no reward head, which FORMAT_QWEN_MATH_PRM reads (FORMAT_RLHFLOW and "
            "FORMAT_MATH_SHEPHERD read the model's token probabilities)"));
      }
      std::string tag = config.has_step_tag() ? config.step_tag() : "<extra_0>";
      PONDER_ASSIGN_OR_RETURN(int32_t id,
                              RequireToken(*model, tag, "verifier.prm.step_tag", "the step tag"));
      std::string system =
          config.has_system_prompt()
              ? config.system_prompt()
              : "Please reason step by step, and put your final answer within \\boxed{}.";
      return std::make_unique<QwenMathPrm>(*model, id, tag, system);
    }
    case v1::ProcessRewardModel::FORMAT_RLHFLOW: {
      PONDER_ASSIGN_OR_RETURN(
          int32_t plus, RequireToken(*model, "+", "verifier.prm.format", "the good-step label"));
      PONDER_ASSIGN_OR_RETURN(
          int32_t minus, RequireToken(*model, "-", "verifier.prm.format", "the bad-step label"));
      return std::make_unique<RlhflowPrm>(*model, plus, minus);
    }
    case v1::ProcessRewardModel::FORMAT_MATH_SHEPHERD: {
      std::string tag = config.has_step_tag() ? config.step_tag() : "ки";
      PONDER_ASSIGN_OR_RETURN(
          int32_t id, TokenAfterSpace(*model, tag, "verifier.prm.step_tag", "the step tag"));
      PONDER_ASSIGN_OR_RETURN(
          int32_t plus, TokenAfterSpace(*model, "+", "verifier.prm.format", "the good-step label"));
      PONDER_ASSIGN_OR_RETURN(
          int32_t minus, TokenAfterSpace(*model, "-", "verifier.prm.format", "the bad-step label"));
      return std::make_unique<MathShepherdPrm>(*model, id, tag, plus, minus);
    }
    default:
      return absl::InvalidArgumentError(
          "verifier.prm.format: required: FORMAT_QWEN_MATH_PRM, FORMAT_RLHFLOW or "
          "FORMAT_MATH_SHEPHERD");
  }
}

absl::StatusOr<std::unique_ptr<Verifier>> MakeOutcomeRewardModelVerifier(
    const v1::OutcomeRewardModel&, engine::Engine* model) {
  if (!model->Info().has_reward_head) {
    return absl::InvalidArgumentError(
        absl::StrCat("verifier.orm.model: ", model->Info().path, " has no reward head"));
  }
  return std::make_unique<OutcomeRewardModel>(*model);
}

absl::StatusOr<std::unique_ptr<Verifier>> MakeSelfEvaluationVerifier(
    const v1::SelfEvaluation& config, engine::Engine* policy) {
  std::string positive = config.has_positive() ? config.positive() : "True";
  std::string negative = config.has_negative() ? config.negative() : "False";
  PONDER_ASSIGN_OR_RETURN(std::vector<int32_t> positive_ids, policy->Tokenize(positive, false));
  PONDER_ASSIGN_OR_RETURN(std::vector<int32_t> negative_ids, policy->Tokenize(negative, false));
  if (positive_ids.empty() || negative_ids.empty() || positive_ids[0] == negative_ids[0]) {
    return absl::InvalidArgumentError(
        "verifier.self_evaluation: the two options must start with different tokens");
  }
  return std::make_unique<SelfEvaluation>(
      *policy, config.has_prompt() ? config.prompt() : kDefaultSelfEvaluationPrompt,
      positive_ids[0], negative_ids[0]);
}

}  // namespace ponder::verifiers
