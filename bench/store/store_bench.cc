// store_bench: the experiment store's write throughput and the service's overhead per solve,
// each beside a baseline measured in the same run.
//
// 1. Candidate rows inserted per second (goal: > 50,000/s), for runs of `--candidates` candidates
//    of `--text-bytes` each, in a WAL database on disk:
//      naive     one INSERT statement text per row, each its own transaction (autocommit),
//                the way a first version would do it (same file settings as the store);
//      prepared  prepared statements, still one transaction per run;
//      store     ExperimentStore::InsertRuns with `--batch` runs per transaction (what the
//                RunWriter does under load);
//      writer    RunWriter end to end (group commit on its own thread), the server's path.
// 2. The service's overhead per solve (goal: < 2 ms): the same canned strategy called
//      in-process    Strategy::Solve directly (the baseline),
//      pipeline      SolvePipeline::Solve (prompt rendering, tokenization, grading),
//      grpc          Solve over gRPC to an in-process ponderd on 127.0.0.1 (one channel, calls in
//                    sequence), and
//      grpc-stream   SolveStream, the same way;
//    the calls of the four methods are interleaved (so a change in the shared machine's load
//    hits all alike) and the overhead is the difference of the means and of the medians. With
//    --real the same is measured for the real self-consistency strategy on a tiny random model
//    (when this build has samplers/).
// 3. Reads beside writes: `--read-threads` clients each read a stopped experiment of `--runs`
//    runs as ponderd's clients do (GetExperiment with cells, then a page of 50 runs with
//    details), one read every `--read-interval-ms` (a watcher, a polling dashboard), while the
//    main thread records 5 x `--runs` runs of another experiment in batches of `--batch`;
//      one connection   reads and writes take turns on the writer's connection (the baseline,
//                       how the store worked before stop 35), and
//      readers          the store's own read connections (ExperimentStore::kReaders).
//    Printed: the writes' runs per second and the reads' latency.
//
//   store_bench [--runs N] [--candidates K] [--text-bytes B] [--batch R] [--solves S] [--real]
//               [--read-threads T] [--read-interval-ms M]
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/flags.h"
#include "engine/local_engine.h"
#include "engine/testing/random_model.h"
#include "orchestrator/client.h"
#include "orchestrator/server.h"
#include "orchestrator/solve_pipeline.h"
#include "orchestrator/store/experiment_store.h"
#include "orchestrator/store/run_writer.h"

namespace {

using namespace ponder;                // NOLINT: a benchmark program
using namespace ponder::orchestrator;  // NOLINT

std::string TempDir() {
  std::string dir =
      absl::StrCat(std::filesystem::temp_directory_path().string(), "/store_bench_", getpid());
  std::filesystem::create_directories(dir);
  return dir;
}

// --- part 1: candidate rows ---

NewExperiment Experiment(int problems) {
  NewExperiment e;
  v1::NamedStrategy& s = *e.spec.add_strategies();
  s.set_name("sc");
  s.mutable_config()->mutable_self_consistency();
  e.spec.add_budgets()->set_n(16);
  e.spec.add_seeds(0);
  for (int i = 0; i < problems; ++i) {
    v1::Problem& p = e.problems.emplace_back();
    p.set_id(absl::StrCat(i));
    p.set_text(absl::StrCat("problem ", i));
    p.set_reference_answer("42");
  }
  e.runs_planned = problems;
  e.create_time = absl::Now();
  return e;
}

std::vector<RunRecord> Runs(int64_t experiment, int runs, int candidates, int text_bytes) {
  std::string text;
  while (static_cast<int>(text.size()) < text_bytes) text += "Step: 12 * 7 = 84, so x = 84. ";
  text.resize(static_cast<size_t>(text_bytes));
  std::vector<RunRecord> records(static_cast<size_t>(runs));
  for (int r = 0; r < runs; ++r) {
    RunRecord& run = records[static_cast<size_t>(r)];
    run.experiment_id = experiment;
    run.key = {r, 0, 0, 0};
    run.strategy = "sc";
    run.budget.set_n(candidates);
    run.result.set_answer("84");
    run.correct = true;
    for (int c = 0; c < candidates; ++c) {
      v1::Candidate& candidate = *run.result.add_candidates();
      candidate.set_index(c);
      candidate.set_text(text);
      candidate.set_answer(absl::StrCat(80 + c % 5));
      candidate.set_answer_class(c % 5);
      candidate.set_num_tokens(text_bytes / 4);
      candidate.set_cumulative_logprob(-0.5 * c);
      candidate.set_mean_logprob(-0.01 * c);
      candidate.add_step_scores(0.5);
      candidate.set_score(0.5);
      candidate.set_selected(c == 0);
      candidate.set_finish_reason("stop");
      run.candidate_correct.push_back(c % 5 == 4);
    }
    run.finish_time = absl::Now();
  }
  return records;
}

std::string Quoted(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

// Baseline: every candidate row as its own INSERT text, each committed on its own.
double NaiveRowsPerSecond(const std::string& path, const std::vector<RunRecord>& runs) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  // The store's file settings, so the difference is the way rows are written.
  sqlite3_exec(db,
               "PRAGMA page_size = 16384; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;",
               nullptr, nullptr, nullptr);
  sqlite3_exec(db,
               "CREATE TABLE candidates (id INTEGER PRIMARY KEY, run_id INTEGER, "
               "candidate_index INTEGER, text TEXT, answer TEXT, answer_class INTEGER, "
               "correct INTEGER, num_tokens INTEGER, cumulative_logprob REAL, mean_logprob REAL, "
               "score REAL, step_scores_json TEXT, selected INTEGER, pruned INTEGER, "
               "finish_reason TEXT, UNIQUE (run_id, candidate_index))",
               nullptr, nullptr, nullptr);
  int64_t rows = 0;
  const absl::Time start = absl::Now();
  for (size_t r = 0; r < runs.size(); ++r) {
    for (const v1::Candidate& c : runs[r].result.candidates()) {
      const std::string sql = absl::StrCat(
          "INSERT INTO candidates (run_id, candidate_index, text, answer, answer_class, correct, "
          "num_tokens, cumulative_logprob, mean_logprob, score, step_scores_json, selected, "
          "pruned, finish_reason) VALUES (",
          r, ", ", c.index(), ", ", Quoted(c.text()), ", ", Quoted(c.answer()), ", ",
          c.answer_class(), ", 0, ", c.num_tokens(), ", ", c.cumulative_logprob(), ", ",
          c.mean_logprob(), ", ", c.score(), ", '[0.5]', ", c.selected() ? 1 : 0, ", 0, 'stop')");
      sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
      ++rows;
    }
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  sqlite3_close(db);
  return static_cast<double>(rows) / seconds;
}

double StoreRowsPerSecond(const std::string& path, int runs, int candidates, int text_bytes,
                          int batch, bool via_writer) {
  auto store = ExperimentStore::Open(path);
  if (!store.ok()) {
    std::fprintf(stderr, "store_bench: %s\n", store.status().ToString().c_str());
    std::exit(1);
  }
  const int64_t id = *(*store)->CreateExperiment(Experiment(runs));
  std::vector<RunRecord> records = Runs(id, runs, candidates, text_bytes);
  const absl::Time start = absl::Now();
  if (via_writer) {
    RunWriter writer(**store, nullptr);
    for (RunRecord& record : records) writer.Enqueue(std::move(record));
    writer.Flush();
  } else {
    for (size_t i = 0; i < records.size(); i += static_cast<size_t>(batch)) {
      const size_t n = std::min(records.size() - i, static_cast<size_t>(batch));
      absl::Status status = (*store)->InsertRuns(std::span(records).subspan(i, n));
      if (!status.ok()) {
        std::fprintf(stderr, "store_bench: %s\n", status.ToString().c_str());
        std::exit(1);
      }
    }
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  return static_cast<double>(runs) * candidates / seconds;
}

// --- part 2: service overhead ---

// A strategy that returns a fixed result at once: `candidates` candidates of `text_bytes`, so
// the measured time is the machinery around the strategy, payload serialisation included.
class CannedStrategies : public StrategyFactory {
 public:
  CannedStrategies(int candidates, int text_bytes) {
    RunRecord run = Runs(0, 1, candidates, text_bytes)[0];
    result_ = run.result;
    result_.set_selected_candidate(0);
  }
  absl::Status Validate(const v1::StrategyConfig&, const v1::Budget&) const override {
    return absl::OkStatus();
  }
  bool NeedsVerifier(const v1::StrategyConfig&) const override { return false; }
  absl::StatusOr<std::unique_ptr<samplers::Strategy>> MakeStrategy(
      const v1::StrategyConfig&) const override {
    return std::unique_ptr<samplers::Strategy>(new Canned(result_));
  }
  absl::StatusOr<std::unique_ptr<verifiers::Verifier>> MakeVerifier(
      const v1::VerifierConfig&, verifiers::VerifierModels&) const override {
    return absl::UnimplementedError("no verifiers");
  }

 private:
  class Canned : public samplers::Strategy {
   public:
    explicit Canned(const v1::SolveResult& result) : result_(result) {}
    absl::StatusOr<v1::SolveResult> Solve(const samplers::ProblemInput&,
                                          const samplers::SolveContext& context) override {
      if (context.on_step) context.on_step(v1::TraceStep());
      return result_;
    }

   private:
    const v1::SolveResult& result_;
  };
  v1::SolveResult result_;
};

struct Timing {
  double mean_us = 0, p50_us = 0, p99_us = 0;
};

// Times each of `calls` `iterations` times, interleaved (call 0, 1, 2, ..., then again), so a
// change in the machine's load during the run (it is shared) falls on every method alike.
std::vector<Timing> MeasureInterleaved(int iterations,
                                       const std::vector<std::function<void()>>& calls) {
  for (int i = 0; i < std::max(10, iterations / 20); ++i) {
    for (const auto& call : calls) call();  // warm up
  }
  std::vector<std::vector<double>> us(calls.size());
  for (auto& samples : us) samples.reserve(static_cast<size_t>(iterations));
  for (int i = 0; i < iterations; ++i) {
    for (size_t c = 0; c < calls.size(); ++c) {
      const absl::Time start = absl::Now();
      calls[c]();
      us[c].push_back(absl::ToDoubleMicroseconds(absl::Now() - start));
    }
  }
  std::vector<Timing> timings;
  for (std::vector<double>& samples : us) {
    std::sort(samples.begin(), samples.end());
    Timing t;
    t.mean_us =
        std::accumulate(samples.begin(), samples.end(), 0.0) / static_cast<double>(samples.size());
    t.p50_us = samples[samples.size() / 2];
    t.p99_us = samples[samples.size() * 99 / 100];
    timings.push_back(t);
  }
  return timings;
}

void Fail(const absl::Status& status) {
  std::fprintf(stderr, "store_bench: %s\n", status.ToString().c_str());
  std::exit(1);
}

void ServiceOverhead(const std::string& dir, const StrategyFactory& strategies,
                     const std::string& label, int solves, v1::SolveRequest request) {
  engine::LocalEngineOptions engine_options;
  engine_options.model_path = dir + "/tiny.gguf";
  engine_options.threads = 2;
  auto engine = engine::LocalEngine::Create(engine_options);
  if (!engine.ok()) Fail(engine.status());
  ModelRegistry models(**engine);
  SolvePipeline pipeline(models, strategies);
  auto store = ExperimentStore::Open(absl::StrCat(dir, "/service_", label, ".db"));
  if (!store.ok()) Fail(store.status());
  DatasetRegistry datasets;
  ServerOptions options;
  options.listen_address = "127.0.0.1:0";
  auto server = PonderServer::Start(options, models, **store, datasets, strategies);
  if (!server.ok()) Fail(server.status());
  auto client = *PonderClient::Connect({.address = absl::StrCat("127.0.0.1:", (*server)->port())});

  // The strategy alone, given the prompt tokens the pipeline would give it.
  samplers::ProblemInput input;
  input.problem = request.problem().text();
  input.prompt_tokens =
      *(*engine)->Tokenize(*pipeline.RenderPrompt(request.problem(), request.prompt()), false);
  samplers::SolveContext context;
  context.policy = engine->get();
  context.config = request.strategy();
  context.budget = request.budget();
  context.seed = request.seed();
  auto strategy = *strategies.MakeStrategy(request.strategy());
  auto direct = [&] {
    auto r = strategy->Solve(input, context);
    if (!r.ok()) Fail(r.status());
  };
  auto piped = [&] {
    auto r = pipeline.Solve(request, {});
    if (!r.ok()) Fail(r.status());
  };
  auto unary = [&] {
    auto call = client->NewContext();
    v1::SolveResponse response;
    grpc::Status status = client->stub().Solve(call.get(), request, &response);
    if (!status.ok()) Fail(absl::InternalError(status.error_message()));
  };
  auto stream = [&] {
    auto call = client->NewContext();
    auto reader = client->stub().SolveStream(call.get(), request);
    v1::SolveEvent event;
    while (reader->Read(&event)) {
    }
    grpc::Status status = reader->Finish();
    if (!status.ok()) Fail(absl::InternalError(status.error_message()));
  };
  const std::vector<Timing> t = MeasureInterleaved(solves, {direct, piped, unary, stream});
  std::printf("  %-34s %10s %10s %10s %16s %16s\n", label.c_str(), "mean us", "p50 us", "p99 us",
              "overhead mean", "overhead p50");
  auto row = [&](const char* name, const Timing& timing) {
    std::printf("  %-34s %10.1f %10.1f %10.1f %16.1f %16.1f\n", name, timing.mean_us, timing.p50_us,
                timing.p99_us, timing.mean_us - t[0].mean_us, timing.p50_us - t[0].p50_us);
  };
  row("in-process strategy (baseline)", t[0]);
  row("in-process pipeline", t[1]);
  row("gRPC Solve (loopback)", t[2]);
  row("gRPC SolveStream (loopback)", t[3]);
  (*server)->Shutdown(absl::Seconds(1));
}

// --- part 3: reads beside writes ---

struct Contention {
  double runs_per_second = 0;
  double read_p50_ms = 0;
  double read_p95_ms = 0;
  int64_t reads = 0;
};

Contention ReadsBesideWrites(const std::string& path, int read_connections, int read_threads,
                             absl::Duration read_interval, int runs, int candidates, int text_bytes,
                             int batch) {
  auto opened = ExperimentStore::Open(path, read_connections);
  if (!opened.ok()) {
    std::fprintf(stderr, "store_bench: %s\n", opened.status().ToString().c_str());
    std::exit(1);
  }
  ExperimentStore& store = **opened;
  auto insert = [&store](std::vector<RunRecord>& records, int batch) {
    for (size_t i = 0; i < records.size(); i += static_cast<size_t>(batch)) {
      const size_t n = std::min(records.size() - i, static_cast<size_t>(batch));
      absl::Status status = store.InsertRuns(std::span(records).subspan(i, n));
      if (!status.ok()) {
        std::fprintf(stderr, "store_bench: %s\n", status.ToString().c_str());
        std::exit(1);
      }
    }
  };
  const int64_t stopped = *store.CreateExperiment(Experiment(runs));
  std::vector<RunRecord> old_runs = Runs(stopped, runs, candidates, text_bytes);
  insert(old_runs, 256);
  (void)store.SetStatus(stopped, v1::EXPERIMENT_STATUS_COMPLETED, "", absl::Now());
  const int64_t running = *store.CreateExperiment(Experiment(5 * runs));
  std::vector<RunRecord> new_runs = Runs(running, 5 * runs, candidates, text_bytes);

  std::atomic<bool> done{false};
  std::vector<std::vector<double>> latencies(static_cast<size_t>(read_threads));
  std::vector<std::thread> threads;
  for (int t = 0; t < read_threads; ++t) {
    threads.emplace_back([&, t] {
      int64_t after = 0;
      for (absl::Time next = absl::Now(); !done.load(); next += read_interval) {
        absl::SleepFor(next - absl::Now());
        const absl::Time start = absl::Now();
        (void)store.GetExperiment(stopped, /*with_cells=*/true);
        absl::StatusOr<std::vector<v1::RunResult>> page = store.ListRuns(stopped, after, 50, true);
        after = page.ok() && !page->empty() ? page->back().run_id() : 0;
        latencies[static_cast<size_t>(t)].push_back(
            absl::ToDoubleMilliseconds(absl::Now() - start));
      }
    });
  }
  const absl::Time start = absl::Now();
  insert(new_runs, batch);
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  done = true;
  for (std::thread& thread : threads) thread.join();
  std::vector<double> all;
  for (const auto& some : latencies) all.insert(all.end(), some.begin(), some.end());
  std::sort(all.begin(), all.end());
  Contention result;
  result.runs_per_second = static_cast<double>(new_runs.size()) / seconds;
  result.reads = static_cast<int64_t>(all.size());
  if (!all.empty()) {
    result.read_p50_ms = all[all.size() / 2];
    result.read_p95_ms = all[std::min(all.size() - 1, all.size() * 95 / 100)];
  }
  return result;
}

absl::Status Main(std::span<char* const> args) {
  int64_t runs = 2000, candidates = 16, text_bytes = 1024, batch = 64, solves = 2000;
  int64_t read_threads = 4, read_interval_ms = 25;
  bool real = false;
  FlagParser flags(
      "store_bench [--runs N] [--candidates K] [--text-bytes B] [--batch R] "
      "[--solves S] [--real] [--read-threads T] [--read-interval-ms M]");
  flags.AddInt("runs", &runs, "runs written per method (default 2000)");
  flags.AddInt("candidates", &candidates, "candidates per run (default 16)");
  flags.AddInt("text-bytes", &text_bytes, "bytes of text per candidate (default 1024)");
  flags.AddInt("batch", &batch, "runs per transaction for 'store' (default 64)");
  flags.AddInt("solves", &solves, "solves timed per method (default 2000)");
  flags.AddBool("real", &real, "also time the real self-consistency strategy (tiny model)");
  flags.AddInt("read-threads", &read_threads, "clients reading beside the writes (default 4)");
  flags.AddInt("read-interval-ms", &read_interval_ms,
               "each client's time from one read to the next (default 25)");
  if (absl::Status status = flags.Parse(args); !status.ok()) return status;

  const std::string dir = TempDir();
  const int r = static_cast<int>(runs), k = static_cast<int>(candidates),
            b = static_cast<int>(text_bytes);
  std::printf(
      "candidate rows per second (%d runs x %d candidates of %d bytes, WAL, "
      "synchronous=NORMAL, 16 KiB pages, %s):\n",
      r, k, b, dir.c_str());
  // The naive baseline is slow: a tenth of the runs is enough to measure it.
  const double naive = NaiveRowsPerSecond(dir + "/naive.db", Runs(0, std::max(1, r / 10), k, b));
  const double prepared = StoreRowsPerSecond(dir + "/prepared.db", r, k, b, 1, false);
  const double batched =
      StoreRowsPerSecond(dir + "/store.db", r, k, b, static_cast<int>(batch), false);
  const double writer = StoreRowsPerSecond(dir + "/writer.db", r, k, b, 0, true);
  std::printf("  %-52s %12.0f rows/s  (1.0x)\n", "naive: SQL text per row, autocommit (baseline)",
              naive);
  std::printf("  %-52s %12.0f rows/s  (%.1fx)\n", "prepared statements, one transaction per run",
              prepared, prepared / naive);
  std::printf("  %-52s %12.0f rows/s  (%.1fx)\n",
              absl::StrCat("ExperimentStore::InsertRuns, ", batch, " runs per transaction").c_str(),
              batched, batched / naive);
  std::printf("  %-52s %12.0f rows/s  (%.1fx)\n", "RunWriter (group commit thread)", writer,
              writer / naive);
  std::printf("  goal: > 50000 rows/s -> %s by InsertRuns, %s by the RunWriter\n\n",
              batched > 50000 ? "met" : "NOT met", writer > 50000 ? "met" : "NOT met");

  engine::testing::RandomModelSpec spec;
  if (absl::Status s =
          engine::testing::WriteRandomGgufModel(spec, engine::DType::kF32, dir + "/tiny.gguf");
      !s.ok()) {
    return s;
  }
  v1::SolveRequest request;
  request.mutable_problem()->set_text("What is 12 times 7?");
  request.mutable_problem()->set_reference_answer("84");
  request.mutable_strategy()->mutable_self_consistency();
  request.mutable_strategy()->mutable_sampling()->set_max_tokens(16);
  request.mutable_budget()->set_n(8);
  std::printf(
      "service overhead per solve (%lld sequential solves per method, the methods interleaved; "
      "overhead = method - baseline, in us):\n",
      static_cast<long long>(solves));
  CannedStrategies canned(8, 1024);
  ServiceOverhead(dir, canned, "canned strategy, 8 x 1 KiB candidates", static_cast<int>(solves),
                  request);
  if (real) {
    ServiceOverhead(dir, BuiltinStrategies(), "self-consistency n=8, 16 tokens, tiny model",
                    static_cast<int>(std::max<int64_t>(50, solves / 10)), request);
  }

  std::printf(
      "reads beside writes (%lld clients, each reading a stopped experiment of %d runs every %lld "
      "ms: its cells, then 50 runs with details; meanwhile %d runs of another experiment "
      "recorded in batches of %lld; each setting twice, alternating):\n",
      static_cast<long long>(read_threads), r, static_cast<long long>(read_interval_ms), 5 * r,
      static_cast<long long>(batch));
  std::printf("  %-44s %15s %8s %9s %9s\n", "", "runs/s written", "reads", "p50 ms", "p95 ms");
  for (int round = 0; round < 2; ++round) {
    for (int connections : {0, ExperimentStore::kReaders}) {
      const Contention c =
          ReadsBesideWrites(absl::StrCat(dir, "/reads_", round, "_", connections, ".db"),
                            connections, static_cast<int>(read_threads),
                            absl::Milliseconds(read_interval_ms), r, k, b, static_cast<int>(batch));
      const std::string label = connections == 0
                                    ? "one connection, reads take turns (baseline)"
                                    : absl::StrCat(connections, " read connections (the store)");
      std::printf("  %-44s %15.0f %8lld %9.2f %9.2f\n", label.c_str(), c.runs_per_second,
                  static_cast<long long>(c.reads), c.read_p50_ms, c.read_p95_ms);
    }
  }
  std::filesystem::remove_all(dir);
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  return ponder::ExitCodeFor("store_bench",
                             Main(std::span<char* const>(argv + 1, static_cast<size_t>(argc - 1))));
}
