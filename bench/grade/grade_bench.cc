// grade_bench: grades 100,000 (response, reference) pairs per format on one thread and prints
// pairs per second, beside a naive baseline measured in the same run: the last `\boxed{}` or
// `####` (or for GSM8K the last number) compared with the reference as trimmed strings.
//
// The pairs are synthetic but shaped like real ones: GSM8K-style reasoning of a few hundred
// characters with calculator annotations, and MATH-style LaTeX solutions of about a kilobyte
// ending in a boxed answer, half of them correct in a different notation than the reference.
//
//   grade_bench [--pairs N] [--repeats R]   (--help describes them)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/flags.h"
#include "verifiers/grading/grader.h"

namespace {

using ponder::verifiers::AnswerFormat;

struct Pair {
  std::string response;
  std::string reference;
};

// reference, an equivalent answer in another notation, a wrong answer
struct MathAnswerVariants {
  const char* reference;
  const char* equivalent;
  const char* wrong;
};

const MathAnswerVariants kMathAnswers[] = {
    {R"(\frac{1}{2})", R"(\dfrac12)", R"(\frac{1}{3})"},
    {R"(2\sqrt{3})", R"(\sqrt{12})", R"(3\sqrt{2})"},
    {R"(\left( 3, \frac{\pi}{2} \right))", R"((3,\frac{\pi}{2}))", R"((3, \pi))"},
    {"[-2, 5)", R"(\left[-2,5\right))", "(-2,5)"},
    {R"((-\infty,-7) \cup (1,2))", R"((-\infty, -7)\cup(1,2))", R"((-\infty,-7]\cup(1,2))"},
    {R"(\begin{pmatrix} 1/5 \\ -3/5 \end{pmatrix})", R"(\begin{pmatrix} 0.2 \\ -0.6 \end{pmatrix})",
     R"(\begin{pmatrix} 1/5 \\ 3/5 \end{pmatrix})"},
    {"x^2+7x+10", "(x+5)(x+2)", "(x+5)(x+3)"},
    {R"(\text{(C)})", "C", "D"},
    {R"(10\%)", "10", "20"},
    {R"(3 \pm 2\sqrt{2})", R"(3+2\sqrt{2}, 3-2\sqrt{2})", R"(3+2\sqrt2)"},
    {"-12 + 15i", "15i - 12", "12+15i"},
    {R"(135\text{ square feet})", "135", "136"},
    {R"(\$18.90)", "18.90", "18.09"},
    {R"(75,\!075)", "75075", "75,057"},
    {"y = 2x + 3", "2x+3", "2x-3"},
    {R"(\frac{\sqrt{6}}{3})", R"(\sqrt{\frac{2}{3}})", R"(\frac{\sqrt{6}}{2})"},
    {"4, -2 + 3i, -2 - 3i", "-2+3i, -2-3i, 4", "4, -2+3i"},
    {R"(90^\circ)", "90", "45"},
    {R"(\text{Evelyn})", "evelyn", "Devon"},
    {"2^{10}", "1024", "1023"},
    {"11", "11", "12"},
    {"-5", "-5", "5"},
    {"0.25", R"(\frac14)", "0.52"},
    {R"(\frac{14}{3})", R"(\frac{28}{6})", R"(\frac{13}{3})"},
};

const char* kMathSentences[] = {
    R"(We have that $r = \sqrt{0^2 + 3^2} = 3.$ )",
    R"(Completing the square, we get $f(x) = (x-4)^2 - 1$, so the vertex is $(4, -1)$. )",
    R"(By Vieta's formulas, $a + b + c = -\frac{p}{q}$ and $abc = \frac{r}{q}$. )",
    R"(\begin{align*} \frac{x^2 - 1}{x - 1} &= x + 1 \\ &= \left( \sqrt{x} \right)^2 + 1. \end{align*} )",
    R"(Since $25 < 30 < 36$, we have $5 < \sqrt{30} < 6$. )",
    R"(The denominator factors as $x^2+x-6=(x-2)(x+3)$. )",
    R"(Thus the probability is $\binom{5}{2} \cdot \left(\frac{1}{2}\right)^5$. )",
    R"(Multiplying both sides by $2$, we find $2y = 4x + 6$. )",
};

const char* kGsm8kSentences[] = {
    "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day. ",
    "She makes 9 * 2 = $<<9*2=18>>18 every day at the farmer's market. ",
    "It takes 2/2=<<2/2=1>>1 bolt of white fiber. ",
    "The house cost 80,000+50,000=$<<80000+50000=130000>>130,000. ",
    "He runs 3*3=<<3*3=9>>9 sprints a week, so 9*60=<<9*60=540>>540 meters. ",
    "The total is 12.50 + 7.25 = <<12.50+7.25=19.75>>19.75 dollars. ",
};

std::string WithThousands(long long value) {
  std::string digits = std::to_string(value < 0 ? -value : value);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return (value < 0 ? "-" : "") + out;
}

std::vector<Pair> MakeGsm8kPairs(int count, std::mt19937_64& rng) {
  std::vector<Pair> pairs;
  pairs.reserve(count);
  for (int i = 0; i < count; ++i) {
    long long answer = static_cast<long long>(rng() % 200000) - 1000;
    bool correct = rng() % 2 == 0;
    long long given = correct ? answer : answer + 1 + static_cast<long long>(rng() % 50);
    std::string response;
    int sentences = 4 + static_cast<int>(rng() % 5);
    for (int s = 0; s < sentences; ++s)
      response += kGsm8kSentences[rng() % std::size(kGsm8kSentences)];
    switch (rng() % 4) {
      case 0:
        response += "\n#### " + WithThousands(given);
        break;
      case 1:
        response += "The answer is $" + WithThousands(given) + ".";
        break;
      case 2:
        response += "So the total is \\boxed{" + std::to_string(given) + "}.";
        break;
      default:
        response += "In the end she has " + std::to_string(given) + " dollars left.";
    }
    pairs.push_back(
        {std::move(response), rng() % 3 == 0 ? WithThousands(answer) : std::to_string(answer)});
  }
  return pairs;
}

std::vector<Pair> MakeMathPairs(int count, std::mt19937_64& rng) {
  std::vector<Pair> pairs;
  pairs.reserve(count);
  for (int i = 0; i < count; ++i) {
    const MathAnswerVariants& answer = kMathAnswers[rng() % std::size(kMathAnswers)];
    std::string response;
    int sentences = 5 + static_cast<int>(rng() % 6);
    for (int s = 0; s < sentences; ++s)
      response += kMathSentences[rng() % std::size(kMathSentences)];
    const char* given = rng() % 2 == 0 ? answer.equivalent : answer.wrong;
    response += "Therefore, the answer is $\\boxed{" + std::string(given) + "}$.";
    pairs.push_back({std::move(response), answer.reference});
  }
  return pairs;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '.')) s.remove_suffix(1);
  return s;
}

// The baseline: the last box or #### (GSM8K: else the last digit run), trimmed, compared as
// strings.
bool NaiveGrade(std::string_view response, std::string_view reference, AnswerFormat format) {
  std::string_view answer;
  size_t box = response.rfind("\\boxed{");
  size_t hash = response.rfind("####");
  if (box != std::string_view::npos) {
    int depth = 0;
    for (size_t i = box + 6; i < response.size(); ++i) {
      if (response[i] == '{') ++depth;
      if (response[i] == '}' && --depth == 0) {
        answer = response.substr(box + 7, i - box - 7);
        break;
      }
    }
  } else if (hash != std::string_view::npos) {
    answer = response.substr(hash + 4);
  } else if (format == AnswerFormat::kGsm8k) {
    size_t end = response.find_last_of("0123456789");
    if (end == std::string_view::npos) return false;
    size_t start = response.find_last_not_of("0123456789", end);
    answer = response.substr(start == std::string_view::npos ? 0 : start + 1, end - start);
  }
  return Trim(answer) == Trim(reference);
}

struct Measurement {
  double pairs_per_second = 0;
  int correct = 0;
};

template <typename GradeFn>
Measurement Measure(const std::vector<Pair>& pairs, int repeats, GradeFn grade) {
  Measurement best;
  for (int r = 0; r < repeats; ++r) {
    int correct = 0;
    auto start = std::chrono::steady_clock::now();
    for (const Pair& pair : pairs) correct += grade(pair) ? 1 : 0;
    std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
    best.pairs_per_second = std::max(best.pairs_per_second, pairs.size() / elapsed.count());
    best.correct = correct;
  }
  return best;
}

}  // namespace

int Main(int argc, char** argv) {
  int count = 100000;
  int repeats = 3;
  ponder::FlagParser flags("grade_bench [--pairs N] [--repeats R]");
  flags.AddInt("pairs", &count, "(response, reference) pairs per format (default 100000)");
  flags.AddInt("repeats", &repeats, "runs of each, the best reported (default 3)");
  absl::Status parsed =
      flags.Parse(std::span<char* const>(argv + 1, static_cast<size_t>(argc - 1)));
  if (parsed.ok()) parsed = ponder::CheckFlagRange("pairs", count, 1, 100000000);
  if (parsed.ok()) parsed = ponder::CheckFlagRange("repeats", repeats, 1, 1000);
  if (!parsed.ok()) return ponder::ExitCodeFor("grade_bench", parsed);
  std::mt19937_64 rng(20240601);
  std::printf("grade_bench: %d pairs per format, one thread, best of %d runs\n", count, repeats);
  std::printf("%-6s %16s %16s %10s %14s %14s\n", "format", "grader pairs/s", "naive pairs/s",
              "slowdown", "grader correct", "naive correct");
  for (AnswerFormat format : {AnswerFormat::kGsm8k, AnswerFormat::kMath}) {
    std::vector<Pair> pairs =
        format == AnswerFormat::kGsm8k ? MakeGsm8kPairs(count, rng) : MakeMathPairs(count, rng);
    Measurement grader = Measure(pairs, repeats, [format](const Pair& pair) {
      return ponder::verifiers::Grade(pair.response, pair.reference, format).correct;
    });
    Measurement naive = Measure(pairs, repeats, [format](const Pair& pair) {
      return NaiveGrade(pair.response, pair.reference, format);
    });
    std::printf("%-6s %16.0f %16.0f %9.1fx %14d %14d\n",
                std::string(ponder::verifiers::AnswerFormatName(format)).c_str(),
                grader.pairs_per_second, naive.pairs_per_second,
                naive.pairs_per_second / grader.pairs_per_second, grader.correct, naive.correct);
  }
  std::printf(
      "(about half the pairs are correct; the naive baseline misses every correct answer\n"
      " written in another notation than its reference)\n");
  return 0;
}

int main(int argc, char** argv) { return Main(argc, argv); }
