// strategy_bench: what the step-level strategies cost the engine, and what they cost themselves.
//
//   strategy_bench [--model M.gguf] [--n 16] [--threads 2] [--prompt 256] [--steps 6]
//                  [--step-tokens 24] [--overhead-n 64]
//
// 1. Tokens computed by the engine (prompt tokens prefilled + tokens sampled + any computed
//    again after losing their KV blocks) for particle
//    filtering, beam search and DVTS against best-of-N at the same N, per unique token (prompt +
//    generated: the strategies end solutions at different lengths), each run once with the
//    engine's prefix cache on and once with it off (the naive path: every re-submitted partial
//    solution prefilled again). Step-level strategies re-submit the prompt plus every partial
//    solution at each step; with the cache they should compute about what best-of-N computes
//    (goal: within 1.1x).
// 2. The strategies' own CPU time at N = `overhead-n`: CPU time of the solving thread (strategy
//    logic, verifier, tokenization, request building; the engine runs on its own threads)
//    against the engine's forward-step time, per step (goal: under 1%).
// 3. Tokens a process reward model computes to score one partial solution at each of its steps,
//    as a step-level search re-scores it: with one verifier for the search, which keeps what it
//    read and reads the new step alone, against a verifier that keeps nothing (the baseline:
//    every step read from the first, and the engine's prefix cache serves a score request only
//    up to its first read). Same scores; a random PRM-shaped model (Qwen2.5-Math-PRM format).
//
// Without --model a random Qwen2-shaped model is written to a temporary folder. Random models
// write noise, so steps end at --step-tokens rather than at "\n\n"; the verifier is the
// arithmetic step checker (neutral on noise), which keeps every particle alive.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/flags.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "engine/local_engine.h"
#include "engine/testing/random_model.h"
#include "samplers/strategy.h"
#include "verifiers/reward_model_verifier.h"
#include "verifiers/verifier.h"

namespace ponder::samplers {
namespace {

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct Settings {
  std::string model;
  int64_t n = 16, threads = 2, prompt = 256, steps = 6, step_tokens = 24, overhead_n = 64;
};

class PolicyOnly : public verifiers::VerifierModels {
 public:
  explicit PolicyOnly(engine::Engine* policy) : policy_(policy) {}
  engine::Engine* policy() override { return policy_; }
  absl::StatusOr<engine::Engine*> RewardModel(std::string_view name) override {
    return absl::NotFoundError(absl::StrCat("strategy_bench loads no reward model ", AsAbsl(name)));
  }

 private:
  engine::Engine* policy_;
};

v1::StrategyConfig Config(const std::string& kind, const Settings& s) {
  v1::StrategyConfig config;
  if (kind == "best-of-N") config.mutable_best_of_n();
  if (kind == "beam search (M=4)") config.mutable_beam_search()->set_beam_width(4);
  if (kind == "DVTS (M=4)") config.mutable_dvts()->set_beam_width(4);
  if (kind == "particle filter") config.mutable_particle_filter();
  config.mutable_verifier()->mutable_arithmetic();
  config.mutable_sampling()->set_temperature(1.0);
  config.mutable_sampling()->set_max_tokens(static_cast<int32_t>(s.steps * s.step_tokens));
  config.mutable_steps()->set_max_steps(static_cast<int32_t>(s.steps));
  config.mutable_steps()->set_max_step_tokens(static_cast<int32_t>(s.step_tokens));
  return config;
}

struct Measurement {
  int64_t prompt_computed = 0, decoded = 0, recomputed = 0, generated = 0, engine_steps = 0;
  double wall_seconds = 0, engine_step_seconds = 0, solver_cpu_seconds = 0;
  int64_t prompt = 0;
  int64_t computed() const { return prompt_computed + decoded + recomputed; }
  // The distinct tokens of the problem: the prompt and every generated token (the last token of
  // a solution is sampled but never fed back, so a perfect cache computes slightly fewer).
  int64_t unique() const { return prompt + generated; }
};

absl::StatusOr<Measurement> Measure(const std::string& model_path, const Settings& s,
                                    bool prefix_caching, const std::string& kind, int64_t n,
                                    const std::vector<int32_t>& prompt) {
  engine::LocalEngineOptions options;
  options.model_path = model_path;
  options.threads = static_cast<int>(s.threads);
  options.prefix_caching = prefix_caching;
  options.max_batch_tokens = 1024;
  PONDER_ASSIGN_OR_RETURN(auto policy, engine::LocalEngine::Create(options));
  v1::StrategyConfig config = Config(kind, s);
  PolicyOnly models(policy.get());
  PONDER_ASSIGN_OR_RETURN(auto verifier, verifiers::MakeVerifier(config.verifier(), models));
  PONDER_ASSIGN_OR_RETURN(auto strategy, MakeStrategy(config));
  SolveContext context;
  context.policy = policy.get();
  context.verifier = verifier.get();
  context.config = config;
  context.budget.set_n(static_cast<int32_t>(n));
  context.seed = 17;
  PONDER_RETURN_IF_ERROR(ValidateStrategy(config, context.budget));
  ProblemInput problem{"A benchmark problem.", prompt, verifiers::AnswerFormat::kMath};

  const double cpu_start = ThreadCpuSeconds();
  const auto wall_start = std::chrono::steady_clock::now();
  PONDER_ASSIGN_OR_RETURN(v1::SolveResult result, strategy->Solve(problem, context));
  Measurement m;
  m.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  m.solver_cpu_seconds = ThreadCpuSeconds() - cpu_start;
  engine::EngineStats stats = policy->Stats();
  m.prompt_computed = stats.prompt_tokens_computed;
  m.decoded = stats.tokens_decoded;
  m.recomputed = stats.tokens_recomputed;
  m.engine_steps = stats.steps;
  m.engine_step_seconds = stats.step_seconds_total;
  m.generated = result.usage().generated_tokens();
  m.prompt = static_cast<int64_t>(prompt.size());
  return m;
}

// The random models' shape: Qwen2-like, 4 layers, hidden 256.
engine::testing::RandomModelSpec BenchModelSpec() {
  engine::testing::RandomModelSpec spec;
  spec.architecture = engine::Architecture::kQwen2;
  spec.num_layers = 4;
  spec.hidden_size = 256;
  spec.intermediate_size = 768;
  spec.num_heads = 8;
  spec.num_kv_heads = 2;
  spec.head_dim = 32;
  return spec;
}

struct PrmMeasurement {
  int64_t tokens = 0;          // the PRM's tokens computed over all the scorings
  std::vector<double> scores;  // the aggregate (last step's score) at each step
};

// How the partials are scored: as a search does (one verifier for the solve, which keeps what it
// read), or the naive path (a verifier that keeps nothing: every step read from the first each
// time).
enum class PrmWay { kKept, kNaive };

// Scores the partials of one solution of `steps` steps, one more step each time, with a fresh
// PRM engine (so every way starts from an empty cache).
absl::StatusOr<PrmMeasurement> MeasurePrm(const std::string& prm_path, const Settings& s,
                                          PrmWay way) {
  engine::LocalEngineOptions options;
  options.model_path = prm_path;
  options.threads = static_cast<int>(s.threads);
  PONDER_ASSIGN_OR_RETURN(auto prm, engine::LocalEngine::Create(options));
  v1::ProcessRewardModel config;
  config.set_format(v1::ProcessRewardModel::FORMAT_QWEN_MATH_PRM);
  std::vector<std::string> steps;
  for (int64_t k = 0; k < s.steps; ++k) {
    std::string step;
    for (int64_t t = 0; t < s.step_tokens / 2; ++t) absl::StrAppend(&step, (k * 7 + t) % 10, " ");
    steps.push_back(step);
  }
  PrmMeasurement m;
  verifiers::VerifyOptions verify;
  std::unique_ptr<verifiers::Verifier> verifier;
  for (int64_t k = 1; k <= s.steps; ++k) {
    if (verifier == nullptr || way == PrmWay::kNaive) {
      PONDER_ASSIGN_OR_RETURN(verifier,
                              verifiers::MakeProcessRewardModelVerifier(config, prm.get()));
    }
    verifiers::Solution partial{{steps.begin(), steps.begin() + k}, k == s.steps};
    PONDER_ASSIGN_OR_RETURN(verifiers::VerifyResult scored,
                            verifier->Score("A benchmark problem.", {&partial, 1}, verify));
    m.tokens += scored.tokens_processed;
    m.scores.push_back(scored.scores[0].aggregate);
  }
  return m;
}

absl::Status Main(std::span<char* const> args) {
  Settings s;
  FlagParser flags(
      "strategy_bench [--model M] [--n 16] [--threads 2] [--prompt 256] [--steps 6] "
      "[--step-tokens 24] [--overhead-n 64]");
  flags.AddString("model", &s.model, "GGUF file or Hugging Face folder (default: random model)");
  flags.AddInt("n", &s.n, "budget N for the token comparison (default 16)");
  flags.AddInt("threads", &s.threads, "engine threads (default 2)");
  flags.AddInt("prompt", &s.prompt, "prompt tokens (default 256)");
  flags.AddInt("steps", &s.steps, "steps per solution (default 6)");
  flags.AddInt("step-tokens", &s.step_tokens, "tokens per step (default 24)");
  flags.AddInt("overhead-n", &s.overhead_n, "N for the CPU-overhead measurement (default 64)");
  PONDER_RETURN_IF_ERROR(flags.Parse(args));

  std::string model = s.model;
  if (model.empty()) {
    model = (std::filesystem::temp_directory_path() / "strategy_bench_model").string();
    engine::testing::RandomModelSpec spec = BenchModelSpec();
    spec.vocab_size = 512;
    spec.max_context = 4096;
    PONDER_RETURN_IF_ERROR(
        engine::testing::WriteRandomHuggingFaceModel(spec, engine::DType::kF16, model));
    std::printf("model: random Qwen2-shaped (4 layers, hidden 256, f16) in %s\n", model.c_str());
  } else {
    std::printf("model: %s\n", model.c_str());
  }
  std::vector<int32_t> prompt;
  for (int64_t i = 0; i < s.prompt; ++i)
    prompt.push_back(static_cast<int32_t>((i * 37 + 11) % 250));

  std::printf(
      "\n1. engine tokens computed (prompt prefilled + sampled + recomputed), N = %lld, prompt "
      "%lld tokens,\n"
      "   %lld steps of %lld tokens; baseline: the same strategy with the prefix cache off\n\n",
      static_cast<long long>(s.n), static_cast<long long>(s.prompt),
      static_cast<long long>(s.steps), static_cast<long long>(s.step_tokens));
  std::printf("  %-20s %10s %10s %12s %10s %10s %12s %8s\n", "strategy", "generated", "computed",
              "computed /", "computed /", "computed", "computed /", "wall s");
  std::printf("  %-20s %10s %10s %12s %10s %10s %12s %8s\n", "", "tokens", "cache on", "unique",
              "BoN's", "cache off", "unique", "cache on");
  const char* kinds[] = {"best-of-N", "beam search (M=4)", "DVTS (M=4)", "particle filter"};
  double bon_ratio = 0;  // best-of-N's computed / unique
  for (const char* kind : kinds) {
    PONDER_ASSIGN_OR_RETURN(Measurement on, Measure(model, s, true, kind, s.n, prompt));
    PONDER_ASSIGN_OR_RETURN(Measurement off, Measure(model, s, false, kind, s.n, prompt));
    // Strategies end solutions at different lengths (end-of-sequence, pruning), so they are
    // compared per unique token (prompt + generated).
    const double ratio = static_cast<double>(on.computed()) / static_cast<double>(on.unique());
    if (bon_ratio == 0) bon_ratio = ratio;
    std::printf("  %-20s %10lld %10lld %12.3f %9.3fx %10lld %12.3f %8.2f\n", kind,
                static_cast<long long>(on.generated), static_cast<long long>(on.computed()), ratio,
                ratio / bon_ratio, static_cast<long long>(off.computed()),
                static_cast<double>(off.computed()) / static_cast<double>(off.unique()),
                on.wall_seconds);
  }

  std::printf(
      "\n2. strategy CPU time (solving thread: strategy + verifier + tokenization) against the\n"
      "   engine's forward-step time, N = %lld, prefix cache on\n\n",
      static_cast<long long>(s.overhead_n));
  std::printf("  %-20s %12s %14s %14s %12s\n", "strategy", "engine steps", "engine step s",
              "strategy cpu s", "strategy %");
  for (const char* kind : kinds) {
    PONDER_ASSIGN_OR_RETURN(Measurement m, Measure(model, s, true, kind, s.overhead_n, prompt));
    std::printf("  %-20s %12lld %14.3f %14.4f %11.3f%%\n", kind,
                static_cast<long long>(m.engine_steps), m.engine_step_seconds, m.solver_cpu_seconds,
                100.0 * m.solver_cpu_seconds / m.engine_step_seconds);
  }

  const std::string prm_path =
      (std::filesystem::temp_directory_path() / "strategy_bench_prm").string();
  {
    engine::testing::RandomModelSpec spec = BenchModelSpec();
    spec.max_context = 4096;
    spec.reward_labels = 2;
    PONDER_RETURN_IF_ERROR(
        engine::testing::WriteRandomHuggingFaceModel(spec, engine::DType::kF16, prm_path));
  }
  std::printf(
      "\n3. PRM tokens computed to score one partial solution at each of its steps (a random\n"
      "   PRM-shaped model, 4 layers; steps of about %lld tokens); baseline: a verifier that\n"
      "   keeps nothing (every step read from the first, each time)\n\n",
      static_cast<long long>(s.step_tokens));
  std::printf("  %-6s %12s %10s %10s %16s\n", "steps", "as a search", "baseline", "ratio",
              "max score diff");
  for (int64_t steps : {s.steps, 4 * s.steps}) {
    Settings chain = s;
    chain.steps = steps;
    PONDER_ASSIGN_OR_RETURN(PrmMeasurement kept, MeasurePrm(prm_path, chain, PrmWay::kKept));
    PONDER_ASSIGN_OR_RETURN(PrmMeasurement naive, MeasurePrm(prm_path, chain, PrmWay::kNaive));
    double difference = 0;
    for (size_t k = 0; k < naive.scores.size(); ++k) {
      difference = std::max(difference, std::abs(kept.scores[k] - naive.scores[k]));
    }
    std::printf("  %-6lld %12lld %10lld %9.3fx %16.2e\n", static_cast<long long>(steps),
                static_cast<long long>(kept.tokens), static_cast<long long>(naive.tokens),
                static_cast<double>(kept.tokens) / static_cast<double>(naive.tokens), difference);
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace ponder::samplers

int main(int argc, char** argv) {
  return ponder::ExitCodeFor("strategy_bench",
                             ponder::samplers::Main({argv + 1, static_cast<size_t>(argc - 1)}));
}
