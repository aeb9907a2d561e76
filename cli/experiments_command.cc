// `ponder experiments`: the experiments of a ponderd.
//
//   ponder experiments list   --server ADDR [--page-size N [--page-token T]]
//   ponder experiments show   ID --server ADDR [--results] [--details] [--json]
//   ponder experiments start  --server ADDR --spec FILE.json [--watch]
//   ponder experiments watch  ID --server ADDR
//   ponder experiments cancel ID --server ADDR
//   ponder experiments resume ID --server ADDR
#include <cstdio>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/algorithm/container.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/flags.h"
#include "base/mapped_file.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "cli/command.h"
#include "orchestrator/client.h"
#include "orchestrator/grpc_status.h"
#include "orchestrator/proto_json.h"

namespace ponder::cli {
namespace {

using orchestrator::FromGrpcStatus;
using orchestrator::PonderClient;
using orchestrator::ToJson;

struct ExperimentsFlags {
  orchestrator::ClientFlags client;
  std::string spec, page_token;
  int page_size = 0;
  bool results = false, details = false, json = false, watch = false;
};

std::string StatusName(v1::ExperimentStatus status) {
  std::string name = v1::ExperimentStatus_Name(status);
  const std::string prefix = "EXPERIMENT_STATUS_";
  if (name.rfind(prefix, 0) == 0) name = name.substr(prefix.size());
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

std::string TimeText(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixSeconds(t.seconds()),
                          absl::UTCTimeZone());
}

void PrintExperimentLine(const v1::Experiment& e) {
  std::printf("%-6lld %-12s %8lld/%-8lld %-7lld %-20s %s\n", static_cast<long long>(e.id()),
              StatusName(e.status()).c_str(), static_cast<long long>(e.runs_recorded()),
              static_cast<long long>(e.runs_planned()), static_cast<long long>(e.runs_failed()),
              TimeText(e.create_time()).c_str(), e.spec().name().c_str());
}

void PrintExperiment(const v1::Experiment& e) {
  std::printf("experiment %lld: %s\n", static_cast<long long>(e.id()), e.spec().name().c_str());
  std::printf("status: %s%s\n", StatusName(e.status()).c_str(),
              e.error().empty() ? "" : absl::StrCat(" (", e.error(), ")").c_str());
  std::printf("runs: %lld of %lld recorded, %lld failed; %lld problems; resumed %d times\n",
              static_cast<long long>(e.runs_recorded()), static_cast<long long>(e.runs_planned()),
              static_cast<long long>(e.runs_failed()), static_cast<long long>(e.problems()),
              e.resume_count());
  std::printf("model: %s\ncode version: %s\ncreated: %s\nfinished: %s\n", e.model().c_str(),
              e.code_version().c_str(), TimeText(e.create_time()).c_str(),
              TimeText(e.finish_time()).c_str());
  if (e.cells_size() == 0) return;
  // pass@n and oracle come with a stopped experiment's cells ("-" while it runs).
  auto rate = [](bool has, double value) {
    return has ? absl::StrFormat("%.3f", value) : std::string("-");
  };
  std::printf("\n%-24s %6s %6s %6s %7s %8s %7s %7s %12s %8s\n", "strategy", "n", "runs", "graded",
              "correct", "accuracy", "pass@n", "oracle", "mean tokens", "mean s");
  for (const v1::ExperimentCell& c : e.cells()) {
    // The proto's accuracy is 0 when nothing is graded: "-" then, as in every other table.
    std::printf("%-24s %6d %6lld %6lld %7lld %8s %7s %7s %12.1f %8.3f\n", c.strategy().c_str(),
                c.budget_n(), static_cast<long long>(c.runs()), static_cast<long long>(c.graded()),
                static_cast<long long>(c.correct()), rate(c.graded() > 0, c.accuracy()).c_str(),
                rate(c.has_pass_at_n(), c.pass_at_n()).c_str(),
                rate(c.has_oracle(), c.oracle()).c_str(), c.mean_generated_tokens(),
                c.mean_wall_seconds());
  }
}

absl::StatusOr<int64_t> ExperimentIdArgument(const FlagParser& flags) {
  int64_t id = 0;
  if (flags.positional().size() != 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("give the experiment id after '", flags.positional()[0], "'"));
  }
  if (!absl::SimpleAtoi(flags.positional()[1], &id) || id <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("'", Printable(flags.positional()[1], 64),
                                                   "' is not an experiment id (ids are ",
                                                   "1, 2, ...: see ponder experiments list)"));
  }
  return id;
}

absl::Status List(PonderClient& client, const ExperimentsFlags& f) {
  v1::ListExperimentsRequest request;
  request.set_page_size(f.page_size);
  request.set_page_token(f.page_token);
  bool header = false;  // printed with the first page, so that a failed call prints no table
  do {
    auto context = client.NewContext();
    v1::ListExperimentsResponse response;
    PONDER_RETURN_IF_ERROR(
        FromGrpcStatus(client.stub().ListExperiments(context.get(), request, &response)));
    if (!std::exchange(header, true)) {
      std::printf("%-6s %-12s %17s %-7s %-20s %s\n", "id", "status", "recorded/planned", "failed",
                  "created (UTC)", "name");
    }
    for (const v1::Experiment& e : response.experiments()) PrintExperimentLine(e);
    request.set_page_token(response.next_page_token());
  } while (!request.page_token().empty() && f.page_size == 0);
  if (!request.page_token().empty()) {  // one page asked for, and more follow
    std::fprintf(stderr,
                 "more: ponder experiments list --server %s --page-size %d --page-token %s\n",
                 f.client.server.c_str(), f.page_size, request.page_token().c_str());
  }
  return absl::OkStatus();
}

absl::Status Show(PonderClient& client, int64_t id, const ExperimentsFlags& f) {
  v1::GetExperimentRequest request;
  request.set_experiment_id(id);
  v1::Experiment experiment;
  auto context = client.NewContext();
  PONDER_RETURN_IF_ERROR(
      FromGrpcStatus(client.stub().GetExperiment(context.get(), request, &experiment)));
  if (f.json) {
    std::printf("%s\n", ToJson(experiment).c_str());
  } else {
    PrintExperiment(experiment);
  }
  if (!f.results) return absl::OkStatus();
  v1::ListResultsRequest results;
  results.set_experiment_id(id);
  results.set_include_details(f.details);
  if (!f.json) {
    std::printf("\n%-8s %-12s %-20s %5s %6s %-9s %-16s %-7s %8s %8s\n", "run", "problem",
                "strategy", "n", "seed", "status", "answer", "correct", "tokens", "s");
  }
  do {
    auto page_context = client.NewContext();
    v1::ListResultsResponse response;
    PONDER_RETURN_IF_ERROR(
        FromGrpcStatus(client.stub().ListResults(page_context.get(), results, &response)));
    for (const v1::RunResult& r : response.results()) {
      if (f.json) {
        std::printf("%s\n", ToJson(r).c_str());
        continue;
      }
      // Answers may be programs (code problems): escaped, so a row stays one line.
      const std::string answer = r.has_answer() ? Printable(r.answer(), 16) : "-";
      std::printf("%-8lld %-12s %-20s %5d %6llu %-9s %-16s %-7s %8lld %8.3f\n",
                  static_cast<long long>(r.run_id()), r.problem_id().c_str(), r.strategy().c_str(),
                  r.budget().n(), static_cast<unsigned long long>(r.seed()),
                  r.status() == v1::RUN_STATUS_SUCCEEDED ? "succeeded" : "failed", answer.c_str(),
                  r.has_correct() ? (r.correct() ? "yes" : "no") : "-",
                  static_cast<long long>(r.usage().generated_tokens()), r.usage().wall_seconds());
    }
    results.set_page_token(response.next_page_token());
  } while (!results.page_token().empty());
  return absl::OkStatus();
}

absl::Status Watch(PonderClient& client, int64_t id) {
  v1::WatchExperimentRequest request;
  request.set_experiment_id(id);
  auto context = client.NewContext();
  auto reader = client.stub().WatchExperiment(context.get(), request);
  v1::Experiment state;
  // A line a second at most, and one for each change of status: the server sends a state after
  // every recorded batch (50 lines in 4 s for 80 runs; QA of stop 35).
  absl::Time last_line = absl::InfinitePast();
  v1::ExperimentStatus last_status = v1::EXPERIMENT_STATUS_UNSPECIFIED;
  while (reader->Read(&state)) {
    const absl::Time now = absl::Now();
    if (state.status() == last_status && now - last_line < absl::Seconds(1)) continue;
    last_line = now;
    last_status = state.status();
    std::printf("%s: %lld/%lld runs recorded, %lld failed\n", StatusName(state.status()).c_str(),
                static_cast<long long>(state.runs_recorded()),
                static_cast<long long>(state.runs_planned()),
                static_cast<long long>(state.runs_failed()));
    std::fflush(stdout);
  }
  PONDER_RETURN_IF_ERROR(FromGrpcStatus(reader->Finish()));
  if (state.id() != 0) PrintExperiment(state);
  // An experiment that ends otherwise than completed is not a success for a script to go on
  // from (QA in stop 32: it exited 0 whatever the end).
  if (state.id() != 0 && state.status() != v1::EXPERIMENT_STATUS_COMPLETED) {
    return absl::AbortedError(
        absl::StrCat("experiment ", id, " ended ", StatusName(state.status()), ", not completed"));
  }
  return absl::OkStatus();
}

absl::Status Start(PonderClient& client, const ExperimentsFlags& f) {
  if (f.spec.empty()) return absl::InvalidArgumentError("start: --spec FILE.json is required");
  PONDER_ASSIGN_OR_RETURN(std::string json, ReadFileToString(f.spec));
  v1::StartExperimentRequest request;
  PONDER_RETURN_IF_ERROR(
      orchestrator::FromJson(json, *request.mutable_spec(), absl::StrCat("--spec ", f.spec)));
  v1::Experiment experiment;
  auto context = client.NewContext();
  PONDER_RETURN_IF_ERROR(
      FromGrpcStatus(client.stub().StartExperiment(context.get(), request, &experiment)));
  std::printf("started experiment %lld (%lld runs)\n", static_cast<long long>(experiment.id()),
              static_cast<long long>(experiment.runs_planned()));
  std::fflush(stdout);
  if (f.watch) return Watch(client, experiment.id());
  return absl::OkStatus();
}

template <typename Request, typename Call>
absl::Status ChangeExperiment(PonderClient& client, int64_t id, Call call) {
  Request request;
  request.set_experiment_id(id);
  v1::Experiment experiment;
  auto context = client.NewContext();
  PONDER_RETURN_IF_ERROR(FromGrpcStatus(call(context.get(), request, &experiment)));
  PrintExperiment(experiment);
  return absl::OkStatus();
}

absl::Status Experiments(std::span<char* const> args) {
  ExperimentsFlags f;
  FlagParser flags(
      "ponder experiments list|show ID|start|watch ID|cancel ID|resume ID --server ADDR "
      "[--spec FILE.json] [--results] [--details] [--json] [--watch]");
  f.client.Register(flags);
  flags.AddInt("page-size", &f.page_size, "list: one page of this many (default: all)");
  flags.AddString("page-token", &f.page_token,
                  "list --page-size: the page after the one that printed this token");
  flags.AddBool("results", &f.results, "show: also list every recorded run");
  flags.AddBool("details", &f.details, "show --results --json: with candidates and trace");
  flags.AddBool("json", &f.json, "show: print JSON (ponder.v1.Experiment, ponder.v1.RunResult)");
  flags.AddString("spec", &f.spec, "start: ponder.v1.ExperimentSpec as a JSON file");
  flags.AddBool("watch", &f.watch, "start: then watch it until it stops");
  PONDER_RETURN_IF_ERROR(flags.Parse(args));
  if (flags.positional().empty()) {
    return absl::InvalidArgumentError("give an action: list, show, start, watch, cancel or resume");
  }
  const std::string& action = flags.positional()[0];
  // Known before anything else, so that "bogus 1" is not asked for an id or a server.
  constexpr std::string_view kActions[] = {"list", "show", "start", "watch", "cancel", "resume"};
  if (absl::c_find(kActions, action) == std::end(kActions)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown action '", action, "' (list, show, start, watch, cancel, resume)"));
  }
  PONDER_ASSIGN_OR_RETURN(orchestrator::ClientOptions options, f.client.Options());
  PONDER_ASSIGN_OR_RETURN(auto client, PonderClient::Connect(options));
  v1::Ponder::Stub& stub = client->stub();
  if (action == "list") return List(*client, f);
  if (action == "start") return Start(*client, f);
  PONDER_ASSIGN_OR_RETURN(int64_t id, ExperimentIdArgument(flags));
  if (action == "show") return Show(*client, id, f);
  if (action == "watch") return Watch(*client, id);
  if (action == "cancel") {
    return ChangeExperiment<v1::CancelExperimentRequest>(
        *client, id, [&](auto* context, const auto& request, auto* response) {
          grpc::Status status = stub.CancelExperiment(context, request, response);
          // Cancelling a stopped experiment changes nothing (service.proto): say so.
          const v1::ExperimentStatus state = response->status();
          if (status.ok() &&
              (state == v1::EXPERIMENT_STATUS_COMPLETED || state == v1::EXPERIMENT_STATUS_FAILED ||
               state == v1::EXPERIMENT_STATUS_INTERRUPTED)) {
            std::fprintf(stderr,
                         "ponder experiments: experiment %lld was already %s; nothing to cancel\n",
                         static_cast<long long>(id), StatusName(state).c_str());
          }
          return status;
        });
  }
  return ChangeExperiment<v1::ResumeExperimentRequest>(  // "resume", the last action left
      *client, id, [&](auto* context, const auto& request, auto* response) {
        return stub.ResumeExperiment(context, request, response);
      });
}

int RunExperiments(std::span<char* const> args) {
  return ReportStatus("experiments", Experiments(args));
}

}  // namespace

PONDER_REGISTER_COMMAND("experiments", "list, show, start, watch, cancel, resume experiments",
                        RunExperiments);

}  // namespace ponder::cli
