// The main function of every GoogleTest binary (ponder_add_test).
//
// CTest runs each test case as its own process, several at once (`ctest -j`), and tests keep
// their files under ::testing::TempDir(), often in a folder named after the suite. So that two
// cases of one suite running at the same time never share those files, each process gets its own
// temporary folder (TEST_TMPDIR, which TempDir() reads), removed when the process ends. The
// folder is world-writable and sticky like /tmp, since sandboxed programs under other uids read
// files from it. Set PONDER_KEEP_TEST_TMPDIR=1 to keep it for inspection.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <string>

int main(int argc, char** argv) {
  std::string dir;
  if (getenv("TEST_TMPDIR") == nullptr) {
    char pattern[] = "/tmp/ponder_test_XXXXXX";
    if (mkdtemp(pattern) == nullptr || chmod(pattern, 01777) != 0) {
      std::perror("test_main: cannot create a temporary folder under /tmp");
      return 1;
    }
    dir = pattern;
    setenv("TEST_TMPDIR", dir.c_str(), 1);
  }
  ::testing::InitGoogleTest(&argc, argv);
  const int result = RUN_ALL_TESTS();
  if (!dir.empty() && getenv("PONDER_KEEP_TEST_TMPDIR") == nullptr) {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
  return result;
}
