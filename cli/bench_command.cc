// `ponder bench`: runs a benchmark — every problem of a dataset slice × strategy × budget × seed —
// through the experiment runner, grades every answer, records everything in the experiment
// database and shows progress as it goes.
//
//   ponder bench (--server ADDR | --model PATH [--prm NAME=PATH]...) --dataset NAME
//                [--data-dir DIR] [--limit K] [--subset ID,...] --strategy [LABEL=]SPEC...
//                --budget 1,2,4,8 [--seeds S] --db FILE [--name NAME] [--resume]
//
// In-process (--model) it builds the same pipeline ponderd serves (orchestrator/server.h):
// models, strategies, solve pipeline, dataset registry, ExperimentRunner, ExperimentStore. With
// --server the server's runner does the work (StartExperiment + WatchExperiment) and records
// into the server's database. docs/bench.md explains the flags and what is recorded.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "base/flags.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "cli/command.h"
#include "cli/engine_flags.h"
#include "datasets/dataset.h"
#include "engine/local_engine.h"
#include "orchestrator/builtin_datasets.h"
#include "orchestrator/client.h"
#include "orchestrator/experiment_runner.h"
#include "orchestrator/grpc_status.h"
#include "orchestrator/model_registry.h"
#include "orchestrator/problem_source.h"
#include "orchestrator/proto_json.h"
#include "orchestrator/results/progress.h"
#include "orchestrator/results/results_db.h"
#include "orchestrator/results/tables.h"
#include "orchestrator/solve_pipeline.h"
#include "orchestrator/store/database_lock.h"
#include "orchestrator/store/experiment_store.h"
#include "orchestrator/version.h"
#include "samplers/strategy.h"

namespace ponder::cli {
namespace {

struct BenchFlags {
  orchestrator::ClientFlags client;
  std::string model, dataset, problems_file, data_dir, split, db, name, verifier, seeds = "1";
  std::string system_prompt, user_template;
  std::vector<std::string> prms, strategies, budgets, subset;
  int limit = 0, offset = 0, parallel = 0, max_tokens = 0;
  EngineFlags engine;  // in-process
  std::optional<double> temperature;
  double progress_interval = 10;
  bool resume = false, independent_budgets = false, quiet = false, system_prompt_set = false;
  bool limit_set = false;
};

// Set by SIGINT/SIGTERM while an in-process benchmark runs: the main loop cancels the
// experiment (resumable with --resume). A second signal ends the process at once.
std::atomic<bool> g_stop_requested{false};

void OnStopSignal(int) {
  if (g_stop_requested.exchange(true)) _exit(130);
}

// --budget "1,2,4" (also repeated flags) -> budgets in [1, samplers::kMaxBudgetN], no
// duplicates.
absl::StatusOr<std::vector<int>> ParseBudgets(const std::vector<std::string>& values) {
  std::vector<int> out;
  for (const std::string& value : values) {
    for (absl::string_view part : absl::StrSplit(value, ',', absl::SkipWhitespace())) {
      int64_t n = 0;
      if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(part), &n) || n < 1) {
        return absl::InvalidArgumentError(
            absl::StrCat("--budget: '", part, "' is not a whole number >= 1 (e.g. 1,2,4,8)"));
      }
      if (n > samplers::kMaxBudgetN) {
        return absl::InvalidArgumentError(absl::StrCat("--budget: ", n, " is more than ",
                                                       samplers::kMaxBudgetN,
                                                       ", the largest budget a strategy accepts"));
      }
      if (std::find(out.begin(), out.end(), n) != out.end()) {
        return absl::InvalidArgumentError(absl::StrCat("--budget: ", n, " is given twice"));
      }
      out.push_back(static_cast<int>(n));
    }
  }
  return out;
}

// --seeds 3: the seeds 0, 1, 2. --seeds 5,9: those seeds.
absl::StatusOr<std::vector<uint64_t>> ParseSeeds(const std::string& text) {
  std::vector<uint64_t> seeds;
  if (text.find(',') == std::string::npos) {
    int64_t count = 0;
    if (!absl::SimpleAtoi(text, &count) || count < 1 || count > 1000) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--seeds: '", text, "' is neither a count in [1, 1000] nor a list like 0,7,9"));
    }
    for (int64_t s = 0; s < count; ++s) seeds.push_back(static_cast<uint64_t>(s));
    return seeds;
  }
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    uint64_t seed = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(part), &seed)) {
      return absl::InvalidArgumentError(absl::StrCat("--seeds: '", part, "' is not a seed"));
    }
    if (std::find(seeds.begin(), seeds.end(), seed) != seeds.end()) {
      return absl::InvalidArgumentError(absl::StrCat("--seeds: ", seed, " is given twice"));
    }
    seeds.push_back(seed);
  }
  return seeds;
}

// "LABEL=SPEC" or "SPEC"; SPEC is a strategy name or StrategyConfig JSON. The label names the
// strategy in results; by default the strategy kind's name ("self_consistency").
absl::StatusOr<v1::NamedStrategy> ParseNamedStrategy(const std::string& text) {
  v1::NamedStrategy named;
  std::string spec = text;
  const size_t equals = text.find('=');
  if (equals != std::string::npos && !text.empty() && text.front() != '{') {
    named.set_name(text.substr(0, equals));
    spec = text.substr(equals + 1);
  }
  PONDER_ASSIGN_OR_RETURN(*named.mutable_config(),
                          orchestrator::ParseStrategyArgument(spec, "--strategy"));
  if (named.name().empty()) {
    const google::protobuf::OneofDescriptor* kind =
        v1::StrategyConfig::descriptor()->FindOneofByName("kind");
    const google::protobuf::FieldDescriptor* field =
        named.config().GetReflection()->GetOneofFieldDescriptor(named.config(), kind);
    if (field == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("--strategy '", text, "': the JSON sets no strategy kind"));
    }
    named.set_name(std::string(field->name()));
  }
  return named;
}

// --problems: the file's problems (after --offset/--limit) as the experiment's inline problems.
// A line that does not parse stops the benchmark, naming the file and line: the set measured is
// the set in the file, never silently a smaller one.
absl::Status AddProblemsFile(const BenchFlags& f, v1::ExperimentSpec& spec) {
  absl::StatusOr<datasets::LoadedDataset> loaded = datasets::LoadProblemsFile(f.problems_file);
  if (!loaded.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--problems ", f.problems_file, ": ", loaded.status().message()));
  }
  if (loaded->skipped > 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        loaded->warnings.front(),
        loaded->skipped > 1 ? absl::StrCat(" (and ", loaded->skipped - 1, " more)") : ""));
  }
  const int64_t rows = static_cast<int64_t>(loaded->problems.size());
  const int64_t end = f.limit > 0 ? std::min(rows, int64_t{f.offset} + f.limit) : rows;
  for (int64_t i = f.offset; i < end; ++i) {
    *spec.add_problems() = orchestrator::ProblemProto(loaded->problems[i]);
  }
  if (spec.problems().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--problems ", f.problems_file, ": no problems",
                                                   rows > 0 ? " at --offset/--limit" : ""));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::ExperimentSpec> BuildSpec(const BenchFlags& f) {
  if (f.dataset.empty() == f.problems_file.empty()) {
    return absl::InvalidArgumentError(
        "give one of --dataset NAME (gsm8k, math, math500, humaneval, mbpp, mbpp-sanitized, "
        "arith; see `ponder datasets list`) "
        "and --problems FILE.jsonl");
  }
  if (!f.problems_file.empty() && !f.subset.empty()) {
    return absl::InvalidArgumentError("--subset works with --dataset, not with --problems");
  }
  if (f.strategies.empty()) {
    return absl::InvalidArgumentError(
        "--strategy is required (e.g. --strategy self_consistency --strategy "
        "'bon={\"bestOfN\":{},\"verifier\":{\"arithmetic\":{}}}')");
  }
  if (f.budgets.empty()) return absl::InvalidArgumentError("--budget is required (e.g. 1,2,4,8)");
  // --limit 0 would read as "no problems"; leaving the flag out means all of them.
  PONDER_RETURN_IF_ERROR(CheckFlagRange("limit", f.limit, f.limit_set ? 1 : 0,
                                        std::numeric_limits<int64_t>::max(),
                                        "leave --limit out for all problems"));
  PONDER_RETURN_IF_ERROR(CheckFlagRange("offset", f.offset, 0));
  v1::ExperimentSpec spec;
  if (f.problems_file.empty()) {
    spec.set_name(f.name.empty() ? absl::StrCat("bench ", f.dataset) : f.name);
    spec.mutable_dataset()->set_name(f.dataset);
    spec.mutable_dataset()->set_split(f.split);
    spec.mutable_dataset()->set_offset(f.offset);
    spec.mutable_dataset()->set_limit(f.limit);
  } else {
    // The file's name is part of the experiment's name, so --resume finds this file's experiment.
    spec.set_name(f.name.empty() ? absl::StrCat("bench ", f.problems_file) : f.name);
    PONDER_RETURN_IF_ERROR(AddProblemsFile(f, spec));
  }
  PONDER_RETURN_IF_ERROR(CheckTemperatureFlag(f.temperature));
  PONDER_RETURN_IF_ERROR(CheckMaxTokensFlag(f.max_tokens));
  v1::StrategyConfig verifier_holder;
  if (!f.verifier.empty()) {
    PONDER_RETURN_IF_ERROR(
        orchestrator::FromJson(f.verifier, *verifier_holder.mutable_verifier(), "--verifier"));
  }
  for (const std::string& text : f.strategies) {
    PONDER_ASSIGN_OR_RETURN(v1::NamedStrategy named, ParseNamedStrategy(text));
    for (const v1::NamedStrategy& other : spec.strategies()) {
      if (other.name() == named.name()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--strategy: two strategies are named '", named.name(),
                         "'; label them, e.g. --strategy sc_t07='{\"selfConsistency\":{},...}'"));
      }
    }
    v1::StrategyConfig& config = *named.mutable_config();
    if (!f.verifier.empty() && orchestrator::BuiltinStrategies().NeedsVerifier(config) &&
        config.verifier().kind_case() == v1::VerifierConfig::KIND_NOT_SET) {
      *config.mutable_verifier() = verifier_holder.verifier();
    }
    if (f.temperature.has_value() && !config.sampling().has_temperature()) {
      config.mutable_sampling()->set_temperature(*f.temperature);
    }
    if (f.max_tokens > 0 && config.sampling().max_tokens() == 0) {
      config.mutable_sampling()->set_max_tokens(f.max_tokens);
    }
    *spec.add_strategies() = std::move(named);
  }
  PONDER_ASSIGN_OR_RETURN(std::vector<int> budgets, ParseBudgets(f.budgets));
  for (int n : budgets) spec.add_budgets()->set_n(n);
  PONDER_ASSIGN_OR_RETURN(std::vector<uint64_t> seeds, ParseSeeds(f.seeds));
  for (uint64_t s : seeds) spec.add_seeds(s);
  if (f.system_prompt_set) spec.mutable_prompt()->set_system_prompt(f.system_prompt);
  if (!f.user_template.empty()) spec.mutable_prompt()->set_user_template(f.user_template);
  spec.set_parallelism(f.parallel);
  spec.set_independent_budgets(f.independent_budgets);
  return spec;
}

// --subset: the named problems of the split, in dataset order, as inline problems.
// A record the dataset's loader skipped, on stderr.
void ReportSkipped(const std::string& line) { PrintToStderr("ponder bench", line); }

absl::Status ApplySubset(const BenchFlags& f, orchestrator::ProblemSource& datasets,
                         v1::ExperimentSpec& spec) {
  std::vector<std::string> ids;
  for (const std::string& value : f.subset) {
    for (absl::string_view id : absl::StrSplit(value, ',', absl::SkipWhitespace())) {
      ids.emplace_back(absl::StripAsciiWhitespace(id));
    }
  }
  if (ids.empty()) return absl::OkStatus();
  if (f.offset != 0 || f.limit != 0) {
    return absl::InvalidArgumentError(
        "--subset picks problems by id; --offset and --limit do not combine with it");
  }
  v1::DatasetSlice whole = spec.dataset();
  whole.set_offset(0);
  whole.set_limit(0);
  absl::StatusOr<std::vector<v1::Problem>> problems = datasets.Load(whole, {});
  if (!problems.ok()) return problems.status();
  for (const std::string& id : ids) {
    auto it = std::find_if(problems->begin(), problems->end(),
                           [&](const v1::Problem& p) { return p.id() == id; });
    if (it == problems->end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--subset: the dataset ", f.dataset, " has no problem with id '", id, "'"));
    }
  }
  for (const v1::Problem& problem : *problems) {
    if (std::find(ids.begin(), ids.end(), problem.id()) != ids.end()) {
      *spec.add_problems() = problem;
    }
  }
  // The inline problems are the experiment's; record which dataset they came from in its name.
  spec.set_name(absl::StrCat(spec.name(), " [", f.dataset, " subset]"));
  spec.clear_dataset();
  return absl::OkStatus();
}

// Shows progress on stderr: a bar redrawn in place on a terminal, a line every
// `interval` seconds otherwise.
class ProgressDisplay {
 public:
  ProgressDisplay(bool quiet, double interval)
      : quiet_(quiet), tty_(isatty(STDERR_FILENO) != 0), interval_(interval) {}

  void Show(const results::ProgressSnapshot& snapshot, bool final) {
    if (quiet_) return;
    const absl::Time now = absl::Now();
    if (tty_) {
      std::fprintf(stderr, "\r\033[K%s%s", results::FormatProgressBar(snapshot, 30).c_str(),
                   final ? "\n" : "");
    } else {
      // A line when something changed and the interval has passed, and always the last one.
      const bool due = snapshot.done != last_done_ && now - last_line_ >= absl::Seconds(interval_);
      if (!final && !due) return;
      std::fprintf(stderr, "%s\n", results::FormatProgressLine(snapshot).c_str());
      last_line_ = now;
      last_done_ = snapshot.done;
    }
    std::fflush(stderr);
  }

 private:
  bool quiet_, tty_;
  double interval_;
  absl::Time last_line_ = absl::InfinitePast();
  int64_t last_done_ = -1;
};

results::ProgressSnapshot Snapshot(const v1::Experiment& e) {
  results::ProgressSnapshot s;
  s.done = e.runs_recorded();
  s.total = e.runs_planned();
  s.failed = e.runs_failed();
  for (const v1::ExperimentCell& cell : e.cells()) {
    s.graded += cell.graded();
    s.correct += cell.correct();
  }
  return s;
}

int64_t CellTokens(const v1::Experiment& e) {
  double tokens = 0;
  for (const v1::ExperimentCell& cell : e.cells()) {
    tokens += cell.mean_generated_tokens() * static_cast<double>(cell.runs());
  }
  return static_cast<int64_t>(tokens);
}

absl::Status PrintSummary(const std::string& db_path, int64_t experiment_id) {
  PONDER_ASSIGN_OR_RETURN(auto db, results::ResultsDb::Open(db_path));
  PONDER_ASSIGN_OR_RETURN(std::vector<results::CellMetrics> cells,
                          results::ExperimentCells(*db, experiment_id, {}));
  std::printf("%s", results::AccuracyTable(experiment_id, cells).ToText().c_str());
  return absl::OkStatus();
}

absl::Status FinalStatus(const v1::Experiment& e) {
  if (e.status() == v1::EXPERIMENT_STATUS_COMPLETED) return absl::OkStatus();
  return absl::AbortedError(
      absl::StrCat("experiment ", e.id(), " is ", results::StatusText(e.status()),
                   e.error().empty() ? "" : absl::StrCat(" (", e.error(), ")"), " with ",
                   e.runs_recorded(), " of ", e.runs_planned(),
                   " runs recorded; rerun the same command with --resume to finish it"));
}

absl::Status BenchInProcess(const BenchFlags& f, v1::ExperimentSpec spec) {
  if (f.db.empty()) return absl::InvalidArgumentError("--db FILE is required with --model");
  if (f.db == ":memory:") {  // it ran, then its table could not be read back (review, stop 33)
    return absl::InvalidArgumentError(
        "--db :memory:: a benchmark's results are kept and its table read back from its "
        "database: give a file");
  }
  PONDER_ASSIGN_OR_RETURN(engine::LocalEngineOptions engine_options, f.engine.Options());
  // The lock before anything else (database_lock.h). --resume may take over an experiment a dead
  // benchmark left marked running, which must not be one a live benchmark is running.
  PONDER_ASSIGN_OR_RETURN(
      orchestrator::DatabaseLock lock,
      orchestrator::DatabaseLock::Acquire(f.db,
                                          f.resume ? orchestrator::DatabaseLock::Mode::kExclusive
                                                   : orchestrator::DatabaseLock::Mode::kShared,
                                          f.resume ? "ponder bench --resume" : "ponder bench"));
  PONDER_ASSIGN_OR_RETURN(auto models,
                          orchestrator::LoadedModels::Load(f.model, f.prms, engine_options));
  PONDER_ASSIGN_OR_RETURN(auto store, orchestrator::ExperimentStore::Open(f.db));
  orchestrator::DatasetRegistry datasets;
  orchestrator::RegisterBuiltinDatasets(datasets, f.data_dir, ReportSkipped);
  PONDER_RETURN_IF_ERROR(ApplySubset(f, datasets, spec));

  const orchestrator::StrategyFactory& strategies = orchestrator::BuiltinStrategies();
  orchestrator::CodeGrader code_grader;  // code datasets: their tests run in the sandbox
  orchestrator::SolvePipeline pipeline(models->registry(), strategies, &code_grader);
  orchestrator::ExperimentRunnerOptions options;
  options.model = orchestrator::PathFromRoot(f.model);
  options.code_version = std::string(orchestrator::CodeVersion());
  // In this process the server's limits do not apply; only the request's own rules do.
  options.limits.max_budget_n = samplers::kMaxBudgetN;
  options.limits.max_tokens = samplers::kMaxTokens;
  options.limits.max_problem_bytes = int64_t{1} << 30;
  options.limits.max_experiment_parallelism = 1024;
  orchestrator::ExperimentRunner runner(*store, pipeline, datasets, options);

  int64_t id = 0;
  if (f.resume) {
    PONDER_ASSIGN_OR_RETURN(id, runner.FindResumable(spec));
    if (id == 0) {
      std::fprintf(stderr, "bench: no experiment in %s has these settings; starting a new one\n",
                   f.db.c_str());
    } else {
      PONDER_ASSIGN_OR_RETURN(v1::Experiment found, store->GetExperiment(id, false));
      if (found.status() == v1::EXPERIMENT_STATUS_COMPLETED) {
        std::fprintf(stderr, "bench: experiment %lld is already completed\n",
                     static_cast<long long>(id));
        return PrintSummary(f.db, id);
      }
      if (found.status() == v1::EXPERIMENT_STATUS_RUNNING) {
        // Left running by a `ponder bench` that died (a live ponderd on the same file would be
        // running it: do not share a database between the two).
        PONDER_RETURN_IF_ERROR(
            store->SetStatus(id, v1::EXPERIMENT_STATUS_INTERRUPTED, "", absl::Now()));
      }
      std::fprintf(stderr, "bench: resuming experiment %lld (%lld of %lld runs recorded)\n",
                   static_cast<long long>(id), static_cast<long long>(found.runs_recorded()),
                   static_cast<long long>(found.runs_planned()));
      PONDER_RETURN_IF_ERROR(runner.Resume(id).status());
    }
  }
  if (id == 0) {
    PONDER_ASSIGN_OR_RETURN(v1::Experiment started, runner.Start(spec));
    id = started.id();
    std::fprintf(stderr, "bench: experiment %lld: %lld runs (%lld problems) into %s\n",
                 static_cast<long long>(id), static_cast<long long>(started.runs_planned()),
                 static_cast<long long>(started.problems()), f.db.c_str());
  }

  struct sigaction action = {};
  action.sa_handler = OnStopSignal;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);

  ProgressDisplay display(f.quiet, f.progress_interval);
  const absl::Time start = absl::Now();
  const int64_t tokens_at_start = models->registry().policy()->Stats().tokens_decoded;
  int64_t recorded_at_start = -1;
  bool cancelled = false;
  auto snapshot = [&]() -> absl::StatusOr<results::ProgressSnapshot> {
    PONDER_ASSIGN_OR_RETURN(v1::Experiment e, store->GetExperiment(id, /*with_cells=*/true));
    results::ProgressSnapshot s = Snapshot(e);
    if (recorded_at_start < 0) recorded_at_start = s.done;
    s.done_this_session = s.done - recorded_at_start;
    s.tokens = models->registry().policy()->Stats().tokens_decoded - tokens_at_start;
    s.seconds = absl::ToDoubleSeconds(absl::Now() - start);
    return s;
  };
  absl::Time next_display = absl::InfinitePast();
  while (runner.IsRunning(id)) {
    if (g_stop_requested.load() && !cancelled) {
      std::fprintf(stderr, "\nbench: stopping; the runs recorded so far are kept\n");
      cancelled = true;
      runner.Cancel(id);
      continue;
    }
    if (absl::Now() >= next_display) {
      PONDER_ASSIGN_OR_RETURN(results::ProgressSnapshot s, snapshot());
      display.Show(s, /*final=*/false);
      next_display = absl::Now() + absl::Milliseconds(250);
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  runner.WaitUntilStopped(id);
  PONDER_ASSIGN_OR_RETURN(results::ProgressSnapshot last, snapshot());
  display.Show(last, /*final=*/true);
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);

  PONDER_ASSIGN_OR_RETURN(v1::Experiment finished, store->GetExperiment(id, false));
  std::printf("experiment %lld: %s, %lld of %lld runs recorded (%lld failed) in %s\n",
              static_cast<long long>(id), results::StatusText(finished.status()).c_str(),
              static_cast<long long>(finished.runs_recorded()),
              static_cast<long long>(finished.runs_planned()),
              static_cast<long long>(finished.runs_failed()), f.db.c_str());
  PONDER_RETURN_IF_ERROR(PrintSummary(f.db, id));
  return FinalStatus(finished);
}

absl::Status BenchOnServer(const BenchFlags& f, v1::ExperimentSpec spec) {
  if (!f.db.empty()) {
    return absl::InvalidArgumentError(
        "--db: with --server the results go to the server's own database (ponderd --db); drop "
        "--db here and run `ponder query --db <that file>` on the server's machine");
  }
  if (!f.prms.empty()) {
    return absl::InvalidArgumentError(
        "--prm: with --server, reward models are the server's (ponderd --prm)");
  }
  if (!f.subset.empty()) {
    orchestrator::DatasetRegistry datasets;
    orchestrator::RegisterBuiltinDatasets(datasets, f.data_dir, ReportSkipped);
    PONDER_RETURN_IF_ERROR(ApplySubset(f, datasets, spec));
  } else if (!f.data_dir.empty()) {
    return absl::InvalidArgumentError(
        "--data-dir: with --server, datasets are the server's (ponderd --data-dir); here it "
        "only serves --subset");
  }
  PONDER_ASSIGN_OR_RETURN(orchestrator::ClientOptions options, f.client.Options());
  PONDER_ASSIGN_OR_RETURN(auto client, orchestrator::PonderClient::Connect(options));
  v1::Experiment experiment;
  {
    // The server finds the experiment to resume, by ExperimentRunner::FindResumable: the rule
    // of the in-process --resume.
    v1::StartExperimentRequest start;
    *start.mutable_spec() = spec;
    start.set_resume(f.resume);
    auto context = client->NewContext();
    PONDER_RETURN_IF_ERROR(orchestrator::FromGrpcStatus(
        client->stub().StartExperiment(context.get(), start, &experiment)));
  }
  if (experiment.status() == v1::EXPERIMENT_STATUS_COMPLETED) {
    std::fprintf(stderr, "bench: experiment %lld on %s is already completed\n",
                 static_cast<long long>(experiment.id()), f.client.server.c_str());
  } else if (f.resume && (experiment.runs_recorded() > 0 || experiment.resume_count() > 0)) {
    // (Without --resume the experiment is new, though its first runs may be recorded already:
    // QA of stop 36. With it, a new one whose runs came that fast is said as resumed.)
    std::fprintf(stderr, "bench: resuming experiment %lld on %s (%lld of %lld runs recorded)\n",
                 static_cast<long long>(experiment.id()), f.client.server.c_str(),
                 static_cast<long long>(experiment.runs_recorded()),
                 static_cast<long long>(experiment.runs_planned()));
  } else {
    std::fprintf(stderr, "bench: experiment %lld on %s: %lld runs\n",
                 static_cast<long long>(experiment.id()), f.client.server.c_str(),
                 static_cast<long long>(experiment.runs_planned()));
  }
  // Ctrl-C ends the watch; the experiment goes on on the server.
  v1::WatchExperimentRequest watch;
  watch.set_experiment_id(experiment.id());
  auto context = client->NewContext();
  auto reader = client->stub().WatchExperiment(context.get(), watch);
  ProgressDisplay display(f.quiet, f.progress_interval);
  const absl::Time start = absl::Now();
  int64_t recorded_at_start = -1, tokens_at_start = 0;
  v1::Experiment state;
  while (reader->Read(&state)) {
    results::ProgressSnapshot s = Snapshot(state);
    if (recorded_at_start < 0) {
      recorded_at_start = s.done;
      tokens_at_start = CellTokens(state);
    }
    s.done_this_session = s.done - recorded_at_start;
    // The server reports tokens per recorded run: the rate of recorded work.
    s.tokens = CellTokens(state) - tokens_at_start;
    s.seconds = absl::ToDoubleSeconds(absl::Now() - start);
    experiment = state;
    display.Show(s, state.status() != v1::EXPERIMENT_STATUS_RUNNING);
  }
  PONDER_RETURN_IF_ERROR(orchestrator::FromGrpcStatus(reader->Finish()));
  std::printf("experiment %lld: %s, %lld of %lld runs recorded (%lld failed) on %s\n",
              static_cast<long long>(experiment.id()),
              results::StatusText(experiment.status()).c_str(),
              static_cast<long long>(experiment.runs_recorded()),
              static_cast<long long>(experiment.runs_planned()),
              static_cast<long long>(experiment.runs_failed()), f.client.server.c_str());
  std::vector<results::CellMetrics> cells;
  for (const v1::ExperimentCell& c : experiment.cells()) {
    results::CellMetrics cell;
    cell.strategy = c.strategy();
    cell.budget_n = c.budget_n();
    cell.runs = c.runs();
    cell.graded = c.graded();
    cell.correct = c.correct();
    if (c.graded() > 0) {  // the proto's accuracy is 0 when nothing is graded
      cell.accuracy = c.accuracy();
      cell.accuracy_ci = results::WilsonInterval(c.correct(), c.graded());
    }
    if (c.has_pass_at_n()) cell.pass_at_k = c.pass_at_n();
    if (c.has_oracle()) cell.oracle = c.oracle();
    if (c.has_selected_false_positive_rate()) {
      cell.selected_false_positive_rate = c.selected_false_positive_rate();
    }
    if (c.has_candidate_false_positive_rate()) {
      cell.candidate_false_positive_rate = c.candidate_false_positive_rate();
    }
    cells.push_back(cell);
  }
  std::printf("%s", results::AccuracyTable(experiment.id(), cells).ToText().c_str());
  return FinalStatus(experiment);
}

absl::Status Bench(std::span<char* const> args) {
  BenchFlags f;
  FlagParser flags(
      "ponder bench (--server ADDR | --model PATH [--prm NAME=PATH]) (--dataset NAME | "
      "--problems FILE) "
      "[--data-dir DIR] [--limit K] [--subset ID,...] --strategy [LABEL=]SPEC... "
      "--budget 1,2,4,8 [--seeds S] --db FILE [--name NAME] [--resume]");
  f.client.Register(flags);
  flags.AddString("model", &f.model, "run in this process with this policy model");
  flags.AddStringList("prm", &f.prms, "in-process: reward model NAME=PATH (repeatable)");
  flags.AddString("dataset", &f.dataset,
                  "gsm8k, math, math500, humaneval, mbpp, mbpp-sanitized (graded by their tests "
                  "in the code sandbox) or arith (the built-in task)");
  flags.AddString("problems", &f.problems_file,
                  "JSONL of problems instead of --dataset: problem, answer, [id], [answer_format]; "
                  "code problems: answer_format code, tests or test_code, [setup], "
                  "[example_tests]");
  flags.AddString("data-dir", &f.data_dir,
                  "where datasets live (default: PONDER_DATA_DIR, then the fetch cache)");
  flags.AddString("split", &f.split, "the dataset's split (default: test)");
  flags.AddInt("offset", &f.offset, "first problem of the split or file (default 0)");
  flags.AddInt("limit", &f.limit, "at most this many problems, >= 1 (default: all)");
  flags.AddStringList("subset", &f.subset, "only these problem ids (comma-separated; repeatable)");
  flags.AddStringList("strategy", &f.strategies,
                      "[LABEL=]NAME or [LABEL=]StrategyConfig JSON (repeatable)");
  flags.AddString("verifier", &f.verifier,
                  "VerifierConfig JSON for every strategy that needs one and sets none");
  flags.AddStringList("budget", &f.budgets, "budgets n, comma-separated (e.g. 1,2,4,8)");
  flags.AddString("seeds", &f.seeds,
                  "a count S (seeds 0..S-1, default 1) or a list 0,7,9 (7, = seed 7 alone)");
  flags.AddDouble("temperature", &f.temperature, "sampling temperature for every strategy");
  flags.AddInt("max-tokens", &f.max_tokens, "tokens per completion for every strategy");
  flags.AddString("system-prompt", &f.system_prompt,
                  "system message (default: Qwen2.5-Math's step-by-step prompt, none for code "
                  "datasets; '' for none)");
  flags.AddString("user-template", &f.user_template, "user message with {problem}");
  flags.AddString("db", &f.db, "in-process: the experiment database (SQLite; created if missing)");
  flags.AddString("name", &f.name, "the experiment's name (default: 'bench <dataset>')");
  flags.AddBool("resume", &f.resume,
                "continue the newest experiment with the same settings, problems and models");
  flags.AddBool("independent-budgets", &f.independent_budgets,
                "sample every budget on its own instead of reusing the largest budget's samples");
  flags.AddInt("parallel", &f.parallel, "runs solved at once (default 4)");
  f.engine.Register(flags, "in-process: ");
  flags.AddBool("quiet", &f.quiet, "no progress display");
  flags.AddDouble("progress-interval", &f.progress_interval,
                  "seconds between progress lines when stderr is not a terminal (default 10)");
  PONDER_RETURN_IF_ERROR(flags.Parse(args));
  f.system_prompt_set = flags.WasSet("system-prompt");
  f.limit_set = flags.WasSet("limit");
  if (f.client.server.empty() == f.model.empty()) {
    return absl::InvalidArgumentError("give exactly one of --server and --model");
  }
  PONDER_ASSIGN_OR_RETURN(v1::ExperimentSpec spec, BuildSpec(f));
  return f.model.empty() ? BenchOnServer(f, std::move(spec)) : BenchInProcess(f, std::move(spec));
}

int RunBench(std::span<char* const> args) { return ReportStatus("bench", Bench(args)); }

}  // namespace

PONDER_REGISTER_COMMAND("bench", "run a benchmark: dataset x strategies x budgets x seeds",
                        RunBench);

}  // namespace ponder::cli
