#include "datasets/arith_task.h"

#include <array>
#include <cstddef>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/hash.h"
#include "base/strings.h"

namespace ponder::datasets {
namespace {

// ---------------------------------------------------------------------------------------------
// Randomness. SplitMix64 (Steele, Lea & Flood, "Fast splittable pseudorandom number
// generators", OOPSLA 2014) with an unbiased bounded draw by rejection: every step is specified
// here, so problems are identical across compilers and standard libraries.

uint64_t SplitMix64(uint64_t x) { return Mix64(x + kGoldenGamma); }

uint64_t Mix(uint64_t a, uint64_t b) {
  return SplitMix64(a ^ SplitMix64(b + 0x632BE59BD9B4E019ULL));
}

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}

  uint64_t Next() {
    state_ += kGoldenGamma;
    return SplitMix64(state_);
  }
  // Uniform in [lo, hi].
  int64_t Uniform(int64_t lo, int64_t hi) {
    uint64_t range = static_cast<uint64_t>(hi - lo) + 1;
    uint64_t limit = UINT64_MAX - UINT64_MAX % range;
    uint64_t draw;
    do {
      draw = Next();
    } while (draw >= limit);
    return lo + static_cast<int64_t>(draw % range);
  }
  bool OneIn(int64_t n) { return Uniform(1, n) == 1; }
  template <typename T>
  const T& Pick(const std::vector<T>& items) {
    return items[static_cast<size_t>(Uniform(0, static_cast<int64_t>(items.size()) - 1))];
  }

 private:
  uint64_t state_;
};

// ---------------------------------------------------------------------------------------------
// Vocabulary: small on purpose (the policy model has a few million parameters).

struct Person {
  const char* name;
  bool she;
};
constexpr std::array<Person, 24> kPeople = {{
    {"Ava", true},   {"Ben", false},  {"Cara", true},  {"Dan", false},  {"Emma", true},
    {"Finn", false}, {"Grace", true}, {"Hugo", false}, {"Ivy", true},   {"Jack", false},
    {"Kate", true},  {"Leo", false},  {"Mia", true},   {"Noah", false}, {"Olive", true},
    {"Paul", false}, {"Rosa", true},  {"Sam", false},  {"Tara", true},  {"Omar", false},
    {"Lily", true},  {"Max", false},  {"Nina", true},  {"Eli", false},
}};

struct Noun {
  const char* plural;
  const char* singular;
};
constexpr std::array<Noun, 20> kItems = {{
    {"apples", "apple"},   {"marbles", "marble"}, {"stickers", "sticker"}, {"pencils", "pencil"},
    {"cookies", "cookie"}, {"books", "book"},     {"stamps", "stamp"},     {"shells", "shell"},
    {"cards", "card"},     {"beads", "bead"},     {"eggs", "egg"},         {"oranges", "orange"},
    {"crayons", "crayon"}, {"buttons", "button"}, {"toy cars", "toy car"}, {"balloons", "balloon"},
    {"candies", "candy"},  {"rocks", "rock"},     {"feathers", "feather"}, {"muffins", "muffin"},
}};
constexpr std::array<Noun, 5> kContainers = {{
    {"boxes", "box"},
    {"bags", "bag"},
    {"packs", "pack"},
    {"jars", "jar"},
    {"baskets", "basket"},
}};
constexpr std::array<const char*, 5> kPurchases = {"a book", "lunch", "a toy", "a ticket",
                                                   "a gift"};

// Bounds that keep the arithmetic within reach of a tiny model (see the header).
constexpr int64_t kMaxOperand = 100;       // the number a step brings in (b in a op b)
constexpr int64_t kMaxMultiplicand = 100;  // a product's left factor
constexpr int64_t kMaxFactor = 12;         // a product's right factor, a divisor
constexpr int64_t kMaxValue = 9999;        // any value

// ---------------------------------------------------------------------------------------------
// Templates. Each step of the story applies one template to the current quantity: who holds
// it, what it is, how many. A template's problem sentence never states the current count (the
// solver must carry it), and its solution sentence contains exactly one `a op b = c`.

enum class Unit { kItems, kDollars, kContainers };

enum class Template {
  kAddBuy,           // Mia buys 5 more apples.
  kAddFind,          // Mia finds 5 more apples.
  kAddGift,          // Leo gives Mia 5 apples.
  kAddEarn,          // Mia earns 5 more dollars.
  kCompareMore,      // Leo has 5 more apples than Mia.
  kSubGive,          // Mia gives 5 apples to Leo.
  kSubLose,          // Mia loses 5 of the apples.
  kSubSell,          // Mia sells 5 of the apples.
  kSubSpend,         // Mia spends 5 dollars on lunch.
  kCompareFewer,     // Leo has 5 fewer apples than Mia.
  kCompareTimes,     // Leo has 3 times as many apples as Mia.
  kMulGrow,          // The number of apples Mia has doubles.
  kMulPrice,         // Mia sells all of the apples for 3 dollars each.
  kCompareFraction,  // Leo has a third as many apples as Mia.
  kDivHalve,         // Mia gives away half of the apples.
  kDivGroups,        // Mia splits the apples into 4 equal parts and keeps one part.
  kDivShare,         // Mia shares the apples equally among 4 friends. (last step only)
  kDivPack,          // Mia puts the apples into bags of 4. (last step only)
};

struct TemplateInfo {
  Template id;
  const char* name;
  char op;
  enum Units { kItemsOnly, kDollarsOnly, kItemsOrDollars } units;
  bool last_only;
};
constexpr std::array<TemplateInfo, 18> kTemplates = {{
    {Template::kAddBuy, "add.buy", '+', TemplateInfo::kItemsOnly, false},
    {Template::kAddFind, "add.find", '+', TemplateInfo::kItemsOnly, false},
    {Template::kAddGift, "add.gift", '+', TemplateInfo::kItemsOrDollars, false},
    {Template::kAddEarn, "add.earn", '+', TemplateInfo::kDollarsOnly, false},
    {Template::kCompareMore, "compare.more", '+', TemplateInfo::kItemsOrDollars, false},
    {Template::kSubGive, "sub.give", '-', TemplateInfo::kItemsOrDollars, false},
    {Template::kSubLose, "sub.lose", '-', TemplateInfo::kItemsOnly, false},
    {Template::kSubSell, "sub.sell", '-', TemplateInfo::kItemsOnly, false},
    {Template::kSubSpend, "sub.spend", '-', TemplateInfo::kDollarsOnly, false},
    {Template::kCompareFewer, "compare.fewer", '-', TemplateInfo::kItemsOrDollars, false},
    {Template::kCompareTimes, "compare.times", '*', TemplateInfo::kItemsOrDollars, false},
    {Template::kMulGrow, "mul.grow", '*', TemplateInfo::kItemsOrDollars, false},
    {Template::kMulPrice, "mul.price", '*', TemplateInfo::kItemsOnly, false},
    {Template::kCompareFraction, "compare.fraction", '/', TemplateInfo::kItemsOrDollars, false},
    {Template::kDivHalve, "div.halve", '/', TemplateInfo::kItemsOrDollars, false},
    {Template::kDivGroups, "div.groups", '/', TemplateInfo::kItemsOrDollars, false},
    {Template::kDivShare, "div.share", '/', TemplateInfo::kItemsOrDollars, true},
    {Template::kDivPack, "div.pack", '/', TemplateInfo::kItemsOnly, true},
}};

bool IsComparison(Template id) {
  return id == Template::kCompareMore || id == Template::kCompareFewer ||
         id == Template::kCompareTimes || id == Template::kCompareFraction;
}

// Templates of one shape: "<Mia> <verb> <b> <object><noun>." and "After <gerund>, <Mia> has
// <equation> <noun>."
struct SimpleAction {
  Template id;
  const char* verb;
  const char* object;
  const char* gerund;
};
constexpr std::array<SimpleAction, 5> kSimpleActions = {{
    {Template::kAddBuy, "buys", "more ", "buying more"},
    {Template::kAddFind, "finds", "more ", "finding more"},
    {Template::kAddEarn, "earns", "more ", "earning more"},
    {Template::kSubLose, "loses", "of the ", "losing some"},
    {Template::kSubSell, "sells", "of the ", "selling some"},
}};

const SimpleAction* FindSimpleAction(Template id) {
  for (const SimpleAction& action : kSimpleActions) {
    if (action.id == id) return &action;
  }
  return nullptr;
}

// The operands a template may bring in given the current value, ascending; empty when it
// cannot apply (the result would not be a positive integer of at least 2 within bounds).
std::vector<int64_t> OperandChoices(Template id, int64_t value) {
  std::vector<int64_t> choices;
  auto add_range = [&](int64_t lo, int64_t hi) {
    for (int64_t b = lo; b <= hi; ++b) choices.push_back(b);
  };
  auto add_divisors = [&](std::initializer_list<int64_t> candidates) {
    for (int64_t b : candidates) {
      if (value % b == 0 && value / b >= 2) choices.push_back(b);
    }
  };
  switch (id) {
    case Template::kAddBuy:
    case Template::kAddFind:
    case Template::kAddGift:
    case Template::kAddEarn:
    case Template::kCompareMore:
      add_range(2, std::min(kMaxOperand, kMaxValue - value));
      break;
    case Template::kSubGive:
    case Template::kSubLose:
    case Template::kSubSell:
    case Template::kSubSpend:
    case Template::kCompareFewer:
      // Leave at least 2: "1 apples" would need a singular the solution template lacks.
      add_range(2, std::min(kMaxOperand, value - 2));
      break;
    case Template::kCompareTimes:
    case Template::kMulPrice:
      if (value <= kMaxMultiplicand) add_range(2, kMaxFactor);
      break;
    case Template::kMulGrow:  // "doubles", "triples"
      if (value <= kMaxMultiplicand) add_range(2, 3);
      break;
    case Template::kCompareFraction:  // half, a third, a quarter, a fifth, a tenth
      add_divisors({2, 3, 4, 5, 10});
      break;
    case Template::kDivHalve:
      add_divisors({2});
      break;
    case Template::kDivGroups:
    case Template::kDivShare:
    case Template::kDivPack:
      add_divisors({2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
      break;
  }
  return choices;
}

const char* FractionWord(int64_t divisor) {
  switch (divisor) {
    case 2:
      return "half";
    case 3:
      return "a third";
    case 4:
      return "a quarter";
    case 5:
      return "a fifth";
    default:
      return "a tenth";
  }
}

std::string Capitalized(std::string text) {
  if (!text.empty()) text[0] = absl::ascii_toupper(static_cast<unsigned char>(text[0]));
  return text;
}

// The story so far: the quantity the next step works on and the text written.
class Story {
 public:
  explicit Story(Rng& rng) : rng_(rng) {}

  // Opens the story; returns the number of steps the opening used (0 or 1).
  int Open(bool allow_step) {
    holder_ = NewPerson();
    item_ = static_cast<int>(rng_.Uniform(0, kItems.size() - 1));
    int64_t kind = rng_.Uniform(1, allow_step ? 5 : 4);
    if (kind <= 3) {  // Mia has 40 apples.
      unit_ = Unit::kItems;
      value_ = rng_.Uniform(5, kMaxOperand);
      constexpr std::array<const char*, 3> kVerbs = {"has", "collects", "starts with"};
      Say(absl::StrCat(Name(holder_), " ", kVerbs[rng_.Uniform(0, 2)], " ", value_, " ", Noun()));
      subject_ = holder_;
      return 0;
    }
    if (kind == 4) {  // Mia has 40 dollars.
      unit_ = Unit::kDollars;
      value_ = rng_.Uniform(10, kMaxOperand);
      Say(absl::StrCat(Name(holder_), rng_.OneIn(2) ? " has " : " saves ", value_, " dollars"));
      subject_ = holder_;
      return 0;
    }
    // Mia buys 6 boxes of apples. Each box holds 8 apples.  (one step: 6 * 8 = 48)
    unit_ = Unit::kItems;
    int container = static_cast<int>(rng_.Uniform(0, kContainers.size() - 1));
    int64_t count = rng_.Uniform(2, kMaxFactor);
    int64_t per = rng_.Uniform(2, kMaxFactor);
    Say(absl::StrCat(Name(holder_), " buys ", count, " ", kContainers[container].plural, " of ",
                     Noun()));
    Say(absl::StrCat("Each ", kContainers[container].singular, " holds ", per, " ", Noun()));
    value_ = count * per;
    Step({count, '*', per, value_, "start.packs"},
         absl::StrCat(Name(holder_), " has ", count, " * ", per, " = ", value_, " ", Noun(), "."));
    subject_ = holder_;
    return 1;
  }

  // Applies one more step; `last` allows the templates that end a story.
  void Advance(bool last) {
    // Choose the operation first, uniformly among those with an applicable template, so the
    // four operations appear about equally often whatever the number of templates of each.
    struct Choice {
      const TemplateInfo* info;
      std::vector<int64_t> operands;
    };
    std::array<std::vector<Choice>, 4> by_op;
    constexpr std::string_view kOps = "+-*/";
    for (const TemplateInfo& info : kTemplates) {
      if (info.last_only && !last) continue;
      if (info.units == TemplateInfo::kItemsOnly && unit_ != Unit::kItems) continue;
      if (info.units == TemplateInfo::kDollarsOnly && unit_ != Unit::kDollars) continue;
      std::vector<int64_t> operands = OperandChoices(info.id, value_);
      if (operands.empty()) continue;
      by_op[kOps.find(info.op)].push_back({&info, std::move(operands)});
    }
    std::vector<size_t> ops;
    for (size_t i = 0; i < by_op.size(); ++i) {
      if (!by_op[i].empty()) ops.push_back(i);
    }
    // Addition always applies (values stay far below kMaxValue), so `ops` is never empty.
    const std::vector<Choice>& candidates = by_op[rng_.Pick(ops)];
    const Choice& choice = rng_.Pick(candidates);
    Apply(*choice.info, rng_.Pick(choice.operands));
  }

  // Writes the question, which asks for the current quantity.
  void Finish() {
    std::string holder = Name(holder_);
    if (last_template_ == Template::kDivShare) {
      question_ = absl::StrCat("How many ", Noun(), " does each friend get?");
    } else if (last_template_ == Template::kDivPack) {
      question_ = absl::StrCat("How many ", Noun(), " does ", holder, " fill?");
    } else if (last_template_ == Template::kMulPrice) {
      question_ = absl::StrCat("How many dollars does ", holder, " get?");
    } else if (!holder_changed_) {
      question_ = absl::StrCat("How many ", Noun(), " does ", holder, " have?");
    } else if (rng_.OneIn(2)) {
      question_ = absl::StrCat("How many ", Noun(), " does ", holder, " have now?");
    } else {
      question_ = absl::StrCat("How many ", Noun(), " does ", holder, " end up with?");
    }
  }

  // The problem text: the sentences, then the question.
  std::string ProblemText() const {
    return absl::StrCat(absl::StrJoin(sentences_, " "), " ", question_);
  }
  std::string SolutionText(int64_t answer) const {
    return absl::StrCat(absl::StrJoin(paragraphs_, "\n\n"), " The answer is \\boxed{", answer,
                        "}.");
  }
  int64_t value() const { return value_; }
  std::vector<ArithStep>& steps() { return steps_; }

 private:
  int NewPerson() {
    int person;
    do {
      person = static_cast<int>(rng_.Uniform(0, kPeople.size() - 1));
    } while (std::find(used_.begin(), used_.end(), person) != used_.end());
    used_.push_back(person);
    return person;
  }
  static std::string Name(int person) { return kPeople[person].name; }
  std::string Noun() const {
    switch (unit_) {
      case Unit::kItems:
        return kItems[item_].plural;
      case Unit::kDollars:
        return "dollars";
      case Unit::kContainers:
        return kContainers[container_].plural;
    }
    return "";
  }
  // The whole quantity as an object: "the apples", "the money".
  std::string TheWhole() const {
    return unit_ == Unit::kDollars ? "the money" : absl::StrCat("the ", Noun());
  }
  // An optional opening for a sentence about an action.
  std::string Lead() {
    switch (rng_.Uniform(1, 8)) {
      case 5:
      case 6:
        return "Then ";
      case 7:
        return "Later, ";
      case 8:
        return "After that, ";
      default:
        return "";
    }
  }
  // The holder as the subject of a sentence: a pronoun, half the time, when the previous
  // sentence was about them too; otherwise the name.
  std::string Subject() {
    if (subject_ == holder_ && rng_.OneIn(2)) return kPeople[holder_].she ? "she" : "he";
    return Name(holder_);
  }
  // " has now" when the holder's count changed since it was stated, so that comparisons
  // refer to the right moment.
  std::string Now() const { return holder_changed_ ? " has now" : ""; }

  void Apply(const TemplateInfo& info, int64_t b) {
    const int64_t v = value_;
    int64_t r = 0;
    switch (info.op) {
      case '+':
        r = v + b;
        break;
      case '-':
        r = v - b;
        break;
      case '*':
        r = v * b;
        break;
      default:
        r = v / b;
        break;
    }
    const std::string holder = Name(holder_);
    const std::string noun = Noun();
    const std::string equation = absl::StrCat(v, " ", std::string(1, info.op), " ", b, " = ", r);
    std::string sentence;
    std::string paragraph;
    bool holder_acts = true;  // false: a comparison introduces a new holder
    int next_subject = -1;    // who the sentence is about, when not the holder
    // Random draws happen in statements of their own, in a fixed order: the order in which a
    // function's arguments are evaluated is unspecified, and the output must not depend on
    // the compiler.
    const bool acted_by_holder =
        !IsComparison(info.id) && info.id != Template::kAddGift && info.id != Template::kMulGrow;
    const bool has_lead = !IsComparison(info.id);
    const std::string lead = has_lead ? Lead() : "";
    const std::string subject = acted_by_holder ? Subject() : "";
    if (const SimpleAction* action = FindSimpleAction(info.id)) {
      sentence = absl::StrCat(lead, subject, " ", action->verb, " ", b, " ", action->object, noun);
      paragraph =
          absl::StrCat("After ", action->gerund, ", ", holder, " has ", equation, " ", noun, ".");
    } else if (IsComparison(info.id)) {
      int other = NewPerson();
      std::string amount;
      if (info.id == Template::kCompareMore) {
        amount = absl::StrCat(b, " more ", noun, " than ");
      } else if (info.id == Template::kCompareFewer) {
        amount = absl::StrCat(b, " fewer ", noun, " than ");
      } else if (info.id == Template::kCompareTimes) {
        amount = absl::StrCat(b == 2 ? std::string("twice") : absl::StrCat(b, " times"),
                              " as many ", noun, " as ");
      } else {
        amount = absl::StrCat(FractionWord(b), " as many ", noun, " as ");
      }
      sentence = absl::StrCat(Name(other), " has ", amount, holder, Now());
      paragraph = absl::StrCat(Name(other), " has ", equation, " ", noun, ".");
      holder_ = other;
      holder_acts = false;
    } else {
      switch (info.id) {
        case Template::kAddGift: {
          int giver = NewPerson();
          sentence = absl::StrCat(lead, Name(giver), " gives ", holder, " ", b, " ", noun);
          paragraph = absl::StrCat("With the ", noun, " from ", Name(giver), ", ", holder, " has ",
                                   equation, " ", noun, ".");
          next_subject = giver;
          break;
        }
        case Template::kSubGive: {
          int receiver = NewPerson();
          sentence = absl::StrCat(lead, subject, " gives ", b, " ", noun, " to ", Name(receiver));
          paragraph = absl::StrCat("After giving some to ", Name(receiver), ", ", holder, " has ",
                                   equation, " ", noun, ".");
          break;
        }
        case Template::kSubSpend: {
          const char* purchase = kPurchases[rng_.Uniform(0, kPurchases.size() - 1)];
          sentence = absl::StrCat(lead, subject, " spends ", b, " dollars on ", purchase);
          paragraph = absl::StrCat("After paying for ", purchase, ", ", holder, " has ", equation,
                                   " dollars.");
          break;
        }
        case Template::kMulGrow: {
          std::string what = unit_ == Unit::kDollars
                                 ? absl::StrCat("the amount of money ", holder, " has")
                                 : absl::StrCat("the number of ", noun, " ", holder, " has");
          sentence = absl::StrCat(lead, what, b == 2 ? " doubles" : " triples");
          paragraph = absl::StrCat(holder, " now has ", equation, " ", noun, ".");
          break;
        }
        case Template::kMulPrice:
          sentence =
              absl::StrCat(lead, subject, " sells all of the ", noun, " for ", b, " dollars each");
          paragraph = absl::StrCat(holder, " gets ", equation, " dollars.");
          unit_ = Unit::kDollars;
          break;
        case Template::kDivHalve:
          sentence = absl::StrCat(lead, subject, " gives away half of ", TheWhole());
          paragraph = absl::StrCat(holder, " keeps ", equation, " ", noun, ".");
          break;
        case Template::kDivGroups:
          sentence = absl::StrCat(lead, subject, " splits ", TheWhole(), " into ", b,
                                  " equal parts and keeps one part");
          paragraph = absl::StrCat(holder, " keeps ", equation, " ", noun, ".");
          break;
        case Template::kDivShare:
          sentence =
              absl::StrCat(lead, subject, " shares ", TheWhole(), " equally among ", b, " friends");
          paragraph = absl::StrCat("Each friend gets ", equation, " ", noun, ".");
          break;
        case Template::kDivPack:
          container_ = static_cast<int>(rng_.Uniform(0, kContainers.size() - 1));
          sentence = absl::StrCat(lead, subject, " puts the ", noun, " into ",
                                  kContainers[container_].plural, " of ", b);
          unit_ = Unit::kContainers;
          paragraph = absl::StrCat(holder, " fills ", equation, " ", Noun(), ".");
          break;
        default:
          break;  // the simple actions and comparisons, handled above
      }
    }
    Say(std::move(sentence));
    // A comparison states the new holder's count; an action changes the holder's.
    holder_changed_ = holder_acts;
    // After a comparison two people were just named; a pronoun could mean either.
    subject_ = next_subject >= 0 ? next_subject : holder_acts ? holder_ : -1;
    value_ = r;
    last_template_ = info.id;
    Step({v, info.op, b, r, info.name}, std::move(paragraph));
  }

  void Say(std::string sentence) {
    sentences_.push_back(absl::StrCat(Capitalized(std::move(sentence)), "."));
  }
  void Step(ArithStep step, std::string paragraph) {
    steps_.push_back(std::move(step));
    paragraphs_.push_back(std::move(paragraph));
  }

  Rng& rng_;
  std::vector<int> used_;
  int holder_ = 0;
  bool holder_changed_ = false;  // the holder's count changed since it was stated
  Template last_template_ = Template::kAddBuy;
  int subject_ = -1;  // who the last sentence was about, for pronouns
  int item_ = 0;
  int container_ = 0;
  Unit unit_ = Unit::kItems;
  int64_t value_ = 0;
  std::vector<std::string> sentences_;
  std::string question_;
  std::vector<std::string> paragraphs_;
  std::vector<ArithStep> steps_;
};

// FNV-1a over the equations: the arithmetic chain, whatever its phrasing.
uint64_t ChainHash(const std::vector<ArithStep>& steps) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  auto feed = [&](uint64_t value) {
    for (int i = 0; i < 8; ++i) {
      hash ^= (value >> (8 * i)) & 0xff;
      hash *= 0x100000001b3ULL;
    }
  };
  for (const ArithStep& step : steps) {
    feed(static_cast<uint64_t>(step.lhs));
    feed(static_cast<uint64_t>(step.op));
    feed(static_cast<uint64_t>(step.rhs));
  }
  return hash;
}

// One chain in eight is a test chain. The high bits are used: FNV's low bits mix less.
ArithSplit SplitOfChain(const std::vector<ArithStep>& steps) {
  return (ChainHash(steps) >> 40) % 8 == 0 ? ArithSplit::kTest : ArithSplit::kTrain;
}

}  // namespace

absl::StatusOr<ArithSplit> ParseArithSplit(std::string_view name) {
  if (name == "train") return ArithSplit::kTrain;
  if (name == "test") return ArithSplit::kTest;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown arith split '", AsAbsl(name), "' (expected train or test)"));
}

std::string_view ArithSplitName(ArithSplit split) {
  return split == ArithSplit::kTrain ? "train" : "test";
}

absl::StatusOr<ArithProblem> GenerateArithProblem(ArithSplit split, uint64_t seed, int difficulty) {
  if (difficulty != 0 && (difficulty < kArithMinSteps || difficulty > kArithMaxSteps)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "arith difficulty ", difficulty, " is out of range (2 to 5 steps, or 0 for mixed)"));
  }
  // The split is part of the seed, so the two splits draw from unrelated streams.
  const uint64_t stream = Mix(split == ArithSplit::kTrain ? 0x747261696eULL : 0x74657374ULL, seed);
  for (uint64_t attempt = 0;; ++attempt) {
    Rng rng(Mix(stream, attempt));
    int steps = difficulty != 0 ? difficulty
                                : static_cast<int>(rng.Uniform(kArithMinSteps, kArithMaxSteps));
    Story story(rng);
    int done = story.Open(/*allow_step=*/true);
    for (; done < steps; ++done) story.Advance(/*last=*/done + 1 == steps);
    // Rejection keeps each split to its own chains; a test problem takes 8 draws on average.
    if (SplitOfChain(story.steps()) != split) continue;
    story.Finish();
    ArithProblem problem;
    problem.seed = seed;
    problem.difficulty = steps;
    problem.id = difficulty == 0
                     ? absl::StrCat(AsAbsl(ArithSplitName(split)), "/", seed)
                     : absl::StrCat(AsAbsl(ArithSplitName(split)), "/d", difficulty, "/", seed);
    problem.answer = story.value();
    problem.problem = story.ProblemText();
    problem.solution = story.SolutionText(problem.answer);
    problem.steps = std::move(story.steps());
    return problem;
  }
}

absl::StatusOr<std::vector<ArithProblem>> GenerateArithProblems(ArithSplit split, uint64_t seed,
                                                                int64_t count, int difficulty) {
  if (count < 0) {
    return absl::InvalidArgumentError(absl::StrCat("arith count ", count, " is negative"));
  }
  std::vector<ArithProblem> problems;
  problems.reserve(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    absl::StatusOr<ArithProblem> problem =
        GenerateArithProblem(split, seed + static_cast<uint64_t>(i), difficulty);
    if (!problem.ok()) return problem.status();
    problems.push_back(std::move(*problem));
  }
  return problems;
}

}  // namespace ponder::datasets
