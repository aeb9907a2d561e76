// The generation engine's public interface. Strategies, verifiers and the service talk to an
// `Engine`; they never include an implementation header. `LocalEngine` (engine/local_engine.h)
// runs models in this process; a remote engine (an OpenAI-compatible server) can implement the
// same contract.
//
// Contract:
//  - Thread-safe: many callers at once. Requests are stateless for the caller (prompt in,
//    completions out); any sharing of computation (prefix caching, batching) happens inside.
//  - Reproducible: the same request with the same seed yields the same tokens and log-probs,
//    whatever else the engine is running.
//  - Log-probs are log-softmax of the model's raw logits (temperature 1, before any filtering).
#ifndef PONDER_ENGINE_ENGINE_H_
#define PONDER_ENGINE_ENGINE_H_

#include <atomic>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/sampling/sampler.h"

namespace ponder::engine {

// Set by the caller to stop a request early; the engine checks it every step and frees the
// request's memory at once. May be shared by several requests.
class CancellationToken {
 public:
  void Cancel() { cancelled_.store(true, std::memory_order_relaxed); }
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }

 private:
  std::atomic<bool> cancelled_{false};
};

// The most completions one GenerateRequest may ask for (best-of-N and self-consistency draw a
// whole budget in one request).
inline constexpr int kMaxCompletions = 4096;

struct GenerateRequest {
  // The prompt, either as token ids or as text (tokenized as Tokenize does, control tokens
  // such as "<|im_start|>" written in it included; no chat template; the tokenizer's BOS rule
  // applies). Exactly one must be set.
  std::vector<int32_t> prompt_tokens;
  std::string prompt_text;

  int n = 1;             // completions, each with its own random stream; at most kMaxCompletions
  int max_tokens = 256;  // generated tokens per completion
  SamplingParams sampling;
  std::vector<std::string> stop;  // stop strings, matched on the decoded text
  bool include_stop_string = false;
  bool ignore_eos = false;
  int top_logprobs = 0;  // alternatives returned per generated token
  std::optional<absl::Time> deadline;
  const CancellationToken* cancel = nullptr;
};

enum class FinishReason { kStop, kEos, kLength, kCancelled };
std::string_view FinishReasonName(FinishReason reason);

struct Completion {
  int index = 0;
  std::vector<int32_t> tokens;
  std::string text;
  std::vector<float> logprobs;                          // per token, chosen-token log-prob
  std::vector<std::vector<TokenLogprob>> top_logprobs;  // per token, when requested
  double cumulative_logprob = 0;
  double mean_logprob() const {
    return logprobs.empty() ? 0.0 : cumulative_logprob / static_cast<double>(logprobs.size());
  }
  FinishReason finish_reason = FinishReason::kLength;
  std::string stop_string;  // the stop string matched, when finish_reason is kStop
};

struct GenerateResult {
  std::vector<Completion> completions;
  int64_t prompt_tokens = 0;         // prompt length
  int64_t cached_prompt_tokens = 0;  // prompt tokens served from the prefix cache
};

// Teacher forcing: log-probs of `continuation` after `prefix`, and optional read-outs.
struct ScoreRequest {
  std::vector<int32_t> prefix_tokens;
  std::vector<int32_t> continuation_tokens;
  // Reward-head read-outs: every position (in prefix+continuation) holding one of these token
  // ids gets the head's probabilities (softmax over its labels).
  std::vector<int32_t> reward_token_ids;
  // ... and at these positions (indices into prefix+continuation), e.g. the last one for an
  // outcome reward model.
  std::vector<int64_t> reward_positions;
  // LM-head read-outs: at each position in `pair_positions` (indices into prefix+continuation),
  // P(token_a) / (P(token_a) + P(token_b)) of the next-token distribution.
  std::vector<int64_t> pair_positions;
  int32_t pair_token_a = -1;
  int32_t pair_token_b = -1;
  std::optional<absl::Time> deadline;
  const CancellationToken* cancel = nullptr;
};

struct ScoreResult {
  std::vector<float> continuation_logprobs;  // one per continuation token
  struct RewardReadout {
    int64_t position = 0;
    std::vector<float> logits;         // the head's raw outputs
    std::vector<float> probabilities;  // softmax over the head's labels
  };
  std::vector<RewardReadout> rewards;
  std::vector<float> pair_probabilities;  // one per pair position
  int64_t cached_tokens = 0;
};

struct EngineStats {
  int64_t requests = 0;
  int64_t prompt_tokens_requested = 0;
  int64_t prompt_tokens_computed = 0;
  int64_t prompt_tokens_cached = 0;
  int64_t tokens_decoded = 0;
  int64_t steps = 0;
  double mean_batch_tokens = 0;  // tokens per forward step
  int64_t kv_blocks_total = 0;
  int64_t kv_blocks_used = 0;
  int64_t kv_blocks_cached = 0;
  int64_t kv_blocks_free = 0;
  int64_t evictions = 0;
  int64_t preemptions = 0;
  int64_t tokens_recomputed = 0;  // computed again after losing their blocks (prompt, generated)
  double step_seconds_total = 0;
};

struct ModelInfo {
  std::string path;
  std::string architecture;
  std::string dtype;
  int64_t context_length = 0;
  int64_t vocab_size = 0;
  int64_t kv_budget_bytes = 0;
  // The longest sequence the KV budget holds (0: unknown); see usable_context().
  int64_t kv_capacity_tokens = 0;
  // The longest sequence the model takes: its context, or less where its KV budget holds less
  // (0: unknown). A generation stops there ("length"), as at the context; a prompt or score
  // request that does not fit fails; callers that grow a sequence (step-level searches, reward
  // models' inputs) stop there.
  int64_t usable_context() const {
    return kv_capacity_tokens > 0 && (context_length <= 0 || kv_capacity_tokens < context_length)
               ? kv_capacity_tokens
               : context_length;
  }
  bool has_reward_head = false;
};

class Engine {
 public:
  virtual ~Engine() = default;

  virtual absl::StatusOr<GenerateResult> Generate(const GenerateRequest& request) = 0;
  virtual absl::StatusOr<ScoreResult> Score(const ScoreRequest& request) = 0;

  // Many requests at once, so the engine can batch them; results in request order, each with
  // its own status. The default runs them on concurrent threads.
  virtual std::vector<absl::StatusOr<GenerateResult>> GenerateMany(
      std::span<const GenerateRequest> requests);
  virtual std::vector<absl::StatusOr<ScoreResult>> ScoreMany(
      std::span<const ScoreRequest> requests);

  // Tokenization with the model's tokenizer.
  virtual absl::StatusOr<std::vector<int32_t>> Tokenize(std::string_view text,
                                                        bool add_bos) const = 0;
  virtual std::string Detokenize(const std::vector<int32_t>& tokens) const = 0;
  // Renders a conversation with the model's chat template, ending with the assistant turn
  // opened (add_generation_prompt).
  struct Message {
    std::string role;
    std::string content;
  };
  virtual absl::StatusOr<std::string> ApplyChatTemplate(const std::vector<Message>& messages,
                                                        bool add_generation_prompt) const = 0;
  virtual std::optional<int32_t> TokenId(std::string_view token_text) const = 0;

  virtual EngineStats Stats() const = 0;
  virtual ModelInfo Info() const = 0;
};

}  // namespace ponder::engine

#endif  // PONDER_ENGINE_ENGINE_H_
