// Runs the built `ponderd` (or `ponder`) as a child process for end-to-end tests: fork + exec,
// the address read from its "listening on" line, signals, exit status.
#ifndef PONDER_TESTS_ORCHESTRATOR_PONDERD_PROCESS_H_
#define PONDER_TESTS_ORCHESTRATOR_PONDERD_PROCESS_H_

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace ponder::orchestrator::testing {

inline std::string BinaryPath(std::string_view name) {
  return absl::StrCat(PONDER_BINARY_DIR, "/bin/", std::string(name));
}

class ChildProcess {
 public:
  ChildProcess() = default;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      Wait();
    }
    if (stdout_fd_ >= 0) close(stdout_fd_);
  }

  // Starts `binary` with `args`; stdout comes back through a pipe, stderr goes to `stderr_path`.
  bool Start(const std::string& binary, const std::vector<std::string>& args,
             const std::string& stderr_path) {
    std::vector<std::string> all = {binary};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    int fds[2];
    if (pipe(fds) != 0) return false;
    const int err = open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    pid_ = fork();
    if (pid_ == 0) {  // the child: only async-signal-safe calls until exec
      dup2(fds[1], STDOUT_FILENO);
      if (err >= 0) dup2(err, STDERR_FILENO);
      close(fds[0]);
      execv(binary.c_str(), argv.data());
      _exit(127);
    }
    close(fds[1]);
    if (err >= 0) close(err);
    stdout_fd_ = fds[0];
    return pid_ > 0;
  }

  // Reads stdout until a line contains `marker` (or the process closes it / time runs out);
  // returns that line, or "" on failure.
  std::string WaitForLine(std::string_view marker, absl::Duration timeout = absl::Seconds(60)) {
    const absl::Time give_up = absl::Now() + timeout;
    while (absl::Now() < give_up) {
      size_t newline;
      while ((newline = buffer_.find('\n')) != std::string::npos) {
        std::string line = buffer_.substr(0, newline);
        buffer_.erase(0, newline + 1);
        output_ += line + "\n";
        if (line.find(marker) != std::string::npos) return line;
      }
      pollfd fd = {stdout_fd_, POLLIN, 0};
      if (poll(&fd, 1, 100) <= 0) continue;
      char chunk[4096];
      const ssize_t got = read(stdout_fd_, chunk, sizeof(chunk));
      if (got <= 0) return "";
      buffer_.append(chunk, static_cast<size_t>(got));
    }
    return "";
  }

  // The rest of stdout, until the process closes it.
  std::string ReadAll() {
    char chunk[4096];
    ssize_t got;
    while ((got = read(stdout_fd_, chunk, sizeof(chunk))) > 0) {
      buffer_.append(chunk, static_cast<size_t>(got));
    }
    output_ += buffer_;
    buffer_.clear();
    return output_;
  }

  void Signal(int signal_number) {
    if (pid_ > 0) kill(pid_, signal_number);
  }

  // Waits for the process; its exit code, 128 + signal when killed, -1 on timeout.
  int Wait(absl::Duration timeout = absl::Seconds(30)) {
    if (pid_ <= 0) return exit_code_;
    const absl::Time give_up = absl::Now() + timeout;
    int status = 0;
    while (true) {
      pid_t done = waitpid(pid_, &status, WNOHANG);
      if (done == pid_) break;
      if (absl::Now() > give_up) return -1;
      absl::SleepFor(absl::Milliseconds(5));
    }
    pid_ = -1;
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return exit_code_;
  }

  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  int exit_code_ = -1;
  std::string buffer_;
  std::string output_;
};

}  // namespace ponder::orchestrator::testing

#endif  // PONDER_TESTS_ORCHESTRATOR_PONDERD_PROCESS_H_
