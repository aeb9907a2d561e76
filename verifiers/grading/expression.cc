#include "verifiers/grading/expression.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <complex>
#include <cstdint>
#include <numbers>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "verifiers/grading/exact_rational.h"
#include "verifiers/grading/latex_normalization.h"

namespace ponder::verifiers::grading_internal {
namespace {

constexpr int kMaxDepth = 64;
constexpr size_t kMaxNodes = 2048;
constexpr size_t kMaxVariables = 16;
constexpr int kMaxExactDigits = 18;

using Complex = std::complex<double>;

enum class Op : uint8_t {
  kConstant,
  kVariable,
  kAdd,
  kSubtract,
  kMultiply,
  kDivide,
  kPower,
  kNegate,
  kFactorial,
  kPercent,
  kSqrt,
  kRoot,  // lhs: radicand, rhs: index
  kBinomial,
  kAbs,
  kFloor,
  kCeil,
  kFunction,
  kLogBase,  // lhs: argument, rhs: base
};

enum class Function : uint8_t {
  kSin,
  kCos,
  kTan,
  kSec,
  kCsc,
  kCot,
  kArcsin,
  kArccos,
  kArctan,
  kSinh,
  kCosh,
  kTanh,
  kLn,
  kExp,
};

struct Node {
  Op op = Op::kConstant;
  Function function = Function::kSin;
  int32_t lhs = -1;
  int32_t rhs = -1;
  NumericValue constant;
  uint32_t variable = 0;
};

std::optional<Function> FunctionNamed(std::string_view name) {
  struct Entry {
    std::string_view name;
    Function function;
  };
  static constexpr Entry kFunctions[] = {
      {"sin", Function::kSin},       {"cos", Function::kCos},       {"tan", Function::kTan},
      {"sec", Function::kSec},       {"csc", Function::kCsc},       {"cot", Function::kCot},
      {"arcsin", Function::kArcsin}, {"arccos", Function::kArccos}, {"arctan", Function::kArctan},
      {"sinh", Function::kSinh},     {"cosh", Function::kCosh},     {"tanh", Function::kTanh},
      {"ln", Function::kLn},         {"exp", Function::kExp},
  };
  for (const Entry& entry : kFunctions) {
    if (entry.name == name) return entry.function;
  }
  return std::nullopt;
}

// Greek letters other than \pi are free variables (`2\theta`, `\alpha + \beta`).
bool IsGreekLetter(std::string_view name) {
  static constexpr std::string_view kGreek[] = {
      "alpha",    "beta",    "gamma", "delta",  "epsilon", "varepsilon", "zeta",  "eta",   "theta",
      "vartheta", "iota",    "kappa", "lambda", "mu",      "nu",         "xi",    "rho",   "sigma",
      "tau",      "upsilon", "phi",   "varphi", "chi",     "psi",        "omega", "Gamma", "Delta",
      "Theta",    "Lambda",  "Sigma", "Phi",    "Psi",     "Omega"};
  for (std::string_view greek : kGreek) {
    if (greek == name) return true;
  }
  return false;
}

bool IsPrimaryCommand(std::string_view name) {
  return name == "frac" || name == "sqrt" || name == "binom" || name == "pi" || name == "infty" ||
         name == "log" || name == "lfloor" || name == "lceil" || FunctionNamed(name).has_value() ||
         IsGreekLetter(name);
}

uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

class Parser {
 public:
  explicit Parser(std::string_view text) : s_(text) {}

  bool Parse() {
    root_ = ParseSum();
    SkipSpaces();
    return root_ >= 0 && !failed_ && pos_ == s_.size();
  }

  std::optional<ExpressionSamples> Evaluate() const {
    ExpressionSamples samples;
    samples.has_variables = !variables_.empty();
    samples.has_decimal = has_decimal_;
    const Node& root = nodes_[root_];
    samples.percent =
        root.op == Op::kPercent || (root.op == Op::kNegate && nodes_[root.lhs].op == Op::kPercent);
    int points = samples.has_variables ? kSamplePoints : 1;
    std::vector<NumericValue> values(nodes_.size());
    bool any_number = false;
    for (int point = 0; point < points; ++point) {
      for (size_t i = 0; i < nodes_.size(); ++i) values[i] = EvaluateNode(nodes_[i], values, point);
      samples.values[point] = values[root_];
      const Complex& v = values[root_].value;
      if (!std::isnan(v.real()) && !std::isnan(v.imag())) any_number = true;
    }
    if (!any_number) return std::nullopt;
    for (int point = points; point < kSamplePoints; ++point)
      samples.values[point] = samples.values[0];
    return samples;
  }

 private:
  // ---- lexing helpers ----
  void SkipSpaces() {
    while (pos_ < s_.size() && s_[pos_] == ' ') ++pos_;
  }
  char Peek() {
    SkipSpaces();
    return pos_ < s_.size() ? s_[pos_] : '\0';
  }
  // The command name at pos_ (after spaces) without consuming it; empty if none.
  std::string_view PeekCommand() {
    SkipSpaces();
    if (pos_ + 1 >= s_.size() || s_[pos_] != '\\' || !IsAsciiLetter(s_[pos_ + 1])) return {};
    size_t end = pos_ + 1;
    while (end < s_.size() && IsAsciiLetter(s_[end])) ++end;
    return s_.substr(pos_ + 1, end - pos_ - 1);
  }
  void ConsumeCommand(std::string_view name) { pos_ += name.size() + 1; }
  bool Expect(char c) {
    if (Peek() != c) return Fail();
    ++pos_;
    return true;
  }
  bool Fail() {
    failed_ = true;
    return false;
  }

  int AddNode(Node node) {
    if (nodes_.size() >= kMaxNodes) {
      Fail();
      return -1;
    }
    nodes_.push_back(node);
    return static_cast<int>(nodes_.size() - 1);
  }
  int Unary(Op op, int operand) {
    if (operand < 0) return -1;
    Node node;
    node.op = op;
    node.lhs = operand;
    return AddNode(node);
  }
  int Binary(Op op, int lhs, int rhs) {
    if (lhs < 0 || rhs < 0) return -1;
    Node node;
    node.op = op;
    node.lhs = lhs;
    node.rhs = rhs;
    return AddNode(node);
  }
  int Constant(Complex value, std::optional<ExactRational> exact) {
    Node node;
    node.op = Op::kConstant;
    node.constant = NumericValue{value, exact};
    return AddNode(node);
  }

  // Guards recursion depth for nested groups and prefix operators.
  struct DepthGuard {
    explicit DepthGuard(Parser* parser) : parser(parser) { ++parser->depth_; }
    ~DepthGuard() { --parser->depth_; }
    bool TooDeep() const { return parser->depth_ > kMaxDepth; }
    Parser* parser;
  };

  // ---- grammar ----
  int ParseSum() {
    DepthGuard guard(this);
    if (guard.TooDeep()) return Fail(), -1;
    int lhs = ParseProduct();
    while (lhs >= 0) {
      char c = Peek();
      if (c != '+' && c != '-') break;
      ++pos_;
      lhs = Binary(c == '+' ? Op::kAdd : Op::kSubtract, lhs, ParseProduct());
    }
    return lhs;
  }

  int ParseProduct() {
    int lhs = ParseUnary();
    while (lhs >= 0) {
      char c = Peek();
      std::string_view command = PeekCommand();
      if (c == '*' || c == '/') {
        ++pos_;
        lhs = Binary(c == '*' ? Op::kMultiply : Op::kDivide, lhs, ParseUnary());
      } else if (command == "cdot" || command == "times" || command == "div") {
        ConsumeCommand(command);
        lhs = Binary(command == "div" ? Op::kDivide : Op::kMultiply, lhs, ParseUnary());
      } else if (StartsImplicitFactor()) {
        lhs = Binary(Op::kMultiply, lhs, ParsePower());
      } else {
        break;
      }
    }
    return lhs;
  }

  // Whether a number starts at pos_ (after spaces): a digit, or a point before a digit.
  bool AtNumber() {
    char c = Peek();
    return IsAsciiDigit(c) || (c == '.' && pos_ + 1 < s_.size() && IsAsciiDigit(s_[pos_ + 1]));
  }

  bool StartsImplicitFactor() {
    if (AtNumber()) {
      // Two numbers side by side ("2 3", "x^2 3") are not a product anyone writes.
      size_t previous = pos_;
      while (previous > 0 && s_[previous - 1] == ' ') --previous;
      if (previous == 0) return false;
      return !IsAsciiDigit(s_[previous - 1]) && s_[previous - 1] != '.';
    }
    char c = Peek();
    if (IsAsciiLetter(c) || c == '(' || c == '[' || c == '{') return true;
    std::string_view command = PeekCommand();
    return !command.empty() && IsPrimaryCommand(command);
  }

  int ParseUnary() {
    DepthGuard guard(this);
    if (guard.TooDeep()) return Fail(), -1;
    char c = Peek();
    if (c == '-') {
      ++pos_;
      return Unary(Op::kNegate, ParseUnary());
    }
    if (c == '+') {
      ++pos_;
      return ParseUnary();
    }
    return ParsePower();
  }

  int ParsePower() {
    int base = ParsePostfix();
    if (base >= 0 && Peek() == '^') {
      ++pos_;
      base = Binary(Op::kPower, base, ParseExponent());
    }
    return base;
  }

  // An exponent: a TeX argument, except that a whole number is taken as one (`2^10` = 1024, as
  // sympy's LaTeX parser reads it) and a sign or parentheses may come first (`2^-1`, `2^(n+1)`).
  int ParseExponent() {
    DepthGuard guard(this);
    if (guard.TooDeep()) return Fail(), -1;
    char c = Peek();
    if (c == '(') {
      ++pos_;
      return ParseGroup(')');
    }
    if (c == '-' || c == '+') {
      ++pos_;
      int exponent = ParseExponent();
      return c == '-' ? Unary(Op::kNegate, exponent) : exponent;
    }
    if (IsAsciiDigit(c)) return ParseNumber(/*single_digit=*/false);
    return ParseTexArgument();
  }

  int ParsePostfix() {
    int operand = ParsePrimary();
    while (operand >= 0) {
      if (pos_ < s_.size() && s_[pos_] == '!') {
        ++pos_;
        operand = Unary(Op::kFactorial, operand);
      } else if (Peek() == '%') {
        ++pos_;
        operand = Unary(Op::kPercent, operand);
      } else {
        break;
      }
    }
    return operand;
  }

  int ParsePrimary() {
    if (AtNumber()) return ParseNumber(/*single_digit=*/false);
    char c = Peek();
    if (IsAsciiLetter(c)) return ParseLetters();
    switch (c) {
      case '(':
        ++pos_;
        return ParseGroup(')');
      case '[':
        ++pos_;
        return ParseGroup(']');
      case '{':
        ++pos_;
        return ParseGroup('}');
      case '|': {
        ++pos_;
        int inner = ParseSum();
        if (inner < 0 || !Expect('|')) return -1;
        return Unary(Op::kAbs, inner);
      }
      case '\\':
        return ParseCommandAt();
      default:
        Fail();
        return -1;
    }
  }

  int ParseGroup(char close) {
    int inner = ParseSum();
    if (inner < 0 || !Expect(close)) return -1;
    return inner;
  }

  // A TeX macro argument: a group or a single character.
  int ParseTexArgument() {
    DepthGuard guard(this);
    if (guard.TooDeep()) return Fail(), -1;
    char c = Peek();
    if (c == '{') {
      ++pos_;
      return ParseGroup('}');
    }
    if (IsAsciiDigit(c)) return ParseNumber(/*single_digit=*/true);
    if (IsAsciiLetter(c)) return ParseSingleLetter();
    if (c == '\\') return ParseCommandAt();
    Fail();
    return -1;
  }

  int ParseNumber(bool single_digit) {
    size_t start = pos_;
    int64_t mantissa = 0;
    int digits = 0;
    int scale = 0;
    bool decimal_point = false;
    auto take_digit = [&](char d) {
      if (digits < kMaxExactDigits) {
        mantissa = mantissa * 10 + (d - '0');
        if (decimal_point) ++scale;
      }
      if (mantissa != 0 || decimal_point) ++digits;
    };
    if (single_digit) {
      take_digit(s_[pos_++]);
      return Constant(Complex(mantissa, 0), ExactRational{mantissa, 1});
    }
    bool truncated = false;
    while (pos_ < s_.size() && IsAsciiDigit(s_[pos_])) {
      if (digits >= kMaxExactDigits) truncated = true;
      take_digit(s_[pos_++]);
    }
    if (pos_ + 1 < s_.size() && s_[pos_] == '.' && IsAsciiDigit(s_[pos_ + 1])) {
      decimal_point = true;
      has_decimal_ = true;
      ++pos_;
      while (pos_ < s_.size() && IsAsciiDigit(s_[pos_])) {
        if (digits >= kMaxExactDigits && s_[pos_] != '0') truncated = true;
        take_digit(s_[pos_++]);
      }
    }
    int64_t exponent = 0;
    bool scientific = false;
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      size_t k = pos_ + 1;
      if (k < s_.size() && (s_[k] == '-' || s_[k] == '+')) ++k;
      if (k < s_.size() && IsAsciiDigit(s_[k])) {
        scientific = true;
        has_decimal_ = true;
        bool negative = s_[pos_ + 1] == '-';
        pos_ = k;
        while (pos_ < s_.size() && IsAsciiDigit(s_[pos_])) {
          if (exponent < 100000) exponent = exponent * 10 + (s_[pos_] - '0');
          ++pos_;
        }
        if (negative) exponent = -exponent;
      }
    }
    double value = 0;
    std::from_chars(s_.data() + start, s_.data() + pos_, value);
    std::optional<ExactRational> exact;
    if (!truncated) {
      std::optional<ExactRational> power_of_ten = Power(ExactRational{10, 1}, scale);
      if (power_of_ten) exact = MakeRational(mantissa, power_of_ten->num);
      if (exact && scientific) {
        std::optional<ExactRational> factor = Power(ExactRational{10, 1}, exponent);
        exact = factor ? Multiply(*exact, *factor) : std::nullopt;
      }
    }
    if (!std::isfinite(value)) value = std::nan("");
    return Constant(Complex(value, 0), exact);
  }

  // A run of letters: a function name, one or two single-letter factors, or (three or more
  // letters) a word, which is not an expression.
  int ParseLetters() {
    size_t end = pos_;
    while (end < s_.size() && IsAsciiLetter(s_[end])) ++end;
    std::string_view run = s_.substr(pos_, end - pos_);
    if (run.size() >= 2) {
      if (FunctionNamed(run) || run == "log") {
        pos_ = end;
        return ParseNamedCommand(run);
      }
      // A letter followed by one more is a product of two variables ("xy"); longer runs
      // that are not function names are words.
      if (run.size() > 2) {
        Fail();
        return -1;
      }
    }
    return ParseSingleLetter();
  }

  int ParseSingleLetter() {
    char letter = s_[pos_++];
    bool subscripted = pos_ < s_.size() && s_[pos_] == '_';
    if (!subscripted) {
      if (letter == 'i') return Constant(Complex(0, 1), std::nullopt);
      if (letter == 'e') return Constant(Complex(std::numbers::e, 0), std::nullopt);
    }
    std::string name(1, letter);
    if (subscripted) {
      ++pos_;
      name.push_back('_');
      if (pos_ < s_.size() && s_[pos_] == '{') {
        size_t close = s_.find('}', pos_);
        if (close == std::string_view::npos) return Fail(), -1;
        for (size_t k = pos_ + 1; k < close; ++k) {
          if (s_[k] != ' ') name.push_back(s_[k]);
        }
        pos_ = close + 1;
      } else if (pos_ < s_.size() && (IsAsciiLetter(s_[pos_]) || IsAsciiDigit(s_[pos_]))) {
        name.push_back(s_[pos_++]);
      } else {
        return Fail(), -1;
      }
    }
    return Variable(std::move(name));
  }

  int Variable(std::string name) {
    uint32_t index = 0;
    while (index < variables_.size() && variables_[index] != name) ++index;
    if (index == variables_.size()) {
      if (variables_.size() >= kMaxVariables) return Fail(), -1;
      variables_.push_back(std::move(name));
    }
    Node node;
    node.op = Op::kVariable;
    node.variable = index;
    return AddNode(node);
  }

  int ParseCommandAt() {
    std::string_view name = PeekCommand();
    if (name.empty()) return Fail(), -1;
    ConsumeCommand(name);
    return ParseNamedCommand(name);
  }

  int ParseNamedCommand(std::string_view name) {
    DepthGuard guard(this);
    if (guard.TooDeep()) return Fail(), -1;
    if (name == "frac") {
      int numerator = ParseTexArgument();
      if (numerator < 0) return -1;
      return Binary(Op::kDivide, numerator, ParseTexArgument());
    }
    if (name == "sqrt") {
      if (Peek() == '[') {
        ++pos_;
        int index = ParseGroup(']');
        if (index < 0) return -1;
        return Binary(Op::kRoot, ParseTexArgument(), index);
      }
      return Unary(Op::kSqrt, ParseTexArgument());
    }
    if (name == "binom") {
      int n = ParseTexArgument();
      if (n < 0) return -1;
      return Binary(Op::kBinomial, n, ParseTexArgument());
    }
    if (name == "pi") return Constant(Complex(std::numbers::pi, 0), std::nullopt);
    if (name == "infty") return Constant(Complex(INFINITY, 0), std::nullopt);
    if (name == "lfloor" || name == "lceil") {
      int inner = ParseSum();
      std::string_view close = PeekCommand();
      if (inner < 0 || close != (name == "lfloor" ? "rfloor" : "rceil")) return Fail(), -1;
      ConsumeCommand(close);
      return Unary(name == "lfloor" ? Op::kFloor : Op::kCeil, inner);
    }
    if (name == "log") {
      int base = -1;
      if (Peek() == '_') {
        ++pos_;
        base = ParseTexArgument();
        if (base < 0) return -1;
      }
      int argument = ParseFunctionArgument();
      if (base < 0) {
        Node node;
        node.op = Op::kFunction;
        node.function = Function::kLn;
        node.lhs = argument;
        return argument < 0 ? -1 : AddNode(node);
      }
      return Binary(Op::kLogBase, argument, base);
    }
    if (IsGreekLetter(name)) return Variable("\\" + std::string(name));
    std::optional<Function> function = FunctionNamed(name);
    if (!function) return Fail(), -1;
    int power = -1;
    if (Peek() == '^') {  // \sin^2 x
      ++pos_;
      power = ParseExponent();
      if (power < 0) return -1;
    }
    int argument = ParseFunctionArgument();
    if (argument < 0) return -1;
    Node node;
    node.op = Op::kFunction;
    node.function = *function;
    node.lhs = argument;
    int applied = AddNode(node);
    return power < 0 ? applied : Binary(Op::kPower, applied, power);
  }

  // `\sin(3x)`, or without parentheses the product that follows up to the next function:
  // `\sin 3x` is sin(3x) and `\sin x \cos x` is sin(x)cos(x), as sympy's parse_latex and
  // latex2sympy (Math-Verify) read it (their grammar's func_arg_noparens, a product without
  // functions).
  int ParseFunctionArgument() {
    if (Peek() == '(') {
      ++pos_;
      return ParseGroup(')');
    }
    int argument = ParsePower();
    while (argument >= 0 && StartsImplicitFactor() && !StartsFunction()) {
      argument = Binary(Op::kMultiply, argument, ParsePower());
    }
    return argument;
  }

  // A function name next: `\sin`, `\log`, `\ln`, or a bare `sin`.
  bool StartsFunction() {
    std::string_view command = PeekCommand();
    if (!command.empty()) return command == "log" || FunctionNamed(command).has_value();
    size_t end = pos_;
    while (end < s_.size() && IsAsciiLetter(s_[end])) ++end;
    std::string_view run = std::string_view(s_).substr(pos_, end - pos_);
    return run == "log" || FunctionNamed(run).has_value();
  }

  // ---- evaluation ----
  static bool IsFinite(const Complex& z) {
    return std::isfinite(z.real()) && std::isfinite(z.imag());
  }
  static NumericValue NotANumber() { return NumericValue{Complex(NAN, NAN), std::nullopt}; }
  static bool IsRealInteger(const NumericValue& v, double* out) {
    if (v.exact) {
      if (!v.exact->IsInteger()) return false;
      *out = static_cast<double>(v.exact->num);
      return true;
    }
    double re = v.value.real();
    if (v.value.imag() != 0 || !std::isfinite(re) ||
        std::fabs(re - std::round(re)) > 1e-9 * std::max(1.0, std::fabs(re))) {
      return false;
    }
    *out = std::round(re);
    return true;
  }

  static Complex RealOddRoot(double radicand, double n) {
    double magnitude = std::pow(std::fabs(radicand), 1.0 / n);
    return Complex(radicand < 0 ? -magnitude : magnitude, 0);
  }

  static NumericValue PowerOf(const NumericValue& base, const NumericValue& exponent) {
    NumericValue result;
    if (base.exact && exponent.exact && exponent.exact->den <= 64) {
      std::optional<ExactRational> root =
          exponent.exact->den == 1 ? base.exact : ExactRoot(*base.exact, exponent.exact->den);
      if (root) result.exact = Power(*root, exponent.exact->num);
    }
    const Complex& b = base.value;
    const Complex& e = exponent.value;
    if (b == Complex(0, 0)) {
      if (e.real() > 0) {
        result.value = 0;
      } else if (e == Complex(0, 0)) {
        result.value = 1;
      } else {
        return NotANumber();
      }
      return result;
    }
    if (b.imag() == 0 && e.imag() == 0) {
      double integer = 0;
      if (b.real() > 0 || IsRealInteger(exponent, &integer)) {
        result.value = std::pow(b.real(), e.real());
      } else if (exponent.exact && exponent.exact->den % 2 == 1) {
        // A negative base to p/q with q odd: the real root, as \sqrt[q]{} gives.
        Complex root = RealOddRoot(b.real(), static_cast<double>(exponent.exact->den));
        result.value = std::pow(root.real(), static_cast<double>(exponent.exact->num));
      } else {
        result.value = std::pow(b, e);
      }
    } else {
      result.value = std::pow(b, e);
    }
    return result;
  }

  static NumericValue Factorial(const NumericValue& operand) {
    double n = 0;
    if (!IsRealInteger(operand, &n) || n < 0 || n > 170) return NotANumber();
    NumericValue result;
    ExactRational exact{1, 1};
    bool exact_valid = true;
    double value = 1;
    for (int64_t k = 2; k <= static_cast<int64_t>(n); ++k) {
      value *= static_cast<double>(k);
      if (exact_valid) {
        std::optional<ExactRational> next = Multiply(exact, ExactRational{k, 1});
        exact_valid = next.has_value();
        if (next) exact = *next;
      }
    }
    result.value = value;
    if (exact_valid) result.exact = exact;
    return result;
  }

  static NumericValue Binomial(const NumericValue& top, const NumericValue& bottom) {
    double n = 0;
    double k = 0;
    if (!IsRealInteger(top, &n) || !IsRealInteger(bottom, &k) || n < 0 || n > 1e7) {
      return NotANumber();
    }
    NumericValue result;
    if (k < 0 || k > n) {
      result.value = 0;
      result.exact = ExactRational{0, 1};
      return result;
    }
    k = std::min(k, n - k);
    if (k <= 10000) {
      ExactRational exact{1, 1};
      bool exact_valid = true;
      double value = 1;
      for (int64_t j = 1; j <= static_cast<int64_t>(k); ++j) {
        value = value * (n - k + static_cast<double>(j)) / static_cast<double>(j);
        if (exact_valid) {
          std::optional<ExactRational> next =
              Multiply(exact, ExactRational{static_cast<int64_t>(n - k) + j, j});
          exact_valid = next.has_value();
          if (next) exact = *next;
        }
      }
      result.value = value;
      if (exact_valid) result.exact = exact;
      return result;
    }
    result.value = std::exp(std::lgamma(n + 1) - std::lgamma(k + 1) - std::lgamma(n - k + 1));
    return result;
  }

  static Complex ApplyFunction(Function function, const Complex& x) {
    switch (function) {
      case Function::kSin:
        return std::sin(x);
      case Function::kCos:
        return std::cos(x);
      case Function::kTan:
        return std::tan(x);
      case Function::kSec:
        return 1.0 / std::cos(x);
      case Function::kCsc:
        return 1.0 / std::sin(x);
      case Function::kCot:
        return 1.0 / std::tan(x);
      case Function::kArcsin:
        return std::asin(x);
      case Function::kArccos:
        return std::acos(x);
      case Function::kArctan:
        return std::atan(x);
      case Function::kSinh:
        return std::sinh(x);
      case Function::kCosh:
        return std::cosh(x);
      case Function::kTanh:
        return std::tanh(x);
      case Function::kLn:
        return std::log(x);
      case Function::kExp:
        return std::exp(x);
    }
    return Complex(NAN, NAN);
  }

  NumericValue EvaluateNode(const Node& node, const std::vector<NumericValue>& values,
                            int point) const {
    if (node.op == Op::kConstant) return node.constant;
    if (node.op == Op::kVariable) {
      return NumericValue{Complex(VariableSampleValue(variables_[node.variable], point), 0),
                          std::nullopt};
    }
    const NumericValue& a = values[node.lhs];
    static const NumericValue kNone;
    const NumericValue& b = node.rhs >= 0 ? values[node.rhs] : kNone;
    auto both_exact = [&]() { return a.exact.has_value() && b.exact.has_value(); };
    NumericValue result;
    switch (node.op) {
      case Op::kAdd:
        result.value = a.value + b.value;
        if (both_exact()) result.exact = Add(*a.exact, *b.exact);
        break;
      case Op::kSubtract:
        result.value = a.value - b.value;
        if (both_exact()) result.exact = Subtract(*a.exact, *b.exact);
        break;
      case Op::kMultiply:
        result.value = a.value * b.value;
        if (both_exact()) result.exact = Multiply(*a.exact, *b.exact);
        break;
      case Op::kDivide:
        if (b.value == Complex(0, 0)) return NotANumber();
        result.value = a.value / b.value;
        if (both_exact()) result.exact = Divide(*a.exact, *b.exact);
        break;
      case Op::kPower:
        result = PowerOf(a, b);
        break;
      case Op::kNegate:
        result.value = -a.value;
        if (a.exact) result.exact = ExactRational{-a.exact->num, a.exact->den};
        break;
      case Op::kFactorial:
        result = Factorial(a);
        break;
      case Op::kPercent:
        result.value = a.value / 100.0;
        if (a.exact) result.exact = Divide(*a.exact, ExactRational{100, 1});
        break;
      case Op::kSqrt:
        if (a.value.imag() == 0 && a.value.real() >= 0) {
          result.value = std::sqrt(a.value.real());
        } else {
          result.value = std::sqrt(a.value);
        }
        if (a.exact) result.exact = ExactRoot(*a.exact, 2);
        break;
      case Op::kRoot: {
        double index = 0;
        if (!IsRealInteger(b, &index) || index < 1 || index > 1e6) {
          NumericValue reciprocal{1.0 / b.value, std::nullopt};
          if (b.exact && b.exact->num != 0)
            reciprocal.exact = Divide(ExactRational{1, 1}, *b.exact);
          result = PowerOf(a, reciprocal);
        } else if (a.value.imag() == 0 && (a.value.real() >= 0 || std::fmod(index, 2) == 1)) {
          result.value = RealOddRoot(a.value.real(), index);
          if (a.exact && index <= 64)
            result.exact = ExactRoot(*a.exact, static_cast<int64_t>(index));
        } else {
          result.value = std::pow(a.value, 1.0 / index);
        }
        break;
      }
      case Op::kBinomial:
        result = Binomial(a, b);
        break;
      case Op::kAbs:
        result.value = std::abs(a.value);
        if (a.exact)
          result.exact =
              ExactRational{a.exact->num < 0 ? -a.exact->num : a.exact->num, a.exact->den};
        break;
      case Op::kFloor:
      case Op::kCeil: {
        if (a.value.imag() != 0) return NotANumber();
        bool floor = node.op == Op::kFloor;
        result.value = floor ? std::floor(a.value.real()) : std::ceil(a.value.real());
        if (a.exact) {
          int64_t q = a.exact->num / a.exact->den;  // truncates toward zero
          int64_t r = a.exact->num % a.exact->den;
          if (r != 0 && floor && a.exact->num < 0) --q;
          if (r != 0 && !floor && a.exact->num > 0) ++q;
          result.exact = ExactRational{q, 1};
          result.value = static_cast<double>(q);
        }
        break;
      }
      case Op::kFunction:
        result.value = ApplyFunction(node.function, a.value);
        if (a.exact && a.exact->num == 0 &&
            (node.function == Function::kSin || node.function == Function::kTan ||
             node.function == Function::kArcsin || node.function == Function::kArctan ||
             node.function == Function::kSinh || node.function == Function::kTanh)) {
          result.exact = ExactRational{0, 1};
        }
        if (a.exact && *a.exact == ExactRational{1, 1} && node.function == Function::kLn) {
          result.exact = ExactRational{0, 1};
        }
        break;
      case Op::kLogBase:
        result.value = std::log(a.value) / std::log(b.value);
        break;
      case Op::kConstant:
      case Op::kVariable:
        break;
    }
    // Overflow, division by zero and the like yield NaN; only an explicit \infty (or arithmetic
    // on one) may be infinite.
    bool operands_finite = IsFinite(a.value) && (node.rhs < 0 || IsFinite(b.value));
    if (!IsFinite(result.value) && operands_finite) return NotANumber();
    if (std::isnan(result.value.real()) || std::isnan(result.value.imag())) return NotANumber();
    if (result.exact) result.value = Complex(result.exact->ToDouble(), 0);
    return result;
  }

  std::string_view s_;
  size_t pos_ = 0;
  int depth_ = 0;
  bool failed_ = false;
  bool has_decimal_ = false;
  int root_ = -1;
  std::vector<Node> nodes_;
  std::vector<std::string> variables_;
};

}  // namespace

double VariableSampleValue(std::string_view name, int point) {
  uint64_t hash = 0xcbf29ce484222325ull;  // FNV-1a
  for (char c : name) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ull;
  }
  uint64_t mixed = SplitMix64(hash ^ SplitMix64(static_cast<uint64_t>(point) + 1));
  double fraction = static_cast<double>(mixed >> 11) * 0x1.0p-53;  // [0, 1)
  double magnitude = 0.35 + 1.7 * fraction;
  // Point 1 is negative so that sqrt(x^2) and x, or |x| and x, are told apart.
  return point == 1 ? -magnitude : magnitude;
}

std::optional<ExpressionSamples> EvaluateExpression(std::string_view normalized) {
  if (normalized.empty() || normalized.size() > kMaxExpressionChars) return std::nullopt;
  Parser parser(normalized);
  if (!parser.Parse()) return std::nullopt;
  return parser.Evaluate();
}

}  // namespace ponder::verifiers::grading_internal
