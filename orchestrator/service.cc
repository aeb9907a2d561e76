#include "orchestrator/service.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <optional>
#include <utility>

#include "absl/algorithm/container.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/flags.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "google/protobuf/util/message_differencer.h"
#include "orchestrator/auth.h"
#include "orchestrator/grpc_status.h"
#include "orchestrator/results/results_db.h"

namespace ponder::orchestrator {
namespace {

// SolveStream events queued for a slow reader before the solver waits for it.
constexpr size_t kMaxQueuedEvents = 256;
// ListResults pages stop growing past this many bytes (clients' default receive limit is 4 MiB).
constexpr size_t kMaxPageBytes = 3 << 20;
constexpr int32_t kDefaultExperimentPage = 50;
constexpr int32_t kDefaultResultPage = 100;

// The call's deadline and cancellation, for the solve that answers it.
SolveControl ControlFor(const grpc::CallbackServerContext* context,
                        const engine::CancellationToken& cancel) {
  SolveControl control;
  control.cancel = &cancel;
  const auto deadline = context->deadline();
  if (deadline != std::chrono::system_clock::time_point::max()) {
    control.deadline = absl::FromChrono(deadline);
  }
  return control;
}

absl::StatusOr<int64_t> ParsePageToken(const std::string& token) {
  if (token.empty()) return 0;
  int64_t value = 0;
  if (!absl::SimpleAtoi(token, &value) || value <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_token: '", Printable(token, 64), "' is not a token this server issued"));
  }
  return value;
}

void FillModelInfo(std::string name, const engine::Engine& engine, v1::ModelInfo& info) {
  const engine::ModelInfo model = engine.Info();
  info.set_name(std::move(name));
  info.set_path(model.path);
  info.set_architecture(model.architecture);
  info.set_dtype(model.dtype);
  info.set_context_length(model.context_length);
  info.set_vocab_size(model.vocab_size);
  info.set_kv_budget_bytes(model.kv_budget_bytes);
  info.set_kv_capacity_tokens(model.kv_capacity_tokens);
  info.set_has_reward_head(model.has_reward_head);
  const engine::EngineStats s = engine.Stats();
  v1::EngineStats& stats = *info.mutable_stats();
  stats.set_requests(s.requests);
  stats.set_prompt_tokens_requested(s.prompt_tokens_requested);
  stats.set_prompt_tokens_computed(s.prompt_tokens_computed);
  stats.set_prompt_tokens_cached(s.prompt_tokens_cached);
  stats.set_tokens_decoded(s.tokens_decoded);
  stats.set_steps(s.steps);
  stats.set_mean_batch_tokens(s.mean_batch_tokens);
  stats.set_kv_blocks_total(s.kv_blocks_total);
  stats.set_kv_blocks_used(s.kv_blocks_used);
  stats.set_kv_blocks_cached(s.kv_blocks_cached);
  stats.set_kv_blocks_free(s.kv_blocks_free);
  stats.set_evictions(s.evictions);
  stats.set_preemptions(s.preemptions);
  stats.set_tokens_recomputed(s.tokens_recomputed);
  stats.set_step_seconds_total(s.step_seconds_total);
}

// A request's bytes as `Message`. A call with no message at all (a client that half-closes
// without writing one) is refused too: every method takes exactly one request.
template <typename Message>
grpc::Status Decode(const grpc::ByteBuffer& body, Message& message) {
  if (!body.Valid()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        absl::StrCat("the call carries no ", message.GetTypeName()));
  }
  grpc::ByteBuffer bytes(body);  // a reference to the same slices: Deserialize consumes it
  if (!grpc::SerializationTraits<Message>::Deserialize(&bytes, &message).ok()) {
    return grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrCat("the request is not a ", message.GetTypeName(), ": its ", body.Length(),
                     " bytes do not parse as one (a string field that is not valid UTF-8, a "
                     "truncated or malformed field, or messages nested deeper than protobuf's "
                     "limit of 100)"));
  }
  return grpc::Status::OK;
}

// Whether two StartExperiment{resume} specs ask for the same experiment, so that a call parked
// behind the other can take its answer: equal but for the parallelism (which a resume, like
// FindResumable, does not compare).
bool SameStart(v1::ExperimentSpec a, v1::ExperimentSpec b) {
  a.clear_parallelism();
  b.clear_parallelism();
  return google::protobuf::util::MessageDifferencer::Equals(a, b);
}

// A response's bytes, for gRPC to send.
template <typename Message>
grpc::Status Encode(const Message& message, grpc::ByteBuffer& bytes) {
  bool own_buffer = false;
  return grpc::SerializationTraits<Message>::Serialize(message, &bytes, &own_buffer);
}

}  // namespace

// A unary call: owns its request and response; Reply writes the response's bytes where gRPC reads
// them and finishes. OnCancel (client gone, deadline passed, server shutting down) reaches a
// solve's engine through the token.
template <typename Request, typename Response>
class PonderService::UnaryCall final : public grpc::ServerUnaryReactor {
 public:
  explicit UnaryCall(grpc::ByteBuffer* reply) : reply_(reply) {}

  void Reply(grpc::Status status) {
    if (status.ok()) status = Encode(response, *reply_);
    Finish(status);
  }

  void OnCancel() override { cancel.Cancel(); }
  void OnDone() override { delete this; }

  Request request;
  Response response;
  engine::CancellationToken cancel;

 private:
  grpc::ByteBuffer* const reply_;
};

// SolveStream: the solver thread pushes events; gRPC writes them one at a time. The queue is
// bounded: a solver ahead of its reader waits (back-pressure), and a cancelled stream drops
// everything and stops the solve.
class PonderService::SolveStreamCall : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  // Solver thread (which also encodes the event). False when the stream is gone.
  bool Push(const v1::SolveEvent& event) {
    grpc::ByteBuffer bytes;
    grpc::Status encoded = Encode(event, bytes);
    {
      absl::MutexLock lock(&mu_);
      if (!encoded.ok()) {  // the stream cannot go on: stop the solve, finish with why
        failure_ = std::move(encoded);
        Break();
        return false;
      }
      auto room = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return broken_ || queue_.size() < kMaxQueuedEvents;
      };
      mu_.Await(absl::Condition(&room));
      if (broken_) return false;
      queue_.push_back(std::move(bytes));
      if (writing_) return true;
      writing_ = true;
      current_ = std::move(queue_.front());
      queue_.pop_front();
    }
    StartWrite(&current_);
    return true;
  }

  // Solver thread, its last call: finishes once the queued events are written.
  void Complete(grpc::Status status) {
    {
      absl::MutexLock lock(&mu_);
      completed_ = true;
      status_ = !failure_.ok() ? failure_
                : broken_ ? grpc::Status(grpc::StatusCode::CANCELLED, "the stream was cancelled")
                          : std::move(status);
      if (writing_) return;  // OnWriteDone finishes
    }
    Finish(status_);
  }

  void OnWriteDone(bool ok) override {
    bool write_next = false;
    {
      absl::MutexLock lock(&mu_);
      if (!ok) Break();
      if (!broken_ && !queue_.empty()) {
        current_ = std::move(queue_.front());
        queue_.pop_front();
        write_next = true;
      } else {
        writing_ = false;
        if (!completed_) return;  // Complete() finishes
        if (broken_ && status_.ok()) {
          status_ = grpc::Status(grpc::StatusCode::CANCELLED, "the stream was cancelled");
        }
      }
    }
    if (write_next) {
      StartWrite(&current_);
    } else {
      Finish(status_);
    }
  }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    Break();
  }
  void OnDone() override { delete this; }

  v1::SolveRequest request;
  engine::CancellationToken cancel;

 private:
  void Break() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    broken_ = true;
    queue_.clear();
    cancel.Cancel();
  }

  absl::Mutex mu_;
  std::deque<grpc::ByteBuffer> queue_ ABSL_GUARDED_BY(mu_);
  grpc::ByteBuffer current_;  // being written; touched only by whoever set writing_
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  bool completed_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status failure_ ABSL_GUARDED_BY(mu_);  // an event that could not be encoded
  grpc::Status status_;
};

// WatchExperiment: writes the experiment's state now and whenever the runner reports a change.
// States are not queued: a slow reader gets the newest one when its last write completes. The
// stream ends after writing a state in which the experiment is no longer running.
class PonderService::WatchCall : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  WatchCall(PonderService& service, int64_t experiment_id)
      : service_(service), experiment_id_(experiment_id) {}

  void Start() {
    const int64_t subscription =
        service_.deps_.runner->Subscribe(experiment_id_, [this] { Changed(); });
    {
      absl::MutexLock lock(&mu_);
      subscription_ = subscription;
      started_ = true;
    }
    Changed();
  }

  void OnWriteDone(bool ok) override {
    bool cancelled = false;
    {
      absl::MutexLock lock(&mu_);
      if (!ok) cancelled_ = true;
      cancelled = cancelled_;
      if (!cancelled_ && !last_ && !dirty_) {
        writing_ = false;
        return;
      }
      if (cancelled_ || last_) {
        writing_ = false;
        finished_ = true;
      }
      dirty_ = false;
    }
    if (cancelled || last_) {
      Finish(cancelled ? grpc::Status::CANCELLED : grpc::Status::OK);
    } else {
      WriteStateSoon();  // writing_ stays set
    }
  }

  void OnCancel() override {
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
      if (writing_ || finished_) return;  // OnWriteDone finishes
      finished_ = true;
    }
    Finish(grpc::Status::CANCELLED);
  }

  void OnDone() override {
    int64_t subscription;
    {
      absl::MutexLock lock(&mu_);
      subscription = subscription_;
    }
    if (subscription != 0) service_.deps_.runner->Unsubscribe(subscription);
    service_.watchers_.fetch_sub(1);
    delete this;
  }

 private:
  void Changed() {
    {
      absl::MutexLock lock(&mu_);
      if (!started_ || finished_ || cancelled_) return;
      if (writing_) {
        dirty_ = true;
        return;
      }
      writing_ = true;
    }
    WriteStateSoon();
  }

  // WriteState on the watches' pool, in order of arrival: it reads the store, which neither
  // gRPC's callback threads nor the runner's (notifying under its subscribers' lock, which opening
  // and closing a watch takes on gRPC's threads) should wait for, and a watcher's last state
  // should not wait behind slow experiment calls (at shutdown it came after the grace). A watcher
  // has at most one write queued (writing_), and the pool's queue holds one for every watcher.
  // (Written first-come-last-served, the newest writes kept a watcher waiting 84 s in review.)
  void WriteStateSoon() {
    if (!service_.deps_.watches->TrySubmit([this] { WriteState(); })) WriteState();  // stopping
  }

  // Runs with writing_ set, so no other thread touches state_ or last_.
  void WriteState() {
    // Whether the runner has the experiment, asked before its state is read: the runner records
    // the final status, notifies (Changed: dirty_, or a write of its own) and only then lets go
    // of it, so a write that began before the end reads `running` and writes no last state,
    // and the write the final notification asks for reads the final status. (Asked after the
    // read, a write that read RUNNING just before the end took itself for the last one once
    // writes ran on the calls pool: `ponder bench` then ended on a RUNNING experiment.)
    const bool running = service_.deps_.runner->IsRunning(experiment_id_);
    absl::StatusOr<v1::Experiment> state = service_.StoredExperiment(experiment_id_);
    grpc::Status status = ToGrpcStatus(state.status());
    if (status.ok()) {
      state_.Clear();
      status = Encode(*state, state_);
    }
    if (!status.ok()) {
      {
        absl::MutexLock lock(&mu_);
        writing_ = false;
        finished_ = true;
      }
      Finish(status);
      return;
    }
    // A stored RUNNING with no runner behind it is an experiment this server is not running.
    last_ = state->status() != v1::EXPERIMENT_STATUS_RUNNING || !running;
    StartWrite(&state_);
  }

  PonderService& service_;
  const int64_t experiment_id_;
  absl::Mutex mu_;
  int64_t subscription_ ABSL_GUARDED_BY(mu_) = 0;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool dirty_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool last_ = false;
  grpc::ByteBuffer state_;  // the experiment being written
};

PonderService::PonderService(ServiceDependencies dependencies) : deps_(std::move(dependencies)) {}

absl::StatusOr<v1::Experiment> PonderService::StoredExperiment(int64_t experiment_id) const {
  // Before the read: a write after this count makes what is read now stale for the next call.
  const uint64_t writes = deps_.store->WriteCount(experiment_id);
  {
    absl::MutexLock lock(&states_mu_);
    auto it = states_.find(experiment_id);
    if (it != states_.end() && it->second.writes == writes) {
      it->second.last_asked = ++states_asked_;
      return it->second.experiment;
    }
  }
  PONDER_ASSIGN_OR_RETURN(v1::Experiment experiment,
                          deps_.store->GetExperiment(experiment_id, /*with_cells=*/true));
  if (experiment.status() != v1::EXPERIMENT_STATUS_RUNNING) {
    // The counts above answer the call; a failure here only leaves the metrics out.
    absl::Status metrics = [&]() -> absl::Status {
      PONDER_ASSIGN_OR_RETURN(auto db, results::ResultsDb::Open(deps_.store->path()));
      return results::AddCellMetrics(*db, experiment);
    }();
    if (!metrics.ok()) {
      PrintToStderr("ponderd",
                    absl::StrCat("experiment ", experiment_id,
                                 ": its cells go without pass@n and rates: ", metrics.message()));
      return experiment;  // not kept: the next call tries again
    }
  }
  absl::MutexLock lock(&states_mu_);
  auto it = states_.find(experiment_id);
  if (it == states_.end()) {
    if (states_.size() >= kMaxKeptStates) {
      states_.erase(absl::c_min_element(states_, [](const auto& a, const auto& b) {
        return a.second.last_asked < b.second.last_asked;
      }));
    }
    states_.emplace(experiment_id, KeptState{writes, experiment, ++states_asked_});
  } else if (it->second.writes <= writes) {  // a slower read of an older count keeps out
    it->second = {writes, experiment, ++states_asked_};
  }
  return experiment;
}

grpc::Status PonderService::Authorize(grpc::CallbackServerContext* context) const {
  if (deps_.auth_token.empty()) return grpc::Status::OK;
  const auto& metadata = context->client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "this server needs the metadata 'authorization: Bearer <token>' (the "
                        "ponder CLI sends it with --auth-token-file FILE)");
  }
  if (!AuthorizationMatches(std::string_view(it->second.data(), it->second.size()),
                            deps_.auth_token)) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "the bearer token is not valid");
  }
  return grpc::Status::OK;
}

grpc::Status PonderService::Overloaded(grpc::CallbackServerContext* context, SolveExecutor& pool,
                                       std::string_view what) {
  const int64_t retry_ms = absl::ToInt64Milliseconds(pool.RetryHint());
  context->AddTrailingMetadata("retry-after-ms", absl::StrCat(retry_ms));
  return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                      absl::StrCat("the server is at capacity (", AsAbsl(what),
                                   "); retry in about ", retry_ms, " ms"));
}

template <typename Request>
grpc::Status PonderService::Accept(grpc::CallbackServerContext* context,
                                   const grpc::ByteBuffer& body, Request& request) const {
  grpc::Status status = Authorize(context);
  return status.ok() ? Decode(body, request) : status;
}

template <typename Request, typename Response, typename Handler>
PonderService::Unary* PonderService::Respond(grpc::CallbackServerContext* context,
                                             const grpc::ByteBuffer& body, grpc::ByteBuffer* reply,
                                             Handler handle) {
  auto* call = new UnaryCall<Request, Response>(reply);
  grpc::Status status = Accept(context, body, call->request);
  if (status.ok()) status = handle(std::as_const(call->request), call->response);
  call->Reply(std::move(status));
  return call;
}

template <typename Call>
void PonderService::AnswerOnPool(Call* call, grpc::CallbackServerContext* context,
                                 std::function<void()> work) {
  const bool queued = SubmitCall([call, context, work = std::move(work)] {
    if (context->IsCancelled()) {  // its client has gone (and has its answer): nothing to do
      call->Reply(grpc::Status::CANCELLED);
      return;
    }
    work();
  });
  if (!queued) call->Reply(CallsOverloaded(context));
}

template <typename Request, typename Response, typename Handler>
PonderService::Unary* PonderService::RespondFromPool(grpc::CallbackServerContext* context,
                                                     const grpc::ByteBuffer& body,
                                                     grpc::ByteBuffer* reply, Handler handle) {
  auto* call = new UnaryCall<Request, Response>(reply);
  grpc::Status status = Accept(context, body, call->request);
  if (!status.ok()) {
    call->Reply(std::move(status));
    return call;
  }
  AnswerOnPool(call, context, [call, handle = std::move(handle)] {
    call->Reply(handle(std::as_const(call->request), call->response));
  });
  return call;
}

template <typename Request, typename Fetch>
PonderService::Unary* PonderService::RespondWithExperiment(grpc::CallbackServerContext* context,
                                                           const grpc::ByteBuffer& body,
                                                           grpc::ByteBuffer* reply, Fetch fetch) {
  return RespondFromPool<Request, v1::Experiment>(
      context, body, reply,
      [fetch = std::move(fetch)](const Request& request, v1::Experiment& response) {
        absl::Status status = ValidateExperimentId(request.experiment_id());
        if (!status.ok()) return ToGrpcStatus(status);
        absl::StatusOr<v1::Experiment> experiment = fetch(request.experiment_id());
        if (experiment.ok()) response = *std::move(experiment);
        return ToGrpcStatus(experiment.status());
      });
}

grpc::Status PonderService::AdmitSolve(grpc::CallbackServerContext* context,
                                       const grpc::ByteBuffer& body,
                                       v1::SolveRequest& request) const {
  grpc::Status status = Accept(context, body, request);
  if (!status.ok()) return status;
  absl::Status valid = ValidateSolveRequest(request, deps_.limits, deps_.pipeline->strategies());
  if (valid.ok()) {
    valid =
        ValidateRewardModelNames(request.strategy().verifier(), *deps_.models, "strategy.verifier");
  }
  return ToGrpcStatus(valid);
}

grpc::Status PonderService::SolvesOverloaded(grpc::CallbackServerContext* context) {
  return Overloaded(context, *deps_.executor,
                    absl::StrCat(deps_.limits.max_concurrent_solves, " solves running and ",
                                 deps_.limits.max_queued_solves, " queued"));
}

grpc::Status PonderService::CallsOverloaded(grpc::CallbackServerContext* context) {
  return Overloaded(context, *deps_.calls, "every experiment call's slot is taken");
}

bool PonderService::SubmitCall(std::function<void()> work) {
  return deps_.calls->TrySubmit(std::move(work));
}

// Solve: the work runs on the executor; the call's OnCancel reaches the engine through its token.
PonderService::Unary* PonderService::Solve(grpc::CallbackServerContext* context,
                                           const grpc::ByteBuffer* request,
                                           grpc::ByteBuffer* response) {
  auto* call = new UnaryCall<v1::SolveRequest, v1::SolveResponse>(response);
  if (grpc::Status status = AdmitSolve(context, *request, call->request); !status.ok()) {
    call->Reply(std::move(status));
    return call;
  }
  SolveControl control = ControlFor(context, call->cancel);
  const bool queued = deps_.executor->TrySubmit([this, call, control] {
    absl::StatusOr<v1::SolveResponse> result = deps_.pipeline->Solve(call->request, control);
    if (result.ok()) call->response = *std::move(result);
    call->Reply(ToGrpcStatus(result.status()));
  });
  if (!queued) {
    call->Reply(SolvesOverloaded(context));
  }
  return call;
}

PonderService::Stream* PonderService::SolveStream(grpc::CallbackServerContext* context,
                                                  const grpc::ByteBuffer* request) {
  auto* call = new SolveStreamCall;
  if (grpc::Status status = AdmitSolve(context, *request, call->request); !status.ok()) {
    call->Finish(status);
    return call;
  }
  SolveControl control = ControlFor(context, call->cancel);
  control.on_step = [call](const v1::TraceStep& step) {
    v1::SolveEvent event;
    *event.mutable_step() = step;
    call->Push(event);
  };
  const bool queued = deps_.executor->TrySubmit([this, call, control] {
    absl::StatusOr<v1::SolveResponse> result = deps_.pipeline->Solve(call->request, control);
    if (result.ok()) {
      v1::SolveEvent event;
      *event.mutable_result() = *std::move(result);
      call->Push(event);
    }
    call->Complete(ToGrpcStatus(result.status()));
  });
  if (!queued) {
    call->Finish(SolvesOverloaded(context));
  }
  return call;
}

void PonderService::StartOrResume(StartCall* call, grpc::CallbackServerContext* context) {
  const v1::StartExperimentRequest& start = call->request;
  if (stopping_.load()) {
    call->Reply(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is shutting down"));
    return;
  }
  if (!start.resume()) {
    AnswerStart(call, context, deps_.runner->Start(start.spec()));
    return;
  }
  // One call per settings at a time, from the look to the start: two calls that both found
  // nothing to resume started two experiments, and two that found one stopped both resumed it
  // (QA and review of stop 32). Calls for other settings go on (their dataset loads took turns).
  // A call for the same settings is parked, holding no thread (up to kMaxParkedStarts of them).
  // When the first call has its answer, a parked call with the same spec gets it (its experiment,
  // the dataset loaded once); one whose spec differs where the key does not look (strategies'
  // configurations, the prompt, inline problems) is started over. A parked call whose client
  // gives up (cancellation, deadline) has its answer from gRPC at once and its reactor finished
  // with the others.
  const std::string key = ExperimentRunner::SettingsKey(start.spec());
  {
    absl::MutexLock lock(&resume_mu_);
    auto [it, first] = resuming_.try_emplace(key);
    if (!first) {
      if (parked_starts_ >= kMaxParkedStarts) {
        call->Reply(CallsOverloaded(context));
        return;
      }
      ++parked_starts_;
      it->second.push_back({call, context});
      return;
    }
  }
  const absl::StatusOr<v1::Experiment> result = ResumeOrStart(start.spec());
  std::vector<ParkedStart> parked;
  {
    absl::MutexLock lock(&resume_mu_);
    auto it = resuming_.find(key);
    parked = std::move(it->second);
    resuming_.erase(it);
    parked_starts_ -= static_cast<int>(parked.size());
  }
  for (const ParkedStart& p : parked) {
    if (SameStart(p.call->request.spec(), start.spec())) {
      AnswerStart(p.call, p.context, result);
    } else {
      AnswerOnPool(p.call, p.context, [this, p] { StartOrResume(p.call, p.context); });
    }
  }
  AnswerStart(call, context, result);  // last: the reply may free `call`, and `start` with it
}

absl::StatusOr<v1::Experiment> PonderService::ResumeOrStart(const v1::ExperimentSpec& spec) {
  PONDER_ASSIGN_OR_RETURN(int64_t id, deps_.runner->FindResumable(spec));
  if (id == 0) return deps_.runner->Start(spec);
  PONDER_ASSIGN_OR_RETURN(v1::Experiment found, StoredExperiment(id));
  // At start-up the server marked the experiments it was not running interrupted.
  auto running_or_done = [](const v1::Experiment& e) {
    return e.status() == v1::EXPERIMENT_STATUS_COMPLETED ||
           e.status() == v1::EXPERIMENT_STATUS_RUNNING;
  };
  if (running_or_done(found)) return found;
  absl::StatusOr<v1::Experiment> resumed = deps_.runner->Resume(id);
  if (absl::IsFailedPrecondition(resumed.status())) {
    // Resumed since it was read by a ResumeExperiment call (the runner marks it running before
    // it counts as running): that experiment is the answer, as for one found running.
    PONDER_ASSIGN_OR_RETURN(v1::Experiment now, StoredExperiment(id));
    if (running_or_done(now)) return now;
  }
  return resumed;
}

void PonderService::AnswerStart(StartCall* call, grpc::CallbackServerContext* context,
                                const absl::StatusOr<v1::Experiment>& result) {
  if (result.ok()) call->response = *result;
  if (absl::IsResourceExhausted(result.status())) {
    context->AddTrailingMetadata("retry-after-ms", "10000");
  }
  call->Reply(ToGrpcStatus(result.status()));
}

PonderService::Unary* PonderService::StartExperiment(grpc::CallbackServerContext* context,
                                                     const grpc::ByteBuffer* request,
                                                     grpc::ByteBuffer* response) {
  auto* call = new StartCall(response);
  grpc::Status status = Accept(context, *request, call->request);
  if (!status.ok()) {
    call->Reply(std::move(status));
    return call;
  }
  AnswerOnPool(call, context, [this, call, context] { StartOrResume(call, context); });
  return call;
}

PonderService::Stream* PonderService::WatchExperiment(grpc::CallbackServerContext* context,
                                                      const grpc::ByteBuffer* request) {
  v1::WatchExperimentRequest watch;
  grpc::Status status = Accept(context, *request, watch);
  if (status.ok()) status = ToGrpcStatus(ValidateExperimentId(watch.experiment_id()));
  if (status.ok() && watchers_.fetch_add(1) >= deps_.limits.max_watchers) {
    watchers_.fetch_sub(1);
    status =
        Overloaded(context, *deps_.executor, absl::StrCat(deps_.limits.max_watchers, " watchers"));
  }
  if (!status.ok()) {
    // A reactor that only reports the error; it never counted as a watcher.
    class Refusal : public Stream {
     public:
      explicit Refusal(grpc::Status status) { Finish(std::move(status)); }
      void OnDone() override { delete this; }
    };
    return new Refusal(status);
  }
  auto* call = new WatchCall(*this, watch.experiment_id());
  call->Start();
  return call;
}

PonderService::Unary* PonderService::CancelExperiment(grpc::CallbackServerContext* context,
                                                      const grpc::ByteBuffer* request,
                                                      grpc::ByteBuffer* response) {
  return RespondWithExperiment<v1::CancelExperimentRequest>(
      context, *request, response, [this](int64_t id) -> absl::StatusOr<v1::Experiment> {
        // Then as GetExperiment answers: a stopped experiment's cells with their pass@n,
        // oracle and false-positive rates, which the runner's record does not hold.
        deps_.runner->Cancel(id);
        return StoredExperiment(id);
      });
}

PonderService::Unary* PonderService::ResumeExperiment(grpc::CallbackServerContext* context,
                                                      const grpc::ByteBuffer* request,
                                                      grpc::ByteBuffer* response) {
  return RespondWithExperiment<v1::ResumeExperimentRequest>(
      context, *request, response, [this](int64_t id) { return deps_.runner->Resume(id); });
}

PonderService::Unary* PonderService::GetExperiment(grpc::CallbackServerContext* context,
                                                   const grpc::ByteBuffer* request,
                                                   grpc::ByteBuffer* response) {
  return RespondWithExperiment<v1::GetExperimentRequest>(
      context, *request, response, [this](int64_t id) { return StoredExperiment(id); });
}

PonderService::Unary* PonderService::ListExperiments(grpc::CallbackServerContext* context,
                                                     const grpc::ByteBuffer* body,
                                                     grpc::ByteBuffer* reply) {
  return RespondFromPool<v1::ListExperimentsRequest, v1::ListExperimentsResponse>(
      context, *body, reply,
      [this](const v1::ListExperimentsRequest& request, v1::ListExperimentsResponse& response) {
        absl::Status status = ValidatePageSize(request.page_size());
        if (!status.ok()) return ToGrpcStatus(status);
        absl::StatusOr<int64_t> before = ParsePageToken(request.page_token());
        if (!before.ok()) return ToGrpcStatus(before.status());
        const int32_t page = request.page_size() > 0 ? request.page_size() : kDefaultExperimentPage;
        absl::StatusOr<std::vector<v1::Experiment>> experiments =
            deps_.store->ListExperiments(*before, page + 1);
        if (!experiments.ok()) return ToGrpcStatus(experiments.status());
        for (int32_t i = 0; i < page && i < static_cast<int32_t>(experiments->size()); ++i) {
          *response.add_experiments() = std::move((*experiments)[i]);
        }
        if (static_cast<int32_t>(experiments->size()) > page) {
          response.set_next_page_token(absl::StrCat(response.experiments(page - 1).id()));
        }
        return grpc::Status::OK;
      });
}

PonderService::Unary* PonderService::ListResults(grpc::CallbackServerContext* context,
                                                 const grpc::ByteBuffer* body,
                                                 grpc::ByteBuffer* reply) {
  return RespondFromPool<v1::ListResultsRequest, v1::ListResultsResponse>(
      context, *body, reply,
      [this](const v1::ListResultsRequest& request, v1::ListResultsResponse& response) {
        absl::Status status = ValidateExperimentId(request.experiment_id());
        if (status.ok()) status = ValidatePageSize(request.page_size());
        if (!status.ok()) return ToGrpcStatus(status);
        absl::StatusOr<int64_t> after = ParsePageToken(request.page_token());
        if (!after.ok()) return ToGrpcStatus(after.status());
        // NOT_FOUND for an unknown experiment rather than an empty page.
        absl::StatusOr<v1::Experiment> experiment =
            deps_.store->GetExperiment(request.experiment_id(), /*with_cells=*/false);
        if (!experiment.ok()) return ToGrpcStatus(experiment.status());
        const int32_t page = request.page_size() > 0 ? request.page_size() : kDefaultResultPage;
        absl::StatusOr<std::vector<v1::RunResult>> runs = deps_.store->ListRuns(
            request.experiment_id(), *after, page + 1, request.include_details());
        if (!runs.ok()) return ToGrpcStatus(runs.status());
        size_t bytes = 0;
        for (size_t i = 0; i < runs->size(); ++i) {
          const bool full = static_cast<int32_t>(i) == page ||
                            (i > 0 && bytes + (*runs)[i].ByteSizeLong() > kMaxPageBytes);
          if (full) {
            response.set_next_page_token(absl::StrCat(response.results().rbegin()->run_id()));
            break;
          }
          bytes += (*runs)[i].ByteSizeLong();
          *response.add_results() = std::move((*runs)[i]);
        }
        return grpc::Status::OK;
      });
}

PonderService::Unary* PonderService::GetEngineInfo(grpc::CallbackServerContext* context,
                                                   const grpc::ByteBuffer* body,
                                                   grpc::ByteBuffer* reply) {
  return Respond<v1::GetEngineInfoRequest, v1::EngineInfo>(
      context, *body, reply, [this](const v1::GetEngineInfoRequest&, v1::EngineInfo& response) {
        FillModelInfo("policy", *deps_.models->policy(), *response.mutable_policy());
        for (const auto& [name, engine] : deps_.models->reward_models()) {
          FillModelInfo(name, *engine, *response.add_reward_models());
        }
        *response.mutable_limits() = LimitsProto(deps_.limits);
        response.set_code_version(deps_.code_version);
        response.set_auth_required(!deps_.auth_token.empty());
        return grpc::Status::OK;
      });
}

}  // namespace ponder::orchestrator
