#include "engine/local_engine.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <mutex>
#include <numeric>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "engine/kv/block_manager.h"
#include "engine/ops/ops.h"
#include "engine/sampling/sampler.h"
#include "engine/scheduler.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/transformer/weights.h"

namespace ponder::engine {

struct LocalEngine::SequenceState {
  Sequence sequence;
  RequestState* request = nullptr;
  int index = 0;  // completion index: the sampling stream
  Completion completion;
  std::unique_ptr<StreamingDecoder> decoder;
  bool finished = false;
};

struct LocalEngine::RequestState {
  enum class Kind { kGenerate, kScore } kind = Kind::kGenerate;
  const GenerateRequest* generate = nullptr;
  const ScoreRequest* score = nullptr;
  std::vector<int32_t> tokens;  // the prompt (generate) or prefix + continuation (score)
  int64_t prefix_length = 0;    // score: the prefix
  std::optional<absl::Time> deadline;
  const CancellationToken* cancel = nullptr;
  std::vector<std::unique_ptr<SequenceState>> sequences;
  int unfinished = 0;
  bool forked = false;
  // The completions a generate request's next token row feeds: all n until its prompt is
  // forked (ProcessGenerate forks it), then each sequence its own.
  int completions_fed() const { return forked ? 1 : generate->n; }
  // Score: which positions need logits / the reward head, and the rows collected.
  std::vector<char> need_logits, need_reward;
  std::vector<std::vector<float>> logits_at;
  // The reward head's read-outs by position, in order: a sequence that loses its blocks and is
  // prefilled again (preemption, the scheduler's release) reads the same positions again.
  std::map<int64_t, ScoreResult::RewardReadout> rewards_at;

  bool trivial = false;  // answered without the engine thread (max_tokens = 0)
  // Set while a step is processed (non-finite logits); the request fails with it at the start of
  // the next step, or when it finishes, as other chunks of the same step may still be its own.
  absl::Status failure;
  absl::Status status;
  GenerateResult generate_result;
  ScoreResult score_result;
  absl::Notification done;
};

struct LocalEngine::State {
  LocalEngineOptions options;
  std::unique_ptr<ModelWeights> weights;
  std::unique_ptr<Tokenizer> tokenizer;
  std::unique_ptr<ops::ThreadPool> pool;
  std::unique_ptr<ForwardBackend> backend;
  std::unique_ptr<BlockManager> blocks;
  std::unique_ptr<Scheduler> scheduler;
  // The longest sequence: the context, or less where the KV budget holds less (a generation
  // stops there, "length", as at the context).
  int64_t usable_context = 0;
  std::once_flag chat_format_warning;  // see ApplyChatTemplate

  // Requests handed from callers to the engine thread.
  absl::Mutex inbox_mutex;
  std::vector<RequestState*> inbox ABSL_GUARDED_BY(inbox_mutex);
  bool shutdown ABSL_GUARDED_BY(inbox_mutex) = false;

  // Owned by the engine thread.
  std::vector<RequestState*> active;
  int64_t next_sequence_id = 0;
  ForwardOutput output;
  std::vector<TokenDraw> draws;      // the step's draws (ForwardOptions::draws)
  std::vector<int32_t> reward_rows;  // and reward rows (ForwardOptions::reward_rows)
  std::vector<SampledToken> drawn;   // the drawn tokens, as ProcessGenerate takes them

  mutable absl::Mutex stats_mutex;
  EngineStats stats ABSL_GUARDED_BY(stats_mutex);
  double batch_tokens_total ABSL_GUARDED_BY(stats_mutex) = 0;
  int64_t fork_cached_tokens ABSL_GUARDED_BY(stats_mutex) = 0;
  // Tokens drawn since RefreshStats last counted them (engine thread).
  int64_t sampled_in_step = 0;

  std::thread thread;
};

namespace {

// A request's outputs are NaN or infinite: the model's weights (or the reward head's) are broken.
absl::Status NotFiniteError(const std::string& what, const std::string& model_path) {
  return absl::DataLossError(absl::StrCat("the model's ", what,
                                          " are not finite (NaN or infinite): are its weights "
                                          "broken? (",
                                          model_path, ")"));
}

bool Expired(const std::optional<absl::Time>& deadline, const CancellationToken* cancel) {
  return (cancel != nullptr && cancel->cancelled()) ||
         (deadline.has_value() && absl::Now() >= *deadline);
}

absl::Status ValidateGenerate(const GenerateRequest& r) {
  if (r.prompt_tokens.empty() == r.prompt_text.empty()) {
    return absl::InvalidArgumentError("exactly one of prompt_tokens and prompt_text must be set");
  }
  if (r.n < 1 || r.n > kMaxCompletions) {
    return absl::InvalidArgumentError(
        absl::StrCat("n must be in [1, ", kMaxCompletions, "], got ", r.n));
  }
  if (r.max_tokens < 0)
    return absl::InvalidArgumentError(absl::StrCat("max_tokens must be >= 0, got ", r.max_tokens));
  if (r.top_logprobs < 0 || r.top_logprobs > 20) {
    return absl::InvalidArgumentError(
        absl::StrCat("top_logprobs must be in [0, 20], got ", r.top_logprobs));
  }
  for (const std::string& stop : r.stop) {
    if (stop.empty()) return absl::InvalidArgumentError("stop strings must not be empty");
  }
  if (absl::Status status = r.sampling.Validate(); !status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("sampling: ", status.message()));
  }
  return absl::OkStatus();
}

absl::Status ValidateTokens(std::span<const int32_t> tokens, int vocab_size,
                            std::string_view what) {
  for (int32_t token : tokens) {
    if (token < 0 || token >= vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          AsAbsl(what), " token ", token, " is outside the vocabulary [0, ", vocab_size, ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

LocalEngine::LocalEngine(std::unique_ptr<State> state) : state_(std::move(state)) {
  RefreshStats();
  state_->thread = std::thread([this] { Loop(); });
}

LocalEngine::~LocalEngine() {
  {
    absl::MutexLock lock(&state_->inbox_mutex);
    state_->shutdown = true;
  }
  state_->thread.join();
}

absl::StatusOr<std::unique_ptr<LocalEngine>> LocalEngine::Create(
    const LocalEngineOptions& options) {
  auto state = std::make_unique<State>();
  state->options = options;
  if (options.block_size < 1 || options.block_size > 1024) {
    return absl::InvalidArgumentError(
        absl::StrCat("block_size must be in [1, 1024], got ", options.block_size));
  }
  if (options.max_batch_tokens < 1)
    return absl::InvalidArgumentError("max_batch_tokens must be >= 1");
  PONDER_ASSIGN_OR_RETURN(state->weights, ModelWeights::Load(options.model_path));
  if (const GgufFile* gguf = state->weights->gguf(); gguf != nullptr) {
    PONDER_ASSIGN_OR_RETURN(state->tokenizer, Tokenizer::FromGguf(*gguf));
  } else {
    PONDER_ASSIGN_OR_RETURN(state->tokenizer, Tokenizer::FromHuggingFace(options.model_path));
  }
  const ModelConfig& config = state->weights->config();
  if (state->tokenizer->vocab_size() > config.vocab_size) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.model_path, ": the tokenizer has ", state->tokenizer->vocab_size(),
                     " tokens but the model only ", config.vocab_size));
  }
  const int threads = options.threads > 0
                          ? options.threads
                          : std::clamp(static_cast<int>(std::thread::hardware_concurrency()), 1,
                                       ops::ThreadPool::kMaxThreads);
  PONDER_ASSIGN_OR_RETURN(state->pool, ops::ThreadPool::Create(threads));
  PONDER_ASSIGN_OR_RETURN(state->backend,
                          CreateForwardBackend(*state->weights, *state->pool,
                                               {.device = options.device,
                                                .block_size = options.block_size,
                                                .kv_budget_bytes = options.kv_budget_bytes,
                                                .max_batch_tokens = options.max_batch_tokens}));
  const int blocks = state->backend->kv().num_blocks();
  state->blocks =
      std::make_unique<BlockManager>(blocks, options.block_size, options.prefix_caching);
  state->scheduler = std::make_unique<Scheduler>(*state->blocks, state->backend->kv(),
                                                 options.max_batch_tokens, config.max_context);
  // One rule for the longest sequence, the one callers read from Info().
  state->usable_context = ModelInfo{.context_length = config.max_context,
                                    .kv_capacity_tokens = int64_t{blocks} * options.block_size}
                              .usable_context();
  return std::unique_ptr<LocalEngine>(new LocalEngine(std::move(state)));
}

absl::Status LocalEngine::PrepareGenerate(const GenerateRequest& request, RequestState& state) {
  PONDER_RETURN_IF_ERROR(ValidateGenerate(request));
  State& s = *state_;
  const ModelConfig& config = s.weights->config();
  state.kind = RequestState::Kind::kGenerate;
  state.generate = &request;
  state.deadline = request.deadline;
  state.cancel = request.cancel;
  state.tokens = request.prompt_tokens;
  if (state.tokens.empty()) {
    // Control tokens written in the text are read as such, as Tokenize reads them (and Hugging
    // Face's tokenizers and llama.cpp's prompts do).
    state.tokens = s.tokenizer->Encode(
        request.prompt_text, {.add_bos = s.tokenizer->add_bos_by_default(), .parse_special = true});
    if (state.tokens.empty())
      return absl::InvalidArgumentError("prompt_text tokenizes to no tokens");
  }
  PONDER_RETURN_IF_ERROR(ValidateTokens(state.tokens, config.vocab_size, "prompt"));
  const int64_t P = static_cast<int64_t>(state.tokens.size());
  if (P >= config.max_context) {
    return absl::InvalidArgumentError(
        absl::StrCat("the prompt has ", P, " tokens; the context holds ", config.max_context));
  }
  if (request.max_tokens == 0) {  // nothing to generate: empty completions, no engine work
    state.generate_result.prompt_tokens = P;
    for (int i = 0; i < request.n; ++i) state.generate_result.completions.push_back({.index = i});
    state.trivial = true;
    return absl::OkStatus();
  }
  // A completion stops where the KV budget is full, as at the context; a prompt that does not
  // fit (P + 1 tokens: one to generate) fails here.
  return s.scheduler->CheckFits(
      std::min<int64_t>(P + request.max_tokens, std::max<int64_t>(P + 1, s.usable_context)));
}

absl::Status LocalEngine::PrepareScore(const ScoreRequest& request, RequestState& state) {
  State& s = *state_;
  const ModelConfig& config = s.weights->config();
  state.kind = RequestState::Kind::kScore;
  state.score = &request;
  state.deadline = request.deadline;
  state.cancel = request.cancel;
  state.tokens = request.prefix_tokens;
  state.tokens.insert(state.tokens.end(), request.continuation_tokens.begin(),
                      request.continuation_tokens.end());
  state.prefix_length = static_cast<int64_t>(request.prefix_tokens.size());
  const int64_t P = state.prefix_length, T = static_cast<int64_t>(state.tokens.size());
  if (T == 0) return absl::InvalidArgumentError("score request has no tokens");
  if (!request.continuation_tokens.empty() && P == 0) {
    return absl::InvalidArgumentError(
        "the prefix must hold at least one token (e.g. BOS) to score a continuation");
  }
  if (T > config.max_context) {
    return absl::InvalidArgumentError(absl::StrCat(
        "prefix + continuation has ", T, " tokens; the context holds ", config.max_context));
  }
  PONDER_RETURN_IF_ERROR(ValidateTokens(state.tokens, config.vocab_size, "score"));
  if (!request.pair_positions.empty()) {
    PONDER_RETURN_IF_ERROR(
        ValidateTokens(std::vector<int32_t>{request.pair_token_a, request.pair_token_b},
                       config.vocab_size, "pair"));
  }
  if ((!request.reward_token_ids.empty() || !request.reward_positions.empty()) &&
      !s.weights->reward_head().has_value()) {
    return absl::FailedPreconditionError(absl::StrCat(s.options.model_path, " has no reward head"));
  }
  state.need_logits.assign(T, 0);
  state.need_reward.assign(T, 0);
  for (int64_t i = P - 1; i >= 0 && i < T - 1; ++i) state.need_logits[i] = 1;
  for (int64_t position : request.pair_positions) {
    if (position < 0 || position >= T) {
      return absl::InvalidArgumentError(
          absl::StrCat("pair position ", position, " is outside [0, ", T, ")"));
    }
    state.need_logits[position] = 1;
  }
  for (int64_t position : request.reward_positions) {
    if (position < 0 || position >= T) {
      return absl::InvalidArgumentError(
          absl::StrCat("reward position ", position, " is outside [0, ", T, ")"));
    }
    state.need_reward[position] = 1;
  }
  for (int64_t i = 0; i < T; ++i) {
    if (std::find(request.reward_token_ids.begin(), request.reward_token_ids.end(),
                  state.tokens[i]) != request.reward_token_ids.end()) {
      state.need_reward[i] = 1;
    }
  }
  state.logits_at.resize(T);
  state.score_result.continuation_logprobs.resize(request.continuation_tokens.size());
  state.score_result.pair_probabilities.resize(request.pair_positions.size());
  return s.scheduler->CheckFits(T);
}

void LocalEngine::SubmitAndWait(std::span<RequestState* const> requests) {
  std::vector<RequestState*> queued;
  {
    absl::MutexLock lock(&state_->inbox_mutex);
    for (RequestState* request : requests) {
      if (request->trivial) continue;
      if (state_->shutdown) {
        request->status = absl::UnavailableError("the engine is shutting down");
        continue;
      }
      state_->inbox.push_back(request);
      queued.push_back(request);
    }
  }
  for (RequestState* request : queued) request->done.WaitForNotification();
}

// GenerateMany and ScoreMany: prepares every request (a request that fails validation gets its
// error and is not submitted), submits the rest together so they share engine steps, and
// collects each one's result in request order.
namespace {
template <typename Request, typename Result, typename State, typename Prepare, typename Submit>
std::vector<absl::StatusOr<Result>> RunRequests(std::span<const Request> requests, Prepare prepare,
                                                Submit submit, Result State::*result_member) {
  std::vector<std::unique_ptr<State>> states;
  std::vector<State*> ready;
  std::vector<absl::Status> prepared;
  for (const Request& request : requests) {
    states.push_back(std::make_unique<State>());
    prepared.push_back(prepare(request, *states.back()));
    if (prepared.back().ok()) ready.push_back(states.back().get());
  }
  submit(ready);
  std::vector<absl::StatusOr<Result>> results;
  for (size_t i = 0; i < requests.size(); ++i) {
    if (!prepared[i].ok()) {
      results.push_back(prepared[i]);
    } else if (!states[i]->status.ok()) {
      results.push_back(states[i]->status);
    } else {
      results.push_back(std::move(states[i].get()->*result_member));
    }
  }
  return results;
}
}  // namespace

std::vector<absl::StatusOr<GenerateResult>> LocalEngine::GenerateMany(
    std::span<const GenerateRequest> requests) {
  return RunRequests<GenerateRequest, GenerateResult>(
      requests,
      [this](const GenerateRequest& r, RequestState& state) { return PrepareGenerate(r, state); },
      [this](std::vector<RequestState*>& ready) { SubmitAndWait(ready); },
      &RequestState::generate_result);
}

std::vector<absl::StatusOr<ScoreResult>> LocalEngine::ScoreMany(
    std::span<const ScoreRequest> requests) {
  return RunRequests<ScoreRequest, ScoreResult>(
      requests,
      [this](const ScoreRequest& r, RequestState& state) { return PrepareScore(r, state); },
      [this](std::vector<RequestState*>& ready) { SubmitAndWait(ready); },
      &RequestState::score_result);
}

absl::StatusOr<GenerateResult> LocalEngine::Generate(const GenerateRequest& request) {
  return std::move(GenerateMany({&request, 1})[0]);
}

absl::StatusOr<ScoreResult> LocalEngine::Score(const ScoreRequest& request) {
  return std::move(ScoreMany({&request, 1})[0]);
}

void LocalEngine::Loop() {
  State& s = *state_;
  while (true) {
    std::vector<RequestState*> arrived;
    {
      absl::MutexLock lock(&s.inbox_mutex);
      auto has_work = [&s]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(s.inbox_mutex) {
        return s.shutdown || !s.inbox.empty() || !s.active.empty();
      };
      s.inbox_mutex.Await(absl::Condition(&has_work));
      if (s.shutdown) {
        for (RequestState* request : s.inbox)
          FinishRequest(*request, absl::UnavailableError("the engine shut down"));
        s.inbox.clear();
        break;
      }
      arrived.swap(s.inbox);
    }
    for (RequestState* request : arrived) Admit(*request);
    Step();
  }
  while (!s.active.empty())
    FinishRequest(*s.active.back(), absl::UnavailableError("the engine shut down"));
}

void LocalEngine::Admit(RequestState& request) {
  State& s = *state_;
  auto leader = std::make_unique<SequenceState>();
  leader->request = &request;
  leader->sequence.id = s.next_sequence_id++;
  leader->sequence.tokens = request.tokens;
  leader->sequence.prompt_length = static_cast<int64_t>(request.tokens.size());
  leader->sequence.owner = leader.get();
  if (request.kind == RequestState::Kind::kGenerate) {
    leader->sequence.max_cached = std::numeric_limits<int64_t>::max();
    leader->decoder = std::make_unique<StreamingDecoder>(*s.tokenizer);
  } else {
    // Positions whose outputs are read must be computed, so the cache may serve only the ones
    // before the first of them.
    int64_t first = static_cast<int64_t>(request.tokens.size()) - 1;
    for (int64_t i = 0; i < first; ++i) {
      if (request.need_logits[i] || request.need_reward[i]) {
        first = i;
        break;
      }
    }
    leader->sequence.max_cached = first;
  }
  s.scheduler->Add(&leader->sequence);
  request.sequences.push_back(std::move(leader));
  request.unfinished = 1;
  s.active.push_back(&request);
  absl::MutexLock lock(&s.stats_mutex);
  ++s.stats.requests;
  // Asked for now (the other completions' copies of the prompt count as cached at the fork).
  s.stats.prompt_tokens_requested +=
      static_cast<int64_t>(request.tokens.size()) *
      (request.kind == RequestState::Kind::kGenerate ? request.generate->n : 1);
}

void LocalEngine::Step() {
  State& s = *state_;
  // Stop cancelled and expired requests before spending a step on them.
  for (size_t i = 0; i < s.active.size();) {
    RequestState* request = s.active[i];
    if (!request->failure.ok()) {
      FinishRequest(*request, request->failure);
    } else if (Expired(request->deadline, request->cancel)) {
      bool deadline = request->cancel == nullptr || !request->cancel->cancelled();
      FinishRequest(
          *request,
          request->kind == RequestState::Kind::kGenerate
              ? absl::OkStatus()  // partial completions, marked cancelled
              : (deadline ? absl::DeadlineExceededError("score request passed its deadline")
                          : absl::CancelledError("score request cancelled")));
    } else {
      ++i;
    }
  }
  std::vector<ScheduledChunk> plan = s.scheduler->Schedule();
  RefreshStats();
  if (plan.empty() && !s.scheduler->idle()) {
    // The scheduler guarantees progress (Scheduler::Schedule); were it ever to plan nothing with
    // sequences pending, the loop would spin for ever with every caller waiting. Fail them.
    const absl::Status stuck = absl::InternalError(absl::StrCat(
        "the engine's scheduler planned nothing with ", s.scheduler->num_running(), " running and ",
        s.scheduler->num_waiting(), " waiting sequences (a bug: please report it)"));
    while (!s.active.empty()) FinishRequest(*s.active.back(), stuck);
    return;
  }
  if (plan.empty()) return;

  // Output rows: a generate sequence needs logits after its last pending token; a score
  // sequence at every position it reads (logits, the reward head, or both).
  std::vector<SequenceChunk> chunks;
  std::vector<std::vector<int32_t>> rows(plan.size());
  ForwardOptions options{.logits = false, .hidden = false};
  s.reward_rows.clear();
  int32_t output_rows = 0;
  // Tokens computed for the first time, of prompts (and score requests); computed again after
  // losing their blocks; all of them.
  int64_t prompt_tokens = 0, recomputed_tokens = 0, step_tokens = 0;
  for (size_t c = 0; c < plan.size(); ++c) {
    const ScheduledChunk& chunk = plan[c];
    Sequence& seq = *chunk.sequence;
    const SequenceState& owner = *static_cast<SequenceState*>(seq.owner);
    const RequestState& request = *owner.request;
    const int64_t end = chunk.start + chunk.count;
    if (request.kind == RequestState::Kind::kGenerate) {
      if (end == static_cast<int64_t>(seq.tokens.size())) {
        rows[c].push_back(static_cast<int32_t>(chunk.count - 1));
        ++output_rows;
        options.logits = true;
      }
    } else {
      for (int64_t p = chunk.start; p < end; ++p) {
        if (!request.need_logits[p] && !request.need_reward[p]) continue;
        rows[c].push_back(static_cast<int32_t>(p - chunk.start));
        if (request.need_reward[p]) s.reward_rows.push_back(output_rows);
        ++output_rows;
        options.logits |= request.need_logits[p] != 0;
      }
    }
    // Below computed_once the sequence computes again what it lost (a preemption, the
    // scheduler's release); above it, positions of the prompt (all of a score request's) are
    // prompt tokens computed, and a generate sequence's later positions are its sampled
    // tokens' keys and values.
    const int64_t fresh_from = std::max(chunk.start, seq.computed_once);
    recomputed_tokens += chunk.count - std::max<int64_t>(0, end - fresh_from);
    prompt_tokens += std::max<int64_t>(
        0, std::min<int64_t>(end, static_cast<int64_t>(request.tokens.size())) - fresh_from);
    seq.computed_once = std::max(seq.computed_once, end);
    step_tokens += chunk.count;
    chunks.push_back({std::span(seq.tokens).subspan(chunk.start, chunk.count), chunk.start,
                      seq.table.blocks, rows[c]});
  }
  // When every row read is a generate row without alternatives, the backend draws the tokens
  // itself (on a GPU the logits then never leave the device): one draw per completion a row
  // feeds, which is every completion of a request whose prompt it ends (they fork from it).
  options.reward_rows = s.reward_rows;
  bool backend_draws = options.logits && s.reward_rows.empty();
  for (size_t c = 0; c < plan.size() && backend_draws; ++c) {
    const RequestState& request =
        *static_cast<const SequenceState*>(plan[c].sequence->owner)->request;
    if (rows[c].empty()) continue;
    backend_draws =
        request.kind == RequestState::Kind::kGenerate && request.generate->top_logprobs == 0;
  }
  s.draws.clear();
  if (backend_draws) {
    int32_t row = 0;
    for (size_t c = 0; c < plan.size(); ++c) {
      if (rows[c].empty()) continue;
      const SequenceState& owner = *static_cast<const SequenceState*>(plan[c].sequence->owner);
      const RequestState& request = *owner.request;
      const SamplingParams& sampling = request.generate->sampling;
      // The streams and steps ProcessGenerate's targets have: the sequence itself, then the
      // completions forked from it, which start at step 0.
      s.draws.push_back(
          {row, sampling, static_cast<uint64_t>(owner.index), owner.completion.tokens.size()});
      for (int i = 1; i < request.completions_fed(); ++i) {
        s.draws.push_back({row, sampling, static_cast<uint64_t>(i), 0});
      }
      ++row;
    }
    options.logits = false;
    options.draws = s.draws;
  }
  absl::Time started = absl::Now();
  absl::Status status = s.backend->Forward(chunks, options, s.output);
  double seconds = absl::ToDoubleSeconds(absl::Now() - started);
  if (!status.ok()) {
    // Inputs were validated on submission, so this is an engine bug; fail the requests in the
    // step rather than the whole engine.
    for (const ScheduledChunk& chunk : plan) {
      RequestState* request = static_cast<SequenceState*>(chunk.sequence->owner)->request;
      if (std::find(s.active.begin(), s.active.end(), request) != s.active.end())
        FinishRequest(*request, status);
    }
    return;
  }
  s.scheduler->Complete(plan);
  {
    absl::MutexLock lock(&s.stats_mutex);
    ++s.stats.steps;
    s.stats.prompt_tokens_computed += prompt_tokens;
    s.stats.tokens_recomputed += recomputed_tokens;
    s.batch_tokens_total += static_cast<double>(step_tokens);
    s.stats.mean_batch_tokens = s.batch_tokens_total / static_cast<double>(s.stats.steps);
    s.stats.step_seconds_total += seconds;
  }

  const int64_t V = s.weights->config().vocab_size;
  const int labels =
      s.weights->reward_head().has_value() ? s.weights->reward_head()->num_labels() : 0;
  int64_t row = 0;
  size_t draw = 0;  // the first draw of the next generate row
  s.drawn.resize(s.output.drawn_tokens.size());
  for (size_t d = 0; d < s.drawn.size(); ++d) {
    s.drawn[d] = {s.output.drawn_tokens[d], s.output.drawn_logprobs[d], {}};
  }
  size_t reward = 0;  // the next reward row
  for (size_t c = 0; c < plan.size(); ++c) {
    SequenceState& owner = *static_cast<SequenceState*>(plan[c].sequence->owner);
    // Decided before the rows are processed: a generate request may finish (and its caller
    // free it) inside ProcessGenerate. A score sequence is done once its last token is
    // computed, whether or not the last chunk held a position it reads (a prompt prefilled in
    // several chunks often does not).
    const bool is_score = owner.request->kind == RequestState::Kind::kScore;
    const bool score_done = is_score && plan[c].start + plan[c].count ==
                                            static_cast<int64_t>(owner.request->tokens.size());
    for (int32_t r : rows[c]) {
      const float* logits = options.logits ? s.output.logits.data() + row * V : nullptr;
      const float* reward_logits = nullptr;
      if (reward < s.reward_rows.size() && s.reward_rows[reward] == row) {
        reward_logits = s.output.reward_logits.data() + reward++ * labels;
      }
      if (!is_score) {
        if (backend_draws) {
          const size_t count = owner.request->completions_fed();
          ProcessGenerate(owner, {}, std::span<const SampledToken>(s.drawn).subspan(draw, count));
          draw += count;
        } else {
          ProcessGenerate(owner, std::span<const float>(logits, V), {});
        }
      } else {
        ProcessScore(owner, plan[c].start + r, logits, reward_logits);
      }
      ++row;
    }
    if (score_done) FinishScore(owner);
  }
  RefreshStats();  // the draws of this step
}

void LocalEngine::ProcessGenerate(SequenceState& leader, std::span<const float> logits,
                                  std::span<const SampledToken> drawn) {
  State& s = *state_;
  RequestState& request = *leader.request;
  const GenerateRequest& g = *request.generate;
  const int64_t P = static_cast<int64_t>(request.tokens.size());
  const int64_t context = s.usable_context;
  std::vector<SequenceState*> targets = {&leader};
  if (!request.forked) {
    // The prompt is computed: fork it into the other completions, which share its blocks.
    request.forked = true;
    for (int i = 1; i < g.n; ++i) {
      auto child = std::make_unique<SequenceState>();
      child->request = &request;
      child->index = i;
      child->sequence.id = s.next_sequence_id++;
      child->sequence.tokens = leader.sequence.tokens;
      child->sequence.computed = leader.sequence.computed;
      child->sequence.computed_once = leader.sequence.computed_once;
      child->sequence.prompt_length = leader.sequence.prompt_length;
      child->sequence.first_cached = leader.sequence.first_cached;
      child->sequence.max_cached = std::numeric_limits<int64_t>::max();
      child->sequence.owner = child.get();
      child->decoder = std::make_unique<StreamingDecoder>(*s.tokenizer);
      s.blocks->Fork(leader.sequence.table, child->sequence.table);
      s.scheduler->AddRunning(&child->sequence);
      targets.push_back(child.get());
      request.sequences.push_back(std::move(child));
      ++request.unfinished;
    }
    absl::MutexLock lock(&s.stats_mutex);
    s.fork_cached_tokens += P * (g.n - 1);  // the copies share the leader's computed prompt
  }
  for (size_t k = 0; k < targets.size(); ++k) {
    SequenceState* target = targets[k];
    Completion& c = target->completion;
    SampledToken sampled = !drawn.empty() ? drawn[k]
                                          : SampleToken(logits, g.sampling, target->index,
                                                        c.tokens.size(), g.top_logprobs);
    if (!std::isfinite(sampled.logprob) && request.failure.ok()) {
      // NaN or infinite logits (broken weights): the draw means nothing.
      request.failure = NotFiniteError(absl::StrCat("logits for completion ", target->index,
                                                    " at generated token ", c.tokens.size()),
                                       s.options.model_path);
    }
    c.tokens.push_back(sampled.token);
    ++s.sampled_in_step;
    c.logprobs.push_back(sampled.logprob);
    c.cumulative_logprob += sampled.logprob;
    if (g.top_logprobs > 0) c.top_logprobs.push_back(std::move(sampled.top_logprobs));
    bool done = false;
    if (!g.ignore_eos && s.tokenizer->IsEndOfGeneration(sampled.token)) {
      c.finish_reason = FinishReason::kEos;
      done = true;
    } else {
      const size_t before = c.text.size();
      c.text += target->decoder->Push(sampled.token);
      // Stop strings may span token boundaries: search the new text plus enough of the old.
      size_t best = std::string::npos;
      const std::string* matched = nullptr;
      for (const std::string& stop : g.stop) {
        size_t from = before >= stop.size() ? before - stop.size() + 1 : 0;
        size_t at = c.text.find(stop, from);
        if (at != std::string::npos && at < best) {
          best = at;
          matched = &stop;
        }
      }
      if (matched != nullptr) {
        c.text.resize(best + (g.include_stop_string ? matched->size() : 0));
        c.finish_reason = FinishReason::kStop;
        c.stop_string = *matched;
        done = true;
      } else if (static_cast<int>(c.tokens.size()) >= g.max_tokens ||
                 P + static_cast<int64_t>(c.tokens.size()) >= context) {
        c.finish_reason = FinishReason::kLength;
        done = true;
      }
    }
    if (done) {
      FinishSequence(*target);
    } else {
      target->sequence.tokens.push_back(sampled.token);  // computed in the next step
    }
  }
}

void LocalEngine::ProcessScore(SequenceState& sequence, int64_t position, const float* logits,
                               const float* reward_logits) {
  State& s = *state_;
  RequestState& request = *sequence.request;
  if (request.need_logits[position]) {
    const int64_t V = s.weights->config().vocab_size;
    request.logits_at[position].assign(logits, logits + V);
  }
  if (request.need_reward[position]) {
    std::vector<float> labels(reward_logits,
                              reward_logits + s.weights->reward_head()->num_labels());
    std::vector<float> probabilities = labels;
    ops::Softmax(probabilities.data(), static_cast<int64_t>(probabilities.size()));
    request.rewards_at[position] = {position, std::move(labels), std::move(probabilities)};
  }
}

void LocalEngine::FinishScore(SequenceState& sequence) {
  State& s = *state_;
  RequestState& request = *sequence.request;
  const ScoreRequest& r = *request.score;
  const int64_t P = request.prefix_length;
  ScoreResult& result = request.score_result;
  result.rewards.clear();
  for (auto& [position, reward] : request.rewards_at) result.rewards.push_back(std::move(reward));
  for (size_t i = 0; i < r.continuation_tokens.size(); ++i) {
    result.continuation_logprobs[i] =
        TokenLogprobOf(request.logits_at[P - 1 + i], r.continuation_tokens[i]);
  }
  for (size_t i = 0; i < r.pair_positions.size(); ++i) {
    const std::vector<float>& at = request.logits_at[r.pair_positions[i]];
    // P(a) / (P(a) + P(b)) = sigmoid(logit_a - logit_b).
    double diff = static_cast<double>(at[r.pair_token_a]) - at[r.pair_token_b];
    result.pair_probabilities[i] = static_cast<float>(1.0 / (1.0 + std::exp(-diff)));
  }
  auto finite = [](float v) { return std::isfinite(v); };
  bool all_finite =
      std::all_of(result.continuation_logprobs.begin(), result.continuation_logprobs.end(),
                  finite) &&
      std::all_of(result.pair_probabilities.begin(), result.pair_probabilities.end(), finite);
  for (const ScoreResult::RewardReadout& reward : result.rewards) {
    all_finite &= std::all_of(reward.logits.begin(), reward.logits.end(), finite);
  }
  if (!all_finite && request.failure.ok()) {
    request.failure = NotFiniteError("scores for this request", s.options.model_path);
  }
  FinishSequence(sequence);  // FinishRequest reports the failure
}

void LocalEngine::RefreshStats() {
  State& s = *state_;
  absl::MutexLock lock(&s.stats_mutex);
  BlockManagerStats blocks = s.blocks->Stats();
  s.stats.kv_blocks_total = blocks.total;
  s.stats.kv_blocks_used = blocks.used;
  s.stats.kv_blocks_cached = blocks.cached;
  s.stats.kv_blocks_free = blocks.free;
  s.stats.evictions = blocks.evictions;
  s.stats.preemptions = s.scheduler->stats().preemptions;
  s.stats.prompt_tokens_cached = s.fork_cached_tokens + s.scheduler->stats().prompt_tokens_cached;
  s.stats.tokens_decoded += std::exchange(s.sampled_in_step, 0);
}

void LocalEngine::FinishSequence(SequenceState& sequence) {
  if (sequence.finished) return;
  sequence.finished = true;
  state_->scheduler->Remove(&sequence.sequence);
  RequestState& request = *sequence.request;
  if (--request.unfinished == 0) FinishRequest(request, absl::OkStatus());
}

void LocalEngine::FinishRequest(RequestState& request, absl::Status status) {
  State& s = *state_;
  if (status.ok() && !request.failure.ok()) status = request.failure;
  for (auto& sequence : request.sequences) {
    if (!sequence->finished) {
      sequence->finished = true;
      s.scheduler->Remove(&sequence->sequence);
      sequence->completion.finish_reason = FinishReason::kCancelled;
    }
  }
  request.unfinished = 0;
  s.active.erase(std::remove(s.active.begin(), s.active.end(), &request), s.active.end());
  request.status = status;
  if (status.ok() && request.kind == RequestState::Kind::kGenerate) {
    GenerateResult& result = request.generate_result;
    result.prompt_tokens = static_cast<int64_t>(request.tokens.size());
    result.completions.resize(request.generate->n);
    for (int i = 0; i < request.generate->n; ++i) result.completions[i].index = i;
    for (auto& sequence : request.sequences) {
      Completion& c = sequence->completion;
      c.index = sequence->index;
      if (c.finish_reason != FinishReason::kStop) c.text += sequence->decoder->Flush();
      result.completions[sequence->index] = std::move(c);
    }
    if (!request.forked) {  // cancelled before the prompt was computed
      for (Completion& c : result.completions) c.finish_reason = FinishReason::kCancelled;
    }
  }
  RefreshStats();  // before the caller wakes, so its view of the engine includes this request
  // Prefix-cache hits of this request's leader, for the caller.
  if (!request.sequences.empty()) {
    int64_t cached = std::max<int64_t>(0, request.sequences.front()->sequence.first_cached);
    request.generate_result.cached_prompt_tokens = cached;
    request.score_result.cached_tokens = cached;
  }
  request.done.Notify();
}

absl::StatusOr<std::vector<int32_t>> LocalEngine::Tokenize(std::string_view text,
                                                           bool add_bos) const {
  return state_->tokenizer->Encode(text, {.add_bos = add_bos, .parse_special = true});
}

std::string LocalEngine::Detokenize(const std::vector<int32_t>& tokens) const {
  return state_->tokenizer->Decode(tokens);
}

absl::StatusOr<std::string> LocalEngine::ApplyChatTemplate(const std::vector<Message>& messages,
                                                           bool add_generation_prompt) const {
  std::vector<ChatMessage> chat;
  chat.reserve(messages.size());
  for (const Message& m : messages) chat.push_back({m.role, m.content});
  const ChatTemplate& chat_template = state_->tokenizer->chat_template();
  // Once per model, for every front-end that renders here (generate --chat, solve, bench,
  // ponderd, the verifiers): a raw prompt to a chat model, or one whose generation prompt was not
  // read, is not the prompt it expects.
  std::call_once(state_->chat_format_warning, [&] {
    const std::string warning = chat_template.FormatWarning(state_->options.model_path);
    if (!warning.empty()) std::fprintf(stderr, "ponder: %s\n", warning.c_str());
  });
  return chat_template.Apply(chat, add_generation_prompt);
}

std::optional<int32_t> LocalEngine::TokenId(std::string_view token_text) const {
  return state_->tokenizer->FindToken(token_text);
}

bool LocalEngine::add_bos_by_default() const { return state_->tokenizer->add_bos_by_default(); }

std::string LocalEngine::device_description() const { return state_->backend->description(); }

EngineStats LocalEngine::Stats() const {
  State& s = *state_;
  absl::MutexLock lock(&s.stats_mutex);
  return s.stats;
}

ModelInfo LocalEngine::Info() const {
  const State& s = *state_;
  const ModelConfig& config = s.weights->config();
  ModelInfo info;
  info.path = s.options.model_path;
  info.architecture = std::string(ArchitectureName(config.architecture));
  info.dtype = s.weights->DTypeSummary();
  info.context_length = config.max_context;
  info.vocab_size = config.vocab_size;
  const KvBlockStore& kv = s.backend->kv();
  info.kv_budget_bytes = static_cast<int64_t>(kv.num_blocks()) * kv.shape().bytes_per_block();
  info.kv_capacity_tokens = static_cast<int64_t>(kv.num_blocks()) * s.options.block_size;
  info.has_reward_head = s.weights->reward_head().has_value();
  return info;
}

}  // namespace ponder::engine
