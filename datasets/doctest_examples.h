// The examples of a Python docstring, as tests: what a HumanEval prompt shows the model about
// the function it asks for, run by the unit_tests verifier (ponder.v1.UnitTests).
#ifndef PONDER_DATASETS_DOCTEST_EXAMPLES_H_
#define PONDER_DATASETS_DOCTEST_EXAMPLES_H_

#include <string>
#include <string_view>
#include <vector>

namespace ponder::datasets {

// The examples of `source` as asserts that a call equals its expected value read as Python:
//  * doctests: "    >>> f(1, 2)" and, on the next line, "    3" give `assert (f(1, 2)) == (3)`,
//    as doctest compares the repr printed; an expression continues on "... " lines. Left out:
//    an example without an expected output (a statement, ">>> x = g()"), one whose output
//    spans several lines, and one that expects an exception ("Traceback ...");
//  * when `function` is given, lines that start with a call of it and then say its value, as
//    half of HumanEval's prompts do: `f(3) ==> 5`, `f(3) == 5`, `f(3) => 5`, `f(3) ➞ 5`,
//    `f(3) -> 5`, `f(3) = 5`, `f(3) should return 5`, `f(3) returns 5` (a trailing '.', ',' or
//    ';' dropped).
// Trailing "# comments" are dropped. A value that is not Python (prose after an arrow, a
// recurrence such as "f(n) = f(n - 1) + 1") makes a test that fails for every program, which
// lowers every candidate's score alike.
std::vector<std::string> ExampleAsserts(std::string_view source, std::string_view function = {});

}  // namespace ponder::datasets

#endif  // PONDER_DATASETS_DOCTEST_EXAMPLES_H_
