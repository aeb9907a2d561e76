// LocalEngine: the Engine that runs a model in this process, on the CPU kernels of engine/ops or
// on a CUDA GPU (engine/backend.h; LocalEngineOptions::device chooses, at run time).
//
// It owns the weights (memory-mapped), the tokenizer, a thread pool, the paged KV cache with its
// block manager (prefix caching, copy-on-write forks) and the continuous-batching scheduler.
// One engine thread runs steps; callers of Generate/Score on any thread enqueue their request
// and wait for its result. Every live sequence of every request shares each forward step:
//  - a request's n completions prefill the prompt once and fork its blocks;
//  - a prompt that starts with tokens an earlier request computed reuses their blocks;
//  - long prompts are prefilled in chunks between decode steps;
//  - when memory runs out, the newest sequence is preempted and later recomputed.
// Cancellation and deadlines are checked every step; a stopped request frees its blocks at once.
#ifndef PONDER_ENGINE_LOCAL_ENGINE_H_
#define PONDER_ENGINE_LOCAL_ENGINE_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "engine/backend.h"
#include "engine/engine.h"

namespace ponder::engine {

struct LocalEngineOptions {
  std::string model_path;  // a .gguf file or a Hugging Face folder
  // kAuto: CUDA when this build has it and a GPU is present, else the CPU.
  Device device = Device::kAuto;
  // CPU worker threads, at most kMaxThreads; 0: one per hardware thread (up to kMaxThreads).
  static constexpr int kMaxThreads = ops::ThreadPool::kMaxThreads;
  int threads = 0;
  // KV cache memory; 0 picks the backend's default: on the CPU enough for 8 sequences of the
  // full context, capped at 2 GiB; on a GPU the free device memory minus a margin.
  int64_t kv_budget_bytes = 0;
  // Tokens per KV block. Prefix caching works in whole blocks, so a re-submitted sequence
  // recomputes at most block_size - 1 tokens of its cached tail; small blocks keep that low.
  int block_size = 8;
  int max_batch_tokens = 512;  // tokens computed per step (decode tokens + prefill chunks)
  bool prefix_caching = true;
};

class LocalEngine : public Engine {
 public:
  // Loads the model and tokenizer; errors name the file and what is wrong with it.
  static absl::StatusOr<std::unique_ptr<LocalEngine>> Create(const LocalEngineOptions& options);
  ~LocalEngine() override;

  absl::StatusOr<GenerateResult> Generate(const GenerateRequest& request) override;
  absl::StatusOr<ScoreResult> Score(const ScoreRequest& request) override;
  std::vector<absl::StatusOr<GenerateResult>> GenerateMany(
      std::span<const GenerateRequest> requests) override;
  std::vector<absl::StatusOr<ScoreResult>> ScoreMany(
      std::span<const ScoreRequest> requests) override;
  absl::StatusOr<std::vector<int32_t>> Tokenize(std::string_view text, bool add_bos) const override;
  std::string Detokenize(const std::vector<int32_t>& tokens) const override;
  // A model whose chat template is missing or unrecognised renders the raw format (and a ChatML
  // template whose generation prompt is not read, the plain one); the first call says so on
  // stderr, naming the model (ChatTemplate::FormatWarning).
  absl::StatusOr<std::string> ApplyChatTemplate(const std::vector<Message>& messages,
                                                bool add_generation_prompt) const override;
  std::optional<int32_t> TokenId(std::string_view token_text) const override;
  EngineStats Stats() const override;
  ModelInfo Info() const override;

  // Whether the tokenizer adds BOS to a text prompt by default.
  bool add_bos_by_default() const;
  // The device the forward pass runs on, e.g. "cuda:0 NVIDIA H100 80GB HBM3, bf16".
  std::string device_description() const;

 private:
  struct State;
  struct RequestState;
  struct SequenceState;
  explicit LocalEngine(std::unique_ptr<State> state);
  absl::Status PrepareGenerate(const GenerateRequest& request, RequestState& state);
  absl::Status PrepareScore(const ScoreRequest& request, RequestState& state);
  // Hands the prepared requests to the engine thread together and waits for all of them.
  void SubmitAndWait(std::span<RequestState* const> requests);
  void Loop();
  void Step();
  void Admit(RequestState& request);
  // `drawn`, when not empty, holds the tokens the backend drew (ForwardOptions::draws): one for
  // the sequence, then one per completion forked from it.
  void ProcessGenerate(SequenceState& sequence, std::span<const float> logits,
                       std::span<const SampledToken> drawn);
  // `reward_logits`: the reward head's label logits at `position`, when it reads them.
  void ProcessScore(SequenceState& sequence, int64_t position, const float* logits,
                    const float* reward_logits);
  // Assembles a score request's result from the rows ProcessScore recorded and finishes it;
  // called once every one of its tokens is computed.
  void FinishScore(SequenceState& sequence);
  void FinishSequence(SequenceState& sequence);
  void FinishRequest(RequestState& request, absl::Status status);
  void RefreshStats();  // engine thread: copies scheduler and block counters into the stats

  std::unique_ptr<State> state_;
};

}  // namespace ponder::engine

#endif  // PONDER_ENGINE_LOCAL_ENGINE_H_
