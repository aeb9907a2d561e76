// ScopedEnv: an environment variable set (or unset) for a scope, then restored.
#ifndef PONDER_TESTS_TESTING_SCOPED_ENV_H_
#define PONDER_TESTS_TESTING_SCOPED_ENV_H_

#include <cstdlib>
#include <optional>
#include <string>
#include <utility>

namespace ponder::testutil {

// Sets environment variable `name` to `value` (nullptr: unsets it) for its lifetime, then
// restores what was there, so that a run with the variable set for all its tests keeps it past
// each test's own.
class ScopedEnv {
 public:
  ScopedEnv(std::string name, const char* value) : name_(std::move(name)) {
    if (const char* old = std::getenv(name_.c_str()); old != nullptr) old_ = old;
    if (value == nullptr) {
      unsetenv(name_.c_str());
    } else {
      setenv(name_.c_str(), value, 1);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;
  ~ScopedEnv() {
    if (old_.has_value()) {
      setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      unsetenv(name_.c_str());
    }
  }

 private:
  std::string name_;
  std::optional<std::string> old_;
};

}  // namespace ponder::testutil

#endif  // PONDER_TESTS_TESTING_SCOPED_ENV_H_
