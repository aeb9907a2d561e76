// The nonce verdict protocol and the judging of a finished launch, without a sandbox.
#include "verifiers/code/verdict_protocol.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <set>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace ponder::verifiers::sandbox {
namespace {

constexpr char kNonce[] = "0123456789abcdef0123456789abcdef";

std::string Line(std::string_view json) {
  return std::string(kNonce) + " " + std::string(json) + "\n";
}

// A reader fed a typical stream: start, plan of `total`, the given test verdicts, done.
std::string TestsStream(int total, const std::vector<bool>& passed, bool done = true) {
  std::string stream = Line(R"({"event":"start","pid":7})");
  stream += Line(absl::StrCat(R"({"event":"plan","tests_total":)", total, R"(,"pid":7})"));
  for (size_t i = 0; i < passed.size(); ++i) {
    stream += Line(absl::StrCat(R"({"event":"test","index":)", i, R"(,"passed":)",
                                passed[i] ? "true" : "false",
                                R"(,"detail":"assert f(x) -> no","pid":7})"));
  }
  if (done) stream += Line(R"({"event":"done","pid":7})");
  return stream;
}

CodeRunRequest TestsRequest() {
  CodeRunRequest request;
  request.program = "def f(x): return x";
  request.test_code = "assert f(1) == 1";
  return request;
}

LaunchOutcome StartedOutcome() {
  LaunchOutcome outcome;
  outcome.child_started = true;
  outcome.exit_code = 0;
  return outcome;
}

TEST(VerdictReaderTest, AcceptsACompleteStreamFedByteByByte) {
  VerdictReader reader(kNonce);
  for (char c : TestsStream(2, {true, false})) reader.OnData(std::string_view(&c, 1));
  EXPECT_TRUE(reader.started());
  EXPECT_TRUE(reader.done());
  EXPECT_TRUE(reader.violation().empty()) << reader.violation();
  EXPECT_EQ(reader.tests_total(), 2);
  ASSERT_EQ(reader.tests().size(), 2u);
  EXPECT_TRUE(reader.tests().at(0).passed);
  EXPECT_FALSE(reader.tests().at(1).passed);
}

TEST(VerdictReaderTest, KeepsThePeakMemoryTheDriverReported) {
  VerdictReader reader(kNonce);
  reader.OnData(TestsStream(1, {true}, false) +
                Line(R"({"event":"done","peak_rss_kb":2048,"pid":7})"));
  EXPECT_TRUE(reader.done());
  EXPECT_EQ(reader.reported_peak_rss_bytes(), 2048 * 1024);
}

TEST(VerdictReaderTest, AFakeVerdictWithoutTheNonceIsAViolation) {
  VerdictReader reader(kNonce);
  reader.OnData(Line(R"({"event":"start","pid":7})"));
  reader.OnData("all tests passed\n");
  EXPECT_FALSE(reader.done());
  EXPECT_TRUE(reader.Complete());  // nothing more is worth waiting for
  EXPECT_NE(reader.violation().find("without the run's nonce"), std::string::npos);
}

TEST(VerdictReaderTest, AGuessedNonceIsAViolation) {
  VerdictReader reader(kNonce);
  reader.OnData(Line(R"({"event":"start","pid":7})"));
  reader.OnData(R"(ffffffffffffffffffffffffffffffff {"event":"done","pid":7})"
                "\n");
  EXPECT_FALSE(reader.done());
  EXPECT_FALSE(reader.violation().empty());
}

TEST(VerdictReaderTest, EventsFromAnotherProcessAreAViolation) {
  VerdictReader reader(kNonce);
  reader.OnData(TestsStream(1, {}, false));
  reader.OnData(Line(R"({"event":"test","index":0,"passed":true,"pid":8})"));
  EXPECT_NE(reader.violation().find("pid 8"), std::string::npos) << reader.violation();
}

TEST(VerdictReaderTest, ProtocolOrderIsEnforced) {
  struct Case {
    const char* name;
    std::string stream;
  } const cases[] = {
      {"done before every test", TestsStream(2, {true})},
      {"a second verdict for one test",
       TestsStream(2, {true}, false) + Line(R"({"event":"test","index":0,"passed":true,"pid":7})")},
      {"index outside the plan",
       TestsStream(1, {}, false) + Line(R"({"event":"test","index":5,"passed":true,"pid":7})")},
      {"test before the plan", Line(R"({"event":"start","pid":7})") +
                                   Line(R"({"event":"test","index":0,"passed":true,"pid":7})")},
      {"done before start", Line(R"({"event":"done","pid":7})")},
      {"not json", Line(R"({"event":"start","pid":7})") + Line("{not json")},
      {"unknown event", Line(R"({"event":"start","pid":7})") + Line(R"({"event":"x","pid":7})")},
      {"bad base64",
       TestsStream(1, {}, false) +
           Line(
               R"({"event":"case","index":0,"exit_code":0,"stdout":"@@","output_exceeded":false,"pid":7})")},
  };
  for (const Case& c : cases) {
    VerdictReader reader(kNonce);
    reader.OnData(c.stream);
    EXPECT_FALSE(reader.violation().empty()) << c.name;
    EXPECT_FALSE(reader.done()) << c.name;
  }
}

TEST(JudgeRunTest, AllTestsPassedIsAPass) {
  VerdictReader reader(kNonce);
  reader.OnData(TestsStream(2, {true, true}));
  CodeRunResult result = JudgeRun(TestsRequest(), StartedOutcome(), reader);
  EXPECT_EQ(result.status, CodeRunStatus::kPassed);
  EXPECT_EQ(result.tests_passed, 2);
  EXPECT_EQ(result.tests_total, 2);
}

TEST(JudgeRunTest, OneFailingTestFailsAndIsNamed) {
  VerdictReader reader(kNonce);
  reader.OnData(TestsStream(3, {true, false, true}));
  CodeRunResult result = JudgeRun(TestsRequest(), StartedOutcome(), reader);
  EXPECT_EQ(result.status, CodeRunStatus::kFailed);
  EXPECT_EQ(result.tests_passed, 2);
  EXPECT_EQ(result.test_verdicts, (std::vector<bool>{true, false, true}));
  EXPECT_EQ(result.detail, "test 1 failed: assert f(x) -> no");
}

// No verdict of a tampered channel counts or is kept, not even those before the tampering: a
// forged verdict may come first, and the genuine one for the same test is then the violation.
TEST(JudgeRunTest, TamperingIsAnErrorEvenWithPassingVerdicts) {
  VerdictReader reader(kNonce);
  reader.OnData(TestsStream(2, {true}, false) + "garbage\n");
  CodeRunResult result = JudgeRun(TestsRequest(), StartedOutcome(), reader);
  EXPECT_EQ(result.status, CodeRunStatus::kError);
  EXPECT_NE(result.detail.find("tampered"), std::string::npos);
  EXPECT_EQ(result.tests_passed, 0);
  EXPECT_TRUE(result.test_verdicts.empty());
}

TEST(JudgeRunTest, NoStartMeansTheSandboxIsUnavailable) {
  VerdictReader reader(kNonce);
  LaunchOutcome not_created;
  not_created.stderr_text = "bwrap: No permissions to creating new namespace\n";
  CodeRunResult result = JudgeRun(TestsRequest(), not_created, reader);
  EXPECT_EQ(result.status, CodeRunStatus::kSandboxUnavailable);
  EXPECT_NE(result.detail.find("No permissions"), std::string::npos);

  // bubblewrap reports no exit code when its own setup failed.
  LaunchOutcome exec_failed = StartedOutcome();
  exec_failed.exit_code = -1;
  exec_failed.stderr_text = "bwrap: execvp /usr/bin/python3: No such file or directory\n";
  result = JudgeRun(TestsRequest(), exec_failed, reader);
  EXPECT_EQ(result.status, CodeRunStatus::kSandboxUnavailable);
  EXPECT_NE(result.detail.find("execvp"), std::string::npos);
  EXPECT_NE(result.detail.find("could not set up"), std::string::npos);

  LaunchOutcome driver_died = StartedOutcome();
  driver_died.exit_code = 1;
  result = JudgeRun(TestsRequest(), driver_died, reader);
  EXPECT_EQ(result.status, CodeRunStatus::kSandboxUnavailable);
  EXPECT_NE(result.detail.find("driver did not report"), std::string::npos);
}

// The timeout includes the start-up; a run that used it up starting is the run's timeout.
TEST(JudgeRunTest, TimeoutBeforeTheDriverStartedIsATimeout) {
  VerdictReader reader(kNonce);
  for (const bool child_started : {false, true}) {
    LaunchOutcome outcome = StartedOutcome();
    outcome.child_started = child_started;
    outcome.timed_out = true;
    CodeRunResult result = JudgeRun(TestsRequest(), outcome, reader);
    EXPECT_EQ(result.status, CodeRunStatus::kTimeout) << "child started " << child_started;
    EXPECT_NE(result.detail.find("while the sandbox and the interpreter were starting"),
              std::string::npos)
        << result.detail;
  }
}

TEST(JudgeRunTest, TimeoutKeepsTheTestsReportedSoFar) {
  VerdictReader reader(kNonce);
  reader.OnData(TestsStream(3, {true, true}, false));
  LaunchOutcome outcome = StartedOutcome();
  outcome.timed_out = true;
  outcome.exit_code = 128 + SIGKILL;
  CodeRunResult result = JudgeRun(TestsRequest(), outcome, reader);
  EXPECT_EQ(result.status, CodeRunStatus::kTimeout);
  EXPECT_EQ(result.tests_passed, 2);
  EXPECT_EQ(result.tests_total, 3);
  EXPECT_EQ(result.test_verdicts, (std::vector<bool>{true, true}));
}

TEST(JudgeRunTest, CpuLimitKillIsATimeoutOtherKillsAreErrors) {
  VerdictReader reader(kNonce);
  reader.OnData(TestsStream(1, {}, false));
  CodeRunRequest request = TestsRequest();
  request.limits.cpu_seconds = 2;
  LaunchOutcome outcome = StartedOutcome();
  outcome.exit_code = 128 + SIGKILL;
  outcome.cost.cpu_seconds = 2.01;
  EXPECT_EQ(JudgeRun(request, outcome, reader).status, CodeRunStatus::kTimeout);
  outcome.cost.cpu_seconds = 0.1;
  CodeRunResult killed = JudgeRun(request, outcome, reader);
  EXPECT_EQ(killed.status, CodeRunStatus::kError);
  EXPECT_NE(killed.detail.find("signal 9 (SIGKILL)"), std::string::npos) << killed.detail;
}

// Also where every test reported before the host read the excess: whether the driver wins that
// race must not decide the verdict.
TEST(JudgeRunTest, OutputCapIsAnError) {
  for (const bool done : {false, true}) {
    VerdictReader reader(kNonce);
    reader.OnData(TestsStream(1, done ? std::vector<bool>{true} : std::vector<bool>{}, done));
    LaunchOutcome outcome = StartedOutcome();
    outcome.output_exceeded = true;
    CodeRunResult result = JudgeRun(TestsRequest(), outcome, reader);
    EXPECT_EQ(result.status, CodeRunStatus::kError) << "done " << done;
    EXPECT_NE(result.detail.find("printed more than"), std::string::npos) << "done " << done;
    EXPECT_EQ(result.tests_passed, done ? 1 : 0);
  }
}

TEST(JudgeRunTest, ProgramFailureFailsEveryTest) {
  VerdictReader reader(kNonce);
  reader.OnData(TestsStream(4, {}, false) +
                Line(R"({"event":"program_failed","detail":"MemoryError","pid":7})") +
                Line(R"({"event":"done","pid":7})"));
  CodeRunResult result = JudgeRun(TestsRequest(), StartedOutcome(), reader);
  EXPECT_EQ(result.status, CodeRunStatus::kFailed);
  EXPECT_EQ(result.tests_passed, 0);
  EXPECT_EQ(result.tests_total, 4);
  EXPECT_NE(result.detail.find("MemoryError"), std::string::npos);
}

std::string CaseLine(int index, int exit_code, std::string_view output, bool exceeded = false) {
  return Line(absl::StrCat(R"({"event":"case","index":)", index, R"(,"exit_code":)", exit_code,
                           R"(,"stdout":")",
                           absl::Base64Escape(absl::string_view(output.data(), output.size())),
                           R"(","stderr":"Traceback: boom","output_exceeded":)",
                           exceeded ? "true" : "false", R"(,"pid":7})"));
}

TEST(JudgeRunTest, InputOutputCasesAreComparedHere) {
  CodeRunRequest request =
      IoCaseRequest("print(input())", {{"1", "1\n"}, {"2", "2"}, {"3", "3"}, {"4", "4"}});
  VerdictReader reader(kNonce);
  reader.OnData(Line(R"({"event":"start","pid":7})") +
                Line(R"({"event":"plan","tests_total":4,"pid":7})") + CaseLine(0, 0, "1  \r\n\n") +
                CaseLine(1, 0, "two\n") + CaseLine(2, 1, "3\n") + CaseLine(3, 0, "4", true) +
                Line(R"({"event":"done","pid":7})"));
  CodeRunResult result = JudgeRun(request, StartedOutcome(), reader);
  EXPECT_EQ(result.status, CodeRunStatus::kFailed);
  EXPECT_EQ(result.tests_passed, 1);
  EXPECT_EQ(result.tests_total, 4);
  EXPECT_EQ(result.detail, R"(case 1: expected "2", got "two\n")");
}

TEST(JudgeRunTest, ProgramOfThoughtComparesTheLastPrintedLine) {
  VerdictReader reader(kNonce);
  reader.OnData(Line(R"({"event":"start","pid":7})") +
                Line(R"({"event":"plan","tests_total":1,"pid":7})") +
                CaseLine(0, 0, "working...\n18.0\n") + Line(R"({"event":"done","pid":7})"));
  EXPECT_EQ(JudgeRun(ProgramOfThoughtRequest("print(18)", "18"), StartedOutcome(), reader).status,
            CodeRunStatus::kPassed);
  CodeRunResult disagree =
      JudgeRun(ProgramOfThoughtRequest("print(18)", "17"), StartedOutcome(), reader);
  EXPECT_EQ(disagree.status, CodeRunStatus::kFailed);
  EXPECT_NE(disagree.detail.find(R"(printed "18.0")"), std::string::npos) << disagree.detail;
}

TEST(NonceTest, IsFreshHexOfOneHundredTwentyEightBits) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    std::string nonce = NewNonce();
    EXPECT_EQ(nonce.size(), 32u);
    EXPECT_EQ(nonce.find_first_not_of("0123456789abcdef"), std::string::npos);
    seen.insert(nonce);
  }
  EXPECT_EQ(seen.size(), 100u);
}

}  // namespace
}  // namespace ponder::verifiers::sandbox
