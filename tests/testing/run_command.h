// Runs a shell command from a test, as a user would run a built program, and captures its exit
// code, standard output and standard error (header-only; for the CLI tests of every part).
#ifndef PONDER_TESTS_TESTING_RUN_COMMAND_H_
#define PONDER_TESTS_TESTING_RUN_COMMAND_H_

#include <gtest/gtest.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

namespace ponder::testutil {

struct CommandOutput {
  int exit_code = -1;  // -1 when the command could not run or did not exit normally
  std::string out;
  std::string err;

  std::vector<std::string> lines() const {  // `out`, line by line
    std::vector<std::string> result;
    std::istringstream stream(out);
    for (std::string line; std::getline(stream, line);) result.push_back(line);
    return result;
  }
};

// `command` runs under /bin/sh; its standard error is captured unless the command redirects it
// itself (e.g. "... 2>&1" merges it into `out`).
inline CommandOutput RunCommand(const std::string& command) {
  CommandOutput result;
  std::string err_path = ::testing::TempDir() + "run_command_XXXXXX";
  const int fd = mkstemp(err_path.data());
  if (fd < 0) return result;
  close(fd);
  FILE* pipe = popen(("{ " + command + "; } 2>" + err_path).c_str(), "r");
  if (pipe != nullptr) {
    char buffer[4096];
    for (size_t n; (n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0;)
      result.out.append(buffer, n);
    const int status = pclose(pipe);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::ifstream err(err_path);
    result.err.assign(std::istreambuf_iterator<char>(err), std::istreambuf_iterator<char>());
  }
  unlink(err_path.c_str());
  return result;
}

}  // namespace ponder::testutil

#endif  // PONDER_TESTS_TESTING_RUN_COMMAND_H_
