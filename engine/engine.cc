#include "engine/engine.h"

#include <thread>

namespace ponder::engine {

std::string_view FinishReasonName(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kEos:
      return "eos";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kCancelled:
      return "cancelled";
  }
  return "?";
}

namespace {

template <typename Request, typename Result, typename Fn>
std::vector<absl::StatusOr<Result>> RunConcurrently(std::span<const Request> requests, Fn fn) {
  std::vector<absl::StatusOr<Result>> results(requests.size(), absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  threads.reserve(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = fn(requests[i]); });
  }
  for (std::thread& thread : threads) thread.join();
  return results;
}

}  // namespace

std::vector<absl::StatusOr<GenerateResult>> Engine::GenerateMany(
    std::span<const GenerateRequest> requests) {
  return RunConcurrently<GenerateRequest, GenerateResult>(
      requests, [this](const GenerateRequest& r) { return Generate(r); });
}

std::vector<absl::StatusOr<ScoreResult>> Engine::ScoreMany(std::span<const ScoreRequest> requests) {
  return RunConcurrently<ScoreRequest, ScoreResult>(
      requests, [this](const ScoreRequest& r) { return Score(r); });
}

}  // namespace ponder::engine
