// A scripted strategy for the orchestrator's tests: it asks the engine for budget.n short
// completions (so cancellation and deadlines travel the real path into the engine), reports
// `steps` trace steps, waits `step_delay` per step, and answers with a fixed string, so tests
// control grading, timing and failures independently of samplers/.
#ifndef PONDER_TESTS_ORCHESTRATOR_FAKE_STRATEGY_H_
#define PONDER_TESTS_ORCHESTRATOR_FAKE_STRATEGY_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "orchestrator/strategy_factory.h"

namespace ponder::orchestrator::testing {

struct FakeStrategyScript {
  std::string answer = "42";
  // Per candidate, cycling (candidate i answers candidate_answers[i % size]); empty: `answer`.
  std::vector<std::string> candidate_answers;
  int steps = 2;
  absl::Duration step_delay = absl::ZeroDuration();
  int max_tokens = 4;           // per completion; 0: do not call the engine
  std::string fail_if_problem;  // a problem containing this text fails with INTERNAL
  bool needs_verifier = false;
  // When set, each solve waits until it is notified (or the solve is stopped) before its steps.
  const absl::Notification* hold = nullptr;
};

class FakeStrategies : public StrategyFactory {
 public:
  explicit FakeStrategies(FakeStrategyScript script = {}) : script_(std::move(script)) {}

  absl::Status Validate(const v1::StrategyConfig& config, const v1::Budget& budget) const override {
    if (config.has_beam_search() && config.beam_search().beam_width() < 0) {
      return absl::InvalidArgumentError("beam_search.beam_width: must be >= 0");
    }
    return absl::OkStatus();
  }
  bool NeedsVerifier(const v1::StrategyConfig& config) const override {
    return script_.needs_verifier && config.has_best_of_n();
  }
  absl::StatusOr<std::unique_ptr<samplers::Strategy>> MakeStrategy(
      const v1::StrategyConfig& config) const override {
    return std::unique_ptr<samplers::Strategy>(new Fake(*this));
  }
  absl::StatusOr<std::unique_ptr<verifiers::Verifier>> MakeVerifier(
      const v1::VerifierConfig& config, verifiers::VerifierModels& models) const override {
    if (config.has_prm()) {
      absl::StatusOr<engine::Engine*> model = models.RewardModel(config.prm().model());
      if (!model.ok()) return model.status();
    }
    return absl::UnimplementedError("the fake factory builds no verifiers");
  }

  FakeStrategyScript& script() { return script_; }
  int solves_started() const { return started_.load(); }
  int solves_finished() const { return finished_.load(); }
  int solves_stopped() const { return stopped_.load(); }

 private:
  class Fake : public samplers::Strategy {
   public:
    explicit Fake(const FakeStrategies& factory) : factory_(factory) {}

    absl::StatusOr<v1::SolveResult> Solve(const samplers::ProblemInput& problem,
                                          const samplers::SolveContext& context) override {
      const FakeStrategyScript& script = factory_.script_;
      factory_.started_.fetch_add(1);
      auto stopped = [&]() -> absl::Status {
        if (context.cancel != nullptr && context.cancel->cancelled()) {
          return absl::CancelledError("fake strategy cancelled");
        }
        if (context.deadline.has_value() && absl::Now() >= *context.deadline) {
          return absl::DeadlineExceededError("fake strategy deadline");
        }
        return absl::OkStatus();
      };
      v1::SolveResult result;
      if (script.max_tokens > 0) {
        engine::GenerateRequest request;
        request.prompt_tokens = problem.prompt_tokens;
        request.n = context.budget.n();
        request.max_tokens = script.max_tokens;
        request.sampling.seed = context.seed;
        request.ignore_eos = true;
        request.cancel = context.cancel;
        request.deadline = context.deadline;
        absl::StatusOr<engine::GenerateResult> generated = context.policy->Generate(request);
        if (!generated.ok()) return generated.status();
        for (const engine::Completion& c : generated->completions) {
          v1::Candidate& candidate = *result.add_candidates();
          candidate.set_index(c.index);
          candidate.set_text(c.text);
          candidate.set_answer(
              script.candidate_answers.empty()
                  ? script.answer
                  : script.candidate_answers[c.index % script.candidate_answers.size()]);
          candidate.set_num_tokens(static_cast<int32_t>(c.tokens.size()));
          candidate.set_cumulative_logprob(c.cumulative_logprob);
          candidate.set_mean_logprob(c.mean_logprob());
          candidate.set_finish_reason(std::string(engine::FinishReasonName(c.finish_reason)));
          result.mutable_usage()->set_generated_tokens(result.usage().generated_tokens() +
                                                       static_cast<int64_t>(c.tokens.size()));
        }
        result.mutable_usage()->set_engine_calls(1);
      }
      while (script.hold != nullptr &&
             !script.hold->WaitForNotificationWithTimeout(absl::Milliseconds(2))) {
        if (absl::Status s = stopped(); !s.ok()) {
          factory_.stopped_.fetch_add(1);
          return s;
        }
      }
      for (int step = 0; step < script.steps; ++step) {
        const absl::Time until = absl::Now() + script.step_delay;
        while (absl::Now() < until) {
          if (absl::Status s = stopped(); !s.ok()) {
            factory_.stopped_.fetch_add(1);
            return s;
          }
          absl::SleepFor(absl::Milliseconds(2));
        }
        v1::TraceStep trace;
        trace.set_iteration(step);
        trace.set_node(step);
        trace.set_parent(step - 1);
        trace.set_text(absl::StrCat("step ", step));
        trace.set_reward(0.5);
        trace.set_kept(true);
        *result.add_trace() = trace;
        if (context.on_step) context.on_step(trace);
      }
      if (!script.fail_if_problem.empty() &&
          absl::StrContains(problem.problem, script.fail_if_problem)) {
        return absl::InternalError("scripted failure");
      }
      if (result.candidates_size() > 0) result.mutable_candidates(0)->set_selected(true);
      result.set_answer(script.answer);
      result.set_selected_candidate(result.candidates_size() > 0 ? 0 : -1);
      (*result.mutable_diagnostics())["fake"] = 1;
      factory_.finished_.fetch_add(1);
      return result;
    }

   private:
    const FakeStrategies& factory_;
  };

  FakeStrategyScript script_;
  mutable std::atomic<int> started_{0};
  mutable std::atomic<int> finished_{0};
  mutable std::atomic<int> stopped_{0};
};

}  // namespace ponder::orchestrator::testing

#endif  // PONDER_TESTS_ORCHESTRATOR_FAKE_STRATEGY_H_
