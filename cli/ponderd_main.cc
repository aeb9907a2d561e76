// ponderd: the Ponder service. Serves ponder.v1.Ponder, grpc.health.v1.Health and server
// reflection; records experiments in a SQLite database; stops gracefully on SIGINT/SIGTERM
// (running experiments are interrupted and resume when ponderd starts again on the database).
//
//   ponderd --model PATH --db FILE [--prm NAME=PATH]... [--listen 127.0.0.1:50051]
//           [--auth-token-file FILE] [limits...]
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "base/flags.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "cli/engine_flags.h"
#include "engine/local_engine.h"
#include "orchestrator/auth.h"
#include "orchestrator/builtin_datasets.h"
#include "orchestrator/model_registry.h"
#include "orchestrator/problem_source.h"
#include "orchestrator/server.h"
#include "orchestrator/store/database_lock.h"
#include "orchestrator/store/experiment_store.h"
#include "samplers/strategy.h"

namespace {

using ponder::orchestrator::ServiceLimits;

struct Flags {
  std::string model, db, listen = "127.0.0.1:50051", auth_token_file, data_dir;
  std::vector<std::string> prms;
  ponder::cli::EngineFlags engine;
  int max_concurrent_solves, max_queued_solves, max_budget_n, max_tokens, max_running_experiments,
      max_experiment_parallelism, experiment_parallelism;
  int64_t max_problem_bytes, max_request_bytes;
  double shutdown_grace_seconds = 5;
  bool resume = true;
};

absl::Status ParseFlags(std::span<char* const> args, Flags& f) {
  const ServiceLimits defaults;
  f.max_concurrent_solves = defaults.max_concurrent_solves;
  f.max_queued_solves = defaults.max_queued_solves;
  f.max_budget_n = defaults.max_budget_n;
  f.max_tokens = defaults.max_tokens;
  f.max_problem_bytes = defaults.max_problem_bytes;
  f.max_request_bytes = defaults.max_request_bytes;
  f.max_running_experiments = defaults.max_running_experiments;
  f.max_experiment_parallelism = defaults.max_experiment_parallelism;
  f.experiment_parallelism = defaults.default_experiment_parallelism;
  ponder::FlagParser flags(
      "ponderd --model PATH --db FILE [--prm NAME=PATH]... [--listen 127.0.0.1:50051] "
      "[--auth-token-file FILE] [flags]");
  flags.AddString("model", &f.model, "policy model: a .gguf file or a Hugging Face folder");
  flags.AddStringList("prm", &f.prms, "reward model NAME=PATH (or PATH; repeatable)");
  flags.AddString("db", &f.db, "experiment database (SQLite; created if missing)");
  flags.AddString("listen", &f.listen,
                  "address to serve on: host:port (default 127.0.0.1:50051; port 0 picks a free "
                  "one) or unix:PATH");
  flags.AddString("auth-token-file", &f.auth_token_file,
                  "file holding the bearer token every call must carry; required to listen "
                  "beyond loopback");
  flags.AddString("data-dir", &f.data_dir,
                  "where named datasets live (default: PONDER_DATA_DIR, then the fetch cache)");
  f.engine.Register(flags);
  flags.AddInt("max-concurrent-solves", &f.max_concurrent_solves, "solves at once (default 8)");
  flags.AddInt("max-queued-solves", &f.max_queued_solves,
               "solves waiting before RESOURCE_EXHAUSTED (default 64)");
  flags.AddInt("max-budget-n", &f.max_budget_n, "largest budget.n accepted (default 64)");
  flags.AddInt("max-tokens", &f.max_tokens, "largest sampling.max_tokens (default 4096)");
  flags.AddInt("max-problem-bytes", &f.max_problem_bytes, "largest problem text (default 65536)");
  flags.AddInt("max-request-bytes", &f.max_request_bytes, "largest request (default 4 MiB)");
  flags.AddInt("max-running-experiments", &f.max_running_experiments,
               "experiments running at once (default 4)");
  flags.AddInt("max-experiment-parallelism", &f.max_experiment_parallelism,
               "largest spec.parallelism (default 16)");
  flags.AddInt("experiment-parallelism", &f.experiment_parallelism,
               "runs at once when a spec leaves parallelism 0 (default 4)");
  flags.AddBool("resume", &f.resume,
                "resume interrupted experiments at start-up (default true; --resume=false)");
  flags.AddDouble("shutdown-grace-seconds", &f.shutdown_grace_seconds,
                  "time calls in flight get to finish on SIGINT/SIGTERM (default 5; a second "
                  "signal stops at once)");
  PONDER_RETURN_IF_ERROR(flags.Parse(args));
  if (f.model.empty()) return absl::InvalidArgumentError("--model is required");
  if (f.db.empty()) return absl::InvalidArgumentError("--db is required");
  PONDER_RETURN_IF_ERROR(ponder::orchestrator::ValidateListenAddress(f.listen));
  using ponder::CheckFlagRange;
  PONDER_RETURN_IF_ERROR(CheckFlagRange("max-concurrent-solves", f.max_concurrent_solves, 1));
  PONDER_RETURN_IF_ERROR(CheckFlagRange("max-queued-solves", f.max_queued_solves, 0));
  PONDER_RETURN_IF_ERROR(CheckFlagRange("max-budget-n", f.max_budget_n, 1,
                                        ponder::samplers::kMaxBudgetN,
                                        "no strategy accepts a larger budget"));
  PONDER_RETURN_IF_ERROR(CheckFlagRange("max-tokens", f.max_tokens, 1, ponder::samplers::kMaxTokens,
                                        "no strategy accepts more tokens"));
  PONDER_RETURN_IF_ERROR(CheckFlagRange("max-problem-bytes", f.max_problem_bytes, 1));
  PONDER_RETURN_IF_ERROR(CheckFlagRange("max-request-bytes", f.max_request_bytes, 1,
                                        std::numeric_limits<int>::max(),
                                        "gRPC's receive limit is an int"));
  PONDER_RETURN_IF_ERROR(CheckFlagRange("max-running-experiments", f.max_running_experiments, 1));
  PONDER_RETURN_IF_ERROR(
      CheckFlagRange("max-experiment-parallelism", f.max_experiment_parallelism, 1));
  // The default parallelism follows a lower ceiling; one given above it is refused.
  if (!flags.WasSet("experiment-parallelism")) {
    f.experiment_parallelism = std::min(f.experiment_parallelism, f.max_experiment_parallelism);
  }
  PONDER_RETURN_IF_ERROR(CheckFlagRange("experiment-parallelism", f.experiment_parallelism, 1,
                                        f.max_experiment_parallelism,
                                        "at most --max-experiment-parallelism"));
  if (!(f.shutdown_grace_seconds >= 0)) {  // NaN too
    return absl::InvalidArgumentError(
        absl::StrCat("--shutdown-grace-seconds must be >= 0, got ", f.shutdown_grace_seconds));
  }
  return f.engine.Options().status();
}

// Serves on the database `Serve` locked until a stop signal; `served` tells whether it got as
// far as listening. The store is closed when it returns.
absl::Status ServeOn(const Flags& f, const ponder::orchestrator::ServerOptions& options,
                     const ponder::engine::LocalEngineOptions& engine_options,
                     const sigset_t& stop_signals, bool& served) {
  PONDER_ASSIGN_OR_RETURN(auto store, ponder::orchestrator::ExperimentStore::Open(f.db));
  PONDER_ASSIGN_OR_RETURN(
      auto models, ponder::orchestrator::LoadedModels::Load(f.model, f.prms, engine_options));
  // Experiments may name a dataset (spec.dataset) instead of listing problems.
  ponder::orchestrator::DatasetRegistry datasets;
  ponder::orchestrator::RegisterBuiltinDatasets(datasets, f.data_dir, [](const std::string& line) {
    ponder::PrintToStderr("ponderd", line);
  });

  PONDER_ASSIGN_OR_RETURN(auto server, ponder::orchestrator::PonderServer::Start(
                                           options, models->registry(), *store, datasets));
  served = true;
  std::printf("ponderd: listening on %s (model %s, database %s)\n", server->address().c_str(),
              f.model.c_str(), f.db.c_str());
  std::fflush(stdout);

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  std::fprintf(stderr, "ponderd: %s: interrupting experiments and shutting down\n",
               signal_number == SIGINT ? "SIGINT" : "SIGTERM");
  // A second signal during the grace stops the process at once (a second Ctrl-C, as servers
  // commonly take it; QA of stop 33 found it ignored). Nothing recorded is lost: every write to
  // the database is a transaction, and an experiment left marked running is taken for one whose
  // server died when the next ponderd starts. Signals within a second of the first are taken for
  // its echo (a terminal's Ctrl-C followed by a script's trap, as in scripts/demo.sh).
  std::thread([signals = stop_signals, first = std::chrono::steady_clock::now()] {
    int second = 0;
    while (true) {
      sigwait(&signals, &second);
      if (std::chrono::steady_clock::now() - first >= std::chrono::seconds(1)) break;
      std::fprintf(stderr,
                   "ponderd: %s within a second of the first: taken for the same stop (send "
                   "another to stop at once)\n",
                   second == SIGINT ? "SIGINT" : "SIGTERM");
    }
    std::fprintf(stderr, "ponderd: second %s: stopping now\n",
                 second == SIGINT ? "SIGINT" : "SIGTERM");
    std::_Exit(128 + second);
  }).detach();
  server->Shutdown(absl::Seconds(f.shutdown_grace_seconds));
  std::fprintf(stderr, "ponderd: stopped\n");
  return absl::OkStatus();
}

absl::Status Serve(std::span<char* const> args, const sigset_t& stop_signals) {
  Flags f;
  PONDER_RETURN_IF_ERROR(ParseFlags(args, f));
  ponder::orchestrator::ServerOptions options;
  options.listen_address = f.listen;
  if (!f.auth_token_file.empty()) {
    PONDER_ASSIGN_OR_RETURN(options.auth_token,
                            ponder::orchestrator::ReadAuthToken(f.auth_token_file));
  }
  // Before the database is opened (or created) and the models are loaded.
  PONDER_RETURN_IF_ERROR(
      ponder::orchestrator::CheckListenAccess(options.listen_address, options.auth_token));
  ServiceLimits& limits = options.limits;
  limits.max_concurrent_solves = f.max_concurrent_solves;
  limits.max_queued_solves = f.max_queued_solves;
  limits.max_budget_n = f.max_budget_n;
  limits.max_tokens = f.max_tokens;
  limits.max_problem_bytes = f.max_problem_bytes;
  limits.max_request_bytes = f.max_request_bytes;
  limits.max_running_experiments = f.max_running_experiments;
  limits.max_experiment_parallelism = f.max_experiment_parallelism;
  limits.default_experiment_parallelism = f.experiment_parallelism;
  options.resume_interrupted = f.resume;
  options.model = ponder::orchestrator::PathFromRoot(f.model);

  PONDER_ASSIGN_OR_RETURN(ponder::engine::LocalEngineOptions engine_options, f.engine.Options());
  // The database's lock first: a second server is refused before it opens the database or
  // loads a model.
  PONDER_ASSIGN_OR_RETURN(
      ponder::orchestrator::DatabaseLock lock,
      ponder::orchestrator::DatabaseLock::Acquire(
          f.db, ponder::orchestrator::DatabaseLock::Mode::kExclusive, "ponderd"));
  bool served = false;
  const absl::Status status = ServeOn(f, options, engine_options, stop_signals, served);
  // A run that fails before it serves (a port in use, a model that does not load) leaves no new
  // database behind: a typo in --listen or --db made an empty experiment database.
  if (!status.ok() && !served) lock.RemoveCreatedDatabase();
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  // Block the stop signals before any thread exists: every thread inherits the mask, and the
  // main thread takes them with sigwait, outside any signal handler.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  const absl::Status status =
      Serve(std::span<char* const>(argv + 1, static_cast<size_t>(argc - 1)), stop_signals);
  return ponder::ExitCodeFor("ponderd", status);
}
