// A scripted stand-in for the policy, for unit tests of strategy logic: one token per byte, and
// each completion's text comes from a script given the context (prompt + partial solution),
// the request's seed and the completion index. Real-engine behaviour is tested separately
// (integration_test.cc).
#ifndef PONDER_TESTS_SAMPLERS_SCRIPTED_ENGINE_H_
#define PONDER_TESTS_SAMPLERS_SCRIPTED_ENGINE_H_

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "engine/engine.h"

namespace ponder::samplers::testing {

class ScriptedEngine : public engine::Engine {
 public:
  // Returns the text the model "writes" after `context`; a trailing "<eos>" ends the generation.
  using Script = std::function<std::string(const std::string& context, uint64_t seed, int index)>;
  explicit ScriptedEngine(Script script) : script_(std::move(script)) {}

  // Mean token log-prob reported for a given completion text (default -0.1 per token).
  std::map<std::string, double> mean_logprob;
  std::atomic<int> calls = 0;
  // Each request's sampling temperature, in the order they came (strategies generate from several
  // threads at once: read it after the solve).
  std::vector<double> temperatures;

  absl::StatusOr<engine::GenerateResult> Generate(const engine::GenerateRequest& request) override {
    ++calls;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      temperatures.push_back(request.sampling.temperature);
    }
    if (request.cancel != nullptr && request.cancel->cancelled()) {
      engine::GenerateResult cancelled;
      cancelled.completions.resize(request.n);
      for (auto& c : cancelled.completions) c.finish_reason = engine::FinishReason::kCancelled;
      return cancelled;
    }
    std::string context(request.prompt_tokens.begin(), request.prompt_tokens.end());
    engine::GenerateResult result;
    result.prompt_tokens = static_cast<int64_t>(request.prompt_tokens.size());
    for (int i = 0; i < request.n; ++i) {
      std::string text = script_(context, request.sampling.seed, i);
      engine::Completion c;
      c.index = i;
      c.finish_reason = engine::FinishReason::kLength;
      if (size_t eos = text.find("<eos>"); eos != std::string::npos) {
        text.resize(eos);
        c.finish_reason = engine::FinishReason::kEos;
      }
      for (const std::string& stop : request.stop) {
        size_t at = text.find(stop);
        if (at != std::string::npos) {
          text.resize(at + (request.include_stop_string ? stop.size() : 0));
          c.finish_reason = engine::FinishReason::kStop;
          c.stop_string = stop;
        }
      }
      if (static_cast<int>(text.size()) > request.max_tokens) {
        text.resize(request.max_tokens);
        c.finish_reason = engine::FinishReason::kLength;
      }
      c.text = text;
      c.tokens.assign(text.begin(), text.end());
      if (c.finish_reason == engine::FinishReason::kEos) c.tokens.push_back(0);  // the EOS token
      double mean = mean_logprob.count(text) ? mean_logprob.at(text) : -0.1;
      c.logprobs.assign(c.tokens.size(), static_cast<float>(mean));
      c.cumulative_logprob = mean * static_cast<double>(c.tokens.size());
      result.completions.push_back(std::move(c));
    }
    return result;
  }
  absl::StatusOr<engine::ScoreResult> Score(const engine::ScoreRequest&) override {
    return absl::UnimplementedError("scripted engine does not score");
  }
  absl::StatusOr<std::vector<int32_t>> Tokenize(std::string_view text, bool) const override {
    return std::vector<int32_t>(text.begin(), text.end());
  }
  std::string Detokenize(const std::vector<int32_t>& tokens) const override {
    return std::string(tokens.begin(), tokens.end());
  }
  absl::StatusOr<std::string> ApplyChatTemplate(const std::vector<Message>& messages,
                                                bool) const override {
    std::string out;
    for (const Message& m : messages) out += m.content;
    return out;
  }
  std::optional<int32_t> TokenId(std::string_view) const override { return std::nullopt; }
  engine::EngineStats Stats() const override { return {}; }
  engine::ModelInfo Info() const override { return {.path = "scripted"}; }

 private:
  Script script_;
  std::mutex mutex_;
};

}  // namespace ponder::samplers::testing

#endif  // PONDER_TESTS_SAMPLERS_SCRIPTED_ENGINE_H_
