// Helpers shared by the orchestrator's tests: temporary paths and a tiny random model.
#ifndef PONDER_TESTS_ORCHESTRATOR_TEST_UTIL_H_
#define PONDER_TESTS_ORCHESTRATOR_TEST_UTIL_H_

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "engine/local_engine.h"
#include "engine/testing/random_model.h"

namespace ponder::orchestrator::testing {

// A fresh path under the test temp folder, unique across processes and calls.
inline std::string TempPath(std::string_view name) {
  static std::atomic<int> counter{0};
  std::string path = absl::StrCat(::testing::TempDir(), "/orchestrator_", getpid(), "_",
                                  counter.fetch_add(1), "_", std::string(name));
  std::filesystem::remove_all(path);
  return path;
}

// A tiny random GGUF model (2 layers, d 64), written once per process.
inline const std::string& TinyModelPath() {
  static const std::string path = [] {
    std::string p = TempPath("tiny.gguf");
    engine::testing::RandomModelSpec spec;
    spec.seed = 5;
    absl::Status status = engine::testing::WriteRandomGgufModel(spec, engine::DType::kF32, p);
    EXPECT_TRUE(status.ok()) << status;
    return p;
  }();
  return path;
}

inline std::unique_ptr<engine::LocalEngine> TinyEngine() {
  engine::LocalEngineOptions options;
  options.model_path = TinyModelPath();
  options.threads = 2;
  auto engine = engine::LocalEngine::Create(options);
  EXPECT_TRUE(engine.ok()) << engine.status();
  return engine.ok() ? std::move(*engine) : nullptr;
}

}  // namespace ponder::orchestrator::testing

#endif  // PONDER_TESTS_ORCHESTRATOR_TEST_UTIL_H_
