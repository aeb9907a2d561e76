// Helpers shared by the code sandbox tests.
#ifndef PONDER_TESTS_VERIFIERS_CODE_SANDBOX_TEST_UTIL_H_
#define PONDER_TESTS_VERIFIERS_CODE_SANDBOX_TEST_UTIL_H_

#include <arpa/inet.h>
#include <errno.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "verifiers/code/code_verifier.h"

namespace ponder::verifiers::testing {

// Each test binary (and, in the attack suite, each test) uses its own uid range, so that host-side
// checks such as "no process of the slot uid is left" see only that test's processes even when
// CTest runs tests in parallel. Ranges used: 61000.. unit tests, 61100.. layers, 61200.. attacks,
// 61300.. verifiers and pool, 61400.. datasets, 61500.. CLI.
inline SandboxConfig TestConfig(uid_t uid_base, int slot_count = 1) {
  SandboxConfig config;
  config.uid_base = uid_base;
  config.slot_count = slot_count;
  return config;
}

// A run's status as text, with the detail, for assertion messages.
inline std::string Describe(const CodeRunResult& result) {
  return std::string(CodeRunStatusName(result.status)) + " " + std::to_string(result.tests_passed) +
         "/" + std::to_string(result.tests_total) + ": " + result.detail + "\n--- stderr ---\n" +
         result.stderr_text.substr(0, 2000);
}

// A TCP listener on the host's 127.0.0.1 that a sandboxed program must not reach.
class LoopbackListener {
 public:
  LoopbackListener() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    sockaddr_in address = {};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
        listen(fd_, 8) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      ADD_FAILURE() << "cannot listen on 127.0.0.1: " << errno;
      return;
    }
    port_ = ntohs(address.sin_port);
  }
  ~LoopbackListener() {
    if (fd_ >= 0) close(fd_);
  }
  LoopbackListener(const LoopbackListener&) = delete;
  LoopbackListener& operator=(const LoopbackListener&) = delete;

  int port() const { return port_; }
  // Whether anything connected (a pending connection is accepted and closed).
  bool GotConnection() const {
    int connection = accept(fd_, nullptr, nullptr);
    if (connection < 0) return errno != EAGAIN && errno != EWOULDBLOCK;
    close(connection);
    return true;
  }

 private:
  int fd_ = -1;
  int port_ = 0;
};

}  // namespace ponder::verifiers::testing

// Skips the test, printing why, when a sandbox layer cannot be set up on this host. A skipped
// attack test is reported as skipped, never as passed.
#define PONDER_REQUIRE_SANDBOX(sandbox)                                    \
  do {                                                                     \
    const absl::Status ponder_sandbox_status = (sandbox).CheckAvailable(); \
    if (!ponder_sandbox_status.ok()) {                                     \
      GTEST_SKIP() << "code sandbox unavailable on this host: "            \
                   << std::string(ponder_sandbox_status.message());        \
    }                                                                      \
  } while (0)

namespace ponder::verifiers::testing {

// A fixture with a sandbox over its own uid range, skipping when the sandbox is unavailable.
template <uid_t kUidBase, int kSlots>
class SandboxFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    sandbox_ = std::make_unique<CodeSandbox>(TestConfig(kUidBase, kSlots));
    PONDER_REQUIRE_SANDBOX(*sandbox_);
  }
  std::unique_ptr<CodeSandbox> sandbox_;
};

}  // namespace ponder::verifiers::testing

#endif  // PONDER_TESTS_VERIFIERS_CODE_SANDBOX_TEST_UTIL_H_
