// Docstring examples as tests (datasets/doctest_examples.h).
#include "datasets/doctest_examples.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ponder::datasets {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(ExampleAssertsTest, EachExampleWithOneOutputLineIsAnAssert) {
  constexpr char kPrompt[] = R"(from typing import List


def below_zero(operations: List[int]) -> bool:
    """ Detect whether the balance falls below zero.
    >>> below_zero([1, 2, 3])
    False
    >>> below_zero([1, 2, -4,
    ...             5])
    True
    >>> x = below_zero([])
    >>> print('a\nb')
    a
    b
    >>> below_zero(None)
    Traceback (most recent call last):
    TypeError
    >>> below_zero([-1])
    True"""
)";
  EXPECT_THAT(ExampleAsserts(kPrompt),
              ElementsAre("assert (below_zero([1, 2, 3])) == (False)",
                          "assert (below_zero([1, 2, -4,\n            5])) == (True)",
                          "assert (below_zero([-1])) == (True)"));
}

// HumanEval's other half writes its examples as calls of the function and what they give. Only
// literal arguments and values count (not definitions with "=", recurrences, prose, lowercase
// booleans, printed text), and only in the docstring (not the code after it).
TEST(ExampleAssertsTest, LinesThatCallTheFunctionAndSayItsValueAreAssertsToo) {
  constexpr char kPrompt[] = R"py(
def digits(s, n):
    """Sum the digits.
    Examples:
    digits("(1)", 2) ==> 3
    digits('a)', [1, (2)]) == [5, 6].
    digits(3, 4) ➞ True
    digits(5, 6) -> 'x'
    digits(7, 8) should return 9,
    digits(9) = {1: 2}
    digits(10)
    digits(11) is odd
    digits(12) == 13  # "because" # of reasons
    digits(n) == digits(n - 1) + 1
    digits(13) == 1 + 3 = 4
    digits(14) -> true
    digits(15) returns the sum of 1 and 5
    other(1) == 2
    >>> print(digits(16))
    sixteen
    """
    return digits(17) == 8
)py";
  EXPECT_THAT(ExampleAsserts(kPrompt, "digits"),
              ElementsAre("assert (digits(\"(1)\", 2)) == (3)",
                          "assert (digits('a)', [1, (2)])) == ([5, 6])",
                          "assert (digits(3, 4)) == (True)", "assert (digits(5, 6)) == ('x')",
                          "assert (digits(7, 8)) == (9)", "assert (digits(12)) == (13)"));
  // Without the function's name only doctests count.
  EXPECT_THAT(ExampleAsserts(kPrompt), IsEmpty());
}

TEST(ExampleAssertsTest, TextWithoutExamplesGivesNone) {
  EXPECT_THAT(ExampleAsserts("def f(x):\n    \"\"\"Returns x.\"\"\"\n", "f"), IsEmpty());
  EXPECT_THAT(ExampleAsserts(""), IsEmpty());
  EXPECT_THAT(ExampleAsserts(">>>"), IsEmpty());
}

}  // namespace
}  // namespace ponder::datasets
