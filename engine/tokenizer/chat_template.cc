#include "engine/tokenizer/chat_template.h"

#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/strings.h"
#include "base/utf8.h"

namespace ponder::engine {
namespace {

bool Contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

// Python's str.isspace() set, which Jinja's `trim` filter (str.strip) removes.
bool IsPythonWhitespace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

// Jinja's `trim` filter.
std::string_view Trim(std::string_view text) {
  size_t begin = 0;
  while (begin < text.size()) {
    char32_t c = 0;
    const size_t length = DecodeUtf8(text.substr(begin), &c);
    if (length == 0 || !IsPythonWhitespace(c)) break;
    begin += length;
  }
  size_t end = text.size();
  while (end > begin) {
    // Step back to the start of the last character.
    size_t start = end - 1;
    while (start > begin && (static_cast<uint8_t>(text[start]) & 0xC0) == 0x80) --start;
    char32_t c = 0;
    if (DecodeUtf8(text.substr(start, end - start), &c) != end - start || !IsPythonWhitespace(c)) {
      break;
    }
    end = start;
  }
  return text.substr(begin, end - begin);
}

// Python's str.lstrip(chars) / rstrip(chars) / strip(chars) for one ASCII character.
std::string_view LstripChar(std::string_view text, char c) {
  while (!text.empty() && text.front() == c) text.remove_prefix(1);
  return text;
}
std::string_view RstripChar(std::string_view text, char c) {
  while (!text.empty() && text.back() == c) text.remove_suffix(1);
  return text;
}

// Python's text.split(separator)[0] and [-1].
std::string_view BeforeFirst(std::string_view text, std::string_view separator) {
  const size_t at = text.find(separator);
  return at == std::string_view::npos ? text : text.substr(0, at);
}
std::string_view AfterLast(std::string_view text, std::string_view separator) {
  const size_t at = text.rfind(separator);
  return at == std::string_view::npos ? text : text.substr(at + separator.size());
}

// Undoes the escapes of a Jinja string literal.
std::string UnescapeJinjaString(std::string_view literal) {
  std::string out;
  for (size_t i = 0; i < literal.size(); ++i) {
    if (literal[i] != '\\' || i + 1 == literal.size()) {
      out.push_back(literal[i]);
      continue;
    }
    const char escaped = literal[++i];
    switch (escaped) {
      case 'n':
        out.push_back('\n');
        break;
      case 't':
        out.push_back('\t');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case '\\':
      case '\'':
      case '"':
        out.push_back(escaped);
        break;
      default:
        out.push_back('\\');
        out.push_back(escaped);
    }
  }
  return out;
}

// The index of the quote that closes the Jinja string literal running through `from`, or npos
// when it is not closed.
size_t LiteralEnd(std::string_view source, size_t from, char quote) {
  size_t end = from;
  while (end < source.size() && source[end] != quote) end += source[end] == '\\' ? 2 : 1;
  return end < source.size() ? end : std::string_view::npos;
}

// A template source cut into what Jinja sees: text, {{ output }} and {% statement %} tags, with
// comments removed and the text around tags trimmed as transformers' environment does
// (trim_blocks, lstrip_blocks, and the tags' own `-`). The code of a tag is in a canonical form
// for comparing it with the expressions of known templates: whitespace outside string literals
// dropped (one space kept between two words), every literal in single quotes, and
// `message.content` written `message['content']`. Formatters are chosen by whole output
// expressions and statements, so text in comments or in branches such as tool calls that merely
// contains a marker does not decide a format.
struct JinjaTag {
  enum class Type { kText, kOutput, kStatement };
  Type type;
  std::string text;  // kText: the text written; otherwise the canonical code
};

bool IsWordCharacter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

bool IsJinjaSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// The canonical form of the code of one tag (see JinjaTag); nullopt when a literal is not closed.
std::optional<std::string> CanonicalCode(std::string_view code) {
  std::string out;
  for (size_t i = 0; i < code.size();) {
    const char c = code[i];
    if (c == '\'' || c == '"') {
      const size_t end = LiteralEnd(code, i + 1, c);
      if (end == std::string_view::npos) return std::nullopt;
      out.push_back('\'');
      for (size_t j = i + 1; j < end; ++j) {
        if (code[j] == '\\' && j + 1 < end) {
          if (code[j + 1] == '"') {
            out.push_back('"');
          } else {
            out.append(code.substr(j, 2));
          }
          ++j;
        } else if (code[j] == '\'') {
          out.append("\\'");
        } else {
          out.push_back(code[j]);
        }
      }
      out.push_back('\'');
      i = end + 1;
    } else if (IsJinjaSpace(c)) {
      while (i < code.size() && IsJinjaSpace(code[i])) ++i;
      if (!out.empty() && i < code.size() && IsWordCharacter(out.back()) &&
          IsWordCharacter(code[i])) {
        out.push_back(' ');
      }
    } else {
      out.push_back(c);
      ++i;
    }
  }
  for (size_t at = out.find("message.content"); at != std::string::npos;
       at = out.find("message.content", at)) {
    out.replace(at, std::string_view("message.content").size(), "message['content']");
  }
  return out;
}

// See JinjaTag; nullopt when a tag or a literal in one is not closed.
std::optional<std::vector<JinjaTag>> ScanJinja(std::string_view source) {
  struct Piece {
    JinjaTag tag;
    bool trim_before = false;  // {{- {%- {#-
    bool trim_after = false;   // -}} -%} -#}
    bool block = false;        // a statement or a comment: trim_blocks / lstrip_blocks apply
  };
  std::vector<Piece> pieces;
  size_t at = 0;
  while (at < source.size()) {
    const size_t open = source.find('{', at);
    const bool tag =
        open != std::string_view::npos && open + 1 < source.size() &&
        (source[open + 1] == '{' || source[open + 1] == '%' || source[open + 1] == '#');
    if (!tag) {
      const size_t text_end = open == std::string_view::npos ? source.size() : open + 1;
      if (!pieces.empty() && pieces.back().tag.type == JinjaTag::Type::kText) {
        pieces.back().tag.text.append(source.substr(at, text_end - at));
      } else {
        pieces.push_back({{JinjaTag::Type::kText, std::string(source.substr(at, text_end - at))}});
      }
      at = text_end;
      continue;
    }
    if (open > at) {
      const std::string_view text = source.substr(at, open - at);
      if (!pieces.empty() && pieces.back().tag.type == JinjaTag::Type::kText) {
        pieces.back().tag.text.append(text);
      } else {
        pieces.push_back({{JinjaTag::Type::kText, std::string(text)}});
      }
    }
    const char kind = source[open + 1];
    const char closing = kind == '{' ? '}' : kind;
    size_t code_begin = open + 2;
    Piece piece;
    piece.trim_before = code_begin < source.size() && source[code_begin] == '-';
    if (piece.trim_before || (code_begin < source.size() && source[code_begin] == '+')) {
      ++code_begin;
    }
    size_t close = code_begin;
    while (close + 1 < source.size() && !(source[close] == closing && source[close + 1] == '}')) {
      if (kind != '#' && (source[close] == '\'' || source[close] == '"')) {
        close = LiteralEnd(source, close + 1, source[close]);
        if (close == std::string_view::npos) return std::nullopt;
      }
      ++close;
    }
    if (close + 1 >= source.size()) return std::nullopt;
    size_t code_end = close;
    piece.trim_after = code_end > code_begin && source[code_end - 1] == '-';
    if (piece.trim_after || (code_end > code_begin && source[code_end - 1] == '+')) --code_end;
    piece.block = kind != '{';
    if (kind != '#') {
      std::optional<std::string> code =
          CanonicalCode(source.substr(code_begin, code_end - code_begin));
      if (!code.has_value()) return std::nullopt;
      piece.tag = {kind == '{' ? JinjaTag::Type::kOutput : JinjaTag::Type::kStatement,
                   std::move(*code)};
    } else {
      piece.tag = {JinjaTag::Type::kStatement, std::string()};  // a comment, removed below
    }
    pieces.push_back(std::move(piece));
    at = close + 2;
  }
  std::vector<JinjaTag> tags;
  for (size_t i = 0; i < pieces.size(); ++i) {
    if (pieces[i].tag.type != JinjaTag::Type::kText) {
      if (!pieces[i].tag.text.empty()) tags.push_back(std::move(pieces[i].tag));
      continue;
    }
    std::string_view text = pieces[i].tag.text;
    if (i > 0 && pieces[i - 1].trim_after) {
      while (!text.empty() && IsJinjaSpace(text.front())) text.remove_prefix(1);
    } else if (i > 0 && pieces[i - 1].block && text.starts_with('\n')) {
      text.remove_prefix(1);  // trim_blocks
    }
    if (i + 1 < pieces.size() && pieces[i + 1].trim_before) {
      while (!text.empty() && IsJinjaSpace(text.back())) text.remove_suffix(1);
    } else if (i + 1 < pieces.size() && pieces[i + 1].block) {
      // lstrip_blocks: spaces and tabs between the start of a line and a block tag.
      const size_t last = std::string_view(pieces[i].tag.text).find_last_not_of(" \t");
      if (last == std::string_view::npos ? i == 0 : pieces[i].tag.text[last] == '\n') {
        while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
      }
    }
    if (!text.empty()) tags.push_back({JinjaTag::Type::kText, std::string(text)});
  }
  return tags;
}

// Whether `tags` have an output tag or a statement whose code is `code` (written in any layout).
bool HasTag(std::span<const JinjaTag> tags, JinjaTag::Type type, std::string_view code) {
  const std::optional<std::string> canonical = CanonicalCode(code);
  for (const JinjaTag& tag : tags) {
    if (tag.type == type && tag.text == canonical) return true;
  }
  return false;
}
bool HasOutput(std::span<const JinjaTag> tags, std::string_view code) {
  return HasTag(tags, JinjaTag::Type::kOutput, code);
}
bool HasStatement(std::span<const JinjaTag> tags, std::string_view code) {
  return HasTag(tags, JinjaTag::Type::kStatement, code);
}

// The system prompt a ChatML template writes when the conversation has none: Qwen2 and Qwen2.5
// templates hold it as one string literal '<|im_start|>system\n<prompt><|im_end|>\n'.
std::optional<std::string> FindDefaultSystemPrompt(std::string_view source) {
  constexpr std::string_view kOpening = "<|im_start|>system\\n";
  for (size_t at = source.find(kOpening); at != std::string_view::npos;
       at = source.find(kOpening, at + 1)) {
    // The literal's quote is the nearest quote before the marker.
    const size_t quote_at = source.find_last_of("'\"", at);
    if (quote_at == std::string_view::npos) continue;
    const char quote = source[quote_at];
    const size_t body = at + kOpening.size();
    const size_t end = LiteralEnd(source, body, quote);
    if (end == std::string_view::npos) continue;
    const std::string_view rest = source.substr(body, end - body);
    const size_t im_end = rest.find("<|im_end|>");
    if (im_end == std::string_view::npos || im_end == 0) continue;
    return UnescapeJinjaString(rest.substr(0, im_end));
  }
  return std::nullopt;
}

// Whether a template's code splits a text on '</think>' (QwQ-32B's and Qwen3's assistant turns;
// not a comment, nor a generation prompt that merely writes the tag).
bool SplitsOnThinkEnd(std::string_view source) {
  const std::optional<std::vector<JinjaTag>> tags = ScanJinja(source);
  if (!tags.has_value()) return false;
  for (const JinjaTag& tag : *tags) {
    if (tag.type != JinjaTag::Type::kText && Contains(tag.text, ".split('</think>')")) return true;
  }
  return false;
}

// The value of an output expression that joins string literals ('a' + 'b', in canonical code);
// nullopt for anything else (a variable, a filter).
std::optional<std::string> EvaluateLiterals(std::string_view code) {
  std::string value;
  for (size_t at = 0;;) {
    if (at >= code.size() || code[at] != '\'') return std::nullopt;
    const size_t end = LiteralEnd(code, at + 1, '\'');
    if (end == std::string_view::npos) return std::nullopt;
    value += UnescapeJinjaString(code.substr(at + 1, end - at - 1));
    at = end + 1;
    if (at == code.size()) return value;
    if (code[at] != '+') return std::nullopt;
    ++at;
  }
}

// The value of an `if` condition on enable_thinking (in canonical code) in the two cases
// ChatTemplateOptions gives: the variable undefined (transformers passes it only when the caller
// does, and Ponder only to turn thinking off) and false. Conditions are the tests below joined
// by `and` / `or`; nullopt for any other.
struct ThinkingCondition {
  bool when_undefined;
  bool when_false;
};
std::optional<ThinkingCondition> EvaluateThinkingCondition(std::string_view code) {
  // Jinja's Undefined is falsy and equal to nothing; `enable_thinking is false` is an identity
  // test, so it too is false while the variable is undefined.
  struct Test {
    std::string_view code;
    ThinkingCondition value;
  };
  constexpr Test kTests[] = {
      {"enable_thinking", {false, false}},
      {"not enable_thinking", {true, true}},
      {"enable_thinking is defined", {false, true}},
      {"enable_thinking is not defined", {true, false}},
      {"enable_thinking is false", {false, true}},
      {"enable_thinking is not false", {true, false}},
      {"enable_thinking is true", {false, false}},
      {"enable_thinking is not true", {true, true}},
      {"enable_thinking==false", {false, true}},
      {"enable_thinking!=false", {true, false}},
  };
  auto split = [](std::string_view text, std::string_view separator) {
    std::vector<std::string_view> parts;
    for (size_t at = text.find(separator);; at = text.find(separator)) {
      parts.push_back(text.substr(0, at));
      if (at == std::string_view::npos) return parts;
      text.remove_prefix(at + separator.size());
    }
  };
  ThinkingCondition any = {false, false};  // `or` binds loosest, as in Python
  for (std::string_view alternative : split(code, " or ")) {
    ThinkingCondition all = {true, true};
    for (std::string_view part : split(alternative, " and ")) {
      const Test* test = nullptr;
      for (const Test& candidate : kTests) {
        if (candidate.code == part) test = &candidate;
      }
      if (test == nullptr) return std::nullopt;
      all.when_undefined = all.when_undefined && test->value.when_undefined;
      all.when_false = all.when_false && test->value.when_false;
    }
    any.when_undefined = any.when_undefined || all.when_undefined;
    any.when_false = any.when_false || all.when_false;
  }
  return any;
}

// What a ChatML template's generation prompt writes with enable_thinking undefined and false,
// read by evaluating its one `{% if add_generation_prompt %}` block: text, outputs that join
// string literals, and if/elif/else on enable_thinking (EvaluateThinkingCondition). Most write
// '<|im_start|>assistant\n'; thinking models (QwQ-32B, Qwen3-*-Thinking-2507) also open the
// reasoning block, '<|im_start|>assistant\n<think>\n'; Qwen3 writes an empty one when thinking
// is turned off. nullopt when the block is anything else, is not the template's only use of
// add_generation_prompt, or the template sets enable_thinking itself.
struct ChatMlGenerationPrompt {
  std::string thinking;
  std::string not_thinking;
};
std::optional<ChatMlGenerationPrompt> ReadChatMlGenerationPrompt(std::string_view source) {
  const std::optional<std::vector<JinjaTag>> tags = ScanJinja(source);
  if (!tags.has_value()) return std::nullopt;
  size_t block = tags->size();
  for (size_t i = 0; i < tags->size(); ++i) {
    const JinjaTag& tag = (*tags)[i];
    if (tag.type == JinjaTag::Type::kText) continue;
    if (tag.type == JinjaTag::Type::kStatement && tag.text.starts_with("set enable_thinking")) {
      return std::nullopt;
    }
    if (!Contains(tag.text, "add_generation_prompt")) continue;
    if (block != tags->size() || tag.type != JinjaTag::Type::kStatement ||
        tag.text != "if add_generation_prompt") {
      return std::nullopt;
    }
    block = i;
  }
  if (block == tags->size()) return std::nullopt;
  // The branches the block is in, innermost last: whether each writes in the two cases, and
  // whether an earlier branch of its `if` already has.
  struct Branch {
    ThinkingCondition writes;
    ThinkingCondition taken;
  };
  std::vector<Branch> branches;
  auto enclosing = [&branches]() -> ThinkingCondition {
    return branches.size() < 2 ? ThinkingCondition{true, true}
                               : branches[branches.size() - 2].writes;
  };
  ChatMlGenerationPrompt prompt;
  for (size_t i = block + 1; i < tags->size(); ++i) {
    const JinjaTag& tag = (*tags)[i];
    std::optional<std::string> text;
    if (tag.type == JinjaTag::Type::kText) {
      text = tag.text;
    } else if (tag.type == JinjaTag::Type::kOutput) {
      text = EvaluateLiterals(tag.text);
      if (!text.has_value()) return std::nullopt;
    } else if (tag.text == "endif") {
      if (branches.empty()) {
        const bool opens_assistant_turn =
            prompt.thinking.starts_with("<|im_start|>assistant\n") &&
            prompt.not_thinking.starts_with("<|im_start|>assistant\n");
        return opens_assistant_turn ? std::optional(std::move(prompt)) : std::nullopt;
      }
      branches.pop_back();
    } else if (tag.text.starts_with("if ") || tag.text.starts_with("elif ") || tag.text == "else") {
      const bool opens = tag.text.starts_with("if ");
      if (!opens && branches.empty()) return std::nullopt;  // the block's own else
      std::optional<ThinkingCondition> condition = ThinkingCondition{true, true};
      if (tag.text != "else") {
        condition = EvaluateThinkingCondition(tag.text.substr(tag.text.find(' ') + 1));
      }
      if (!condition.has_value()) return std::nullopt;
      if (opens) branches.push_back({{false, false}, {false, false}});
      Branch& branch = branches.back();
      const ThinkingCondition outer = enclosing();
      branch.writes = {
          outer.when_undefined && !branch.taken.when_undefined && condition->when_undefined,
          outer.when_false && !branch.taken.when_false && condition->when_false};
      branch.taken = {branch.taken.when_undefined || condition->when_undefined,
                      branch.taken.when_false || condition->when_false};
    } else {
      return std::nullopt;
    }
    if (text.has_value()) {
      const ThinkingCondition writes =
          branches.empty() ? ThinkingCondition{true, true} : branches.back().writes;
      if (writes.when_undefined) prompt.thinking += *text;
      if (writes.when_false) prompt.not_thinking += *text;
    }
  }
  return std::nullopt;  // the block is not closed
}

// The value of `{%- set name = "literal" %}` in a template source; nullopt when the source does
// not set `name` to a string literal.
std::optional<std::string> FindSetLiteral(std::string_view source, std::string_view name) {
  const std::string statement = absl::StrCat("set ", AsAbsl(name), " = ");
  const size_t at = source.find(statement);
  if (at == std::string_view::npos) return std::nullopt;
  const size_t body = at + statement.size();
  if (body >= source.size() || (source[body] != '\'' && source[body] != '"')) return std::nullopt;
  const char quote = source[body];
  const size_t end = LiteralEnd(source, body + 1, quote);
  if (end == std::string_view::npos) return std::nullopt;
  return UnescapeJinjaString(source.substr(body + 1, end - body - 1));
}

absl::Status UnsupportedRole(const ChatMessage& message, size_t index, ChatTemplate::Kind kind) {
  return absl::InvalidArgumentError(
      absl::StrCat("message ", index, " has role '", message.role, "', which the ",
                   AsAbsl(ChatTemplate::KindName(kind)), " chat template does not render"));
}

absl::Status NotAlternating(size_t index, std::string_view rule) {
  return absl::InvalidArgumentError(
      absl::StrCat("message ", index, " breaks the template's rule: ", AsAbsl(rule)));
}

}  // namespace

std::string_view ChatTemplate::KindName(Kind kind) {
  switch (kind) {
    case Kind::kRaw:
      return "raw";
    case Kind::kChatML:
      return "chatml";
    case Kind::kLlama3:
      return "llama3";
    case Kind::kMistral:
      return "mistral";
    case Kind::kDeepSeekR1:
      return "deepseek-r1";
    case Kind::kGemma:
      return "gemma";
  }
  return "raw";
}

std::optional<ChatTemplate::Kind> ChatTemplate::ParseKind(std::string_view name) {
  for (Kind kind : {Kind::kRaw, Kind::kChatML, Kind::kLlama3, Kind::kMistral, Kind::kDeepSeekR1,
                    Kind::kGemma}) {
    if (KindName(kind) == name) return kind;
  }
  return std::nullopt;
}

ChatTemplate ChatTemplate::ForKind(Kind kind, std::string bos_token, std::string eos_token) {
  ChatTemplate chat_template;
  chat_template.kind_ = kind;
  chat_template.recognized_ = true;
  chat_template.bos_token_ = std::move(bos_token);
  chat_template.eos_token_ = std::move(eos_token);
  return chat_template;
}

ChatTemplate ChatTemplate::FromJinja(std::string_view source, std::string bos_token,
                                     std::string eos_token, bool add_bos) {
  ChatTemplate chat_template = ForKind(Kind::kRaw, std::move(bos_token), std::move(eos_token));
  chat_template.raw_bos_ = add_bos;
  chat_template.has_source_ = !source.empty();
  chat_template.recognized_ = true;
  if (Contains(source, "<|im_start|>")) {
    chat_template.kind_ = Kind::kChatML;
    chat_template.default_system_prompt_ = FindDefaultSystemPrompt(source);
    // Written: bos_token inside an output expression ({{ ... }}) before the first turn.
    const size_t first_turn = source.find("<|im_start|>");
    for (size_t bos = source.find("bos_token"); bos < first_turn;
         bos = source.find("bos_token", bos + 1)) {
      const size_t open = source.rfind("{{", bos), close = source.rfind("}}", bos);
      if (open != std::string_view::npos && (close == std::string_view::npos || close < open)) {
        chat_template.chat_ml_bos_ = true;
        break;
      }
    }
    if (Contains(source, "</think>") &&
        (Contains(source, "last_query_index") || Contains(source, "reasoning_content"))) {
      chat_template.chat_ml_reasoning_ = ChatMlReasoning::kQwen3;
    } else if (SplitsOnThinkEnd(source)) {
      chat_template.chat_ml_reasoning_ = ChatMlReasoning::kStripped;
    }
    if (std::optional<ChatMlGenerationPrompt> prompt = ReadChatMlGenerationPrompt(source)) {
      chat_template.chat_ml_generation_prompt_ = std::move(prompt->thinking);
      chat_template.chat_ml_generation_prompt_without_thinking_ = std::move(prompt->not_thinking);
    } else {
      chat_template.chat_ml_generation_prompt_read_ = false;  // the plain one, with a warning
    }
  } else if (Contains(source, "<|start_header_id|>")) {
    chat_template.kind_ = Kind::kLlama3;
    chat_template.llama3_dated_system_header_ = Contains(source, "Cutting Knowledge Date");
  } else if (Contains(source, "<｜User｜>") && Contains(source, "<｜Assistant｜>")) {
    chat_template.kind_ = Kind::kDeepSeekR1;
  } else if (Contains(source, "[INST]") && !Contains(source, "<<SYS>>")) {
    // Llama 2's [INST] <<SYS>> format is a different family, left unrecognised.
    std::optional<MistralFormat> format = ReadMistralFormat(source);
    if (format.has_value()) {
      chat_template.kind_ = Kind::kMistral;
      chat_template.mistral_format_ = std::move(*format);
      if (chat_template.mistral_format_.system == MistralFormat::System::kTags) {
        chat_template.default_system_prompt_ = FindSetLiteral(source, "default_system_message");
      }
    } else {
      chat_template.recognized_ = false;
    }
  } else if (Contains(source, "<start_of_turn>")) {
    chat_template.kind_ = Kind::kGemma;
  } else {
    chat_template.recognized_ = false;
  }
  return chat_template;
}

std::string ChatTemplate::FormatWarning(std::string_view model_name) const {
  if (recognized_ && (kind_ != Kind::kChatML || chat_ml_generation_prompt_read_)) {
    return std::string();
  }
  if (recognized_) {
    return absl::StrCat(
        "warning: model ", AsAbsl(model_name),
        ": the generation prompt of its ChatML chat template (its {% if add_generation_prompt %} "
        "block) is not one Ponder reads (it reads text and joined string literals, under "
        "conditions on enable_thinking), so its chat prompts end with the plain "
        "\"<|im_start|>assistant\\n\". Where the template writes more there, such as a "
        "thinking model's \"<think>\\n\", the model is not prompted as it was trained.");
  }
  const std::string_view why =
      has_source_ ? "its chat template is not one Ponder formats (it recognises ChatML/Qwen, "
                    "Llama 3, Mistral [INST], DeepSeek-R1 and Gemma templates)"
                  : "it has no chat template (looked for: a GGUF file's tokenizer.chat_template; "
                    "a folder's chat_template.jinja or additional_chat_templates/default.jinja, "
                    "tokenizer_config.json's chat_template (the one named \"default\" in a "
                    "list), chat_template.json)";
  return absl::StrCat("warning: model ", AsAbsl(model_name), ": ", AsAbsl(why),
                      ", so its chat prompts use the raw format: the messages' text joined by "
                      "blank lines, without role markers. That suits a base model; a chat model "
                      "needs its template added there to be prompted as it was trained.");
}

absl::StatusOr<std::string> ChatTemplate::Apply(std::span<const ChatMessage> messages,
                                                bool add_generation_prompt,
                                                const ChatTemplateOptions& options) const {
  switch (kind_) {
    case Kind::kChatML:
      return ApplyChatMl(messages, add_generation_prompt, options);
    case Kind::kLlama3:
      return ApplyLlama3(messages, add_generation_prompt, options);
    case Kind::kMistral:
      return ApplyMistral(messages);
    case Kind::kDeepSeekR1:
      return ApplyDeepSeekR1(messages, add_generation_prompt);
    case Kind::kGemma:
      return ApplyGemma(messages, add_generation_prompt);
    case Kind::kRaw:
      break;
  }
  // Like every rendering, encoded with add_bos=false: the BOS a plain prompt gets is written here.
  std::string text = raw_bos_ ? bos_token_ : std::string();
  for (size_t i = 0; i < messages.size(); ++i) {
    if (i > 0) text.append("\n\n");
    text.append(messages[i].content);
  }
  return text;
}

// Qwen2.5-7B-Instruct's and Qwen3's templates without tools.
absl::StatusOr<std::string> ChatTemplate::ApplyChatMl(std::span<const ChatMessage> messages,
                                                      bool add_generation_prompt,
                                                      const ChatTemplateOptions& options) const {
  std::string text = chat_ml_bos_ ? bos_token_ : std::string();
  const bool starts_with_system = !messages.empty() && messages[0].role == "system";
  if (starts_with_system) {
    absl::StrAppend(&text, "<|im_start|>system\n", messages[0].content, "<|im_end|>\n");
  } else if (default_system_prompt_.has_value()) {
    absl::StrAppend(&text, "<|im_start|>system\n", *default_system_prompt_, "<|im_end|>\n");
  }

  // Qwen3: reasoning is kept only for assistant turns after the last real user query (a user
  // message that is not a wrapped tool response).
  size_t last_query = messages.empty() ? 0 : messages.size() - 1;
  for (size_t i = messages.size(); i-- > 0;) {
    const std::string_view content = messages[i].content;
    const bool tool_response =
        content.starts_with("<tool_response>") && content.ends_with("</tool_response>");
    if (messages[i].role == "user" && !tool_response) {
      last_query = i;
      break;
    }
  }

  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& message = messages[i];
    const bool last = i + 1 == messages.size();
    if (message.role == "user" || (message.role == "system" && i > 0)) {
      absl::StrAppend(&text, "<|im_start|>", message.role, "\n", message.content, "<|im_end|>\n");
    } else if (message.role == "system") {
      continue;  // written above
    } else if (message.role == "assistant") {
      if (chat_ml_reasoning_ == ChatMlReasoning::kVerbatim) {
        absl::StrAppend(&text, "<|im_start|>assistant\n", message.content, "<|im_end|>\n");
        continue;
      }
      if (chat_ml_reasoning_ == ChatMlReasoning::kStripped) {
        // QwQ: content.split('</think>')[-1].lstrip('\n'), in every turn.
        absl::StrAppend(&text, "<|im_start|>assistant\n",
                        AsAbsl(LstripChar(AfterLast(message.content, "</think>"), '\n')),
                        "<|im_end|>\n");
        continue;
      }
      std::string_view content = message.content;
      std::string_view reasoning;
      if (Contains(content, "</think>")) {
        reasoning = LstripChar(
            AfterLast(RstripChar(BeforeFirst(message.content, "</think>"), '\n'), "<think>"), '\n');
        content = LstripChar(AfterLast(message.content, "</think>"), '\n');
      }
      if (i > last_query && (last || !reasoning.empty())) {
        absl::StrAppend(&text, "<|im_start|>assistant\n<think>\n",
                        AsAbsl(RstripChar(LstripChar(reasoning, '\n'), '\n')), "\n</think>\n\n",
                        AsAbsl(LstripChar(content, '\n')), "<|im_end|>\n");
      } else {
        absl::StrAppend(&text, "<|im_start|>assistant\n", AsAbsl(content), "<|im_end|>\n");
      }
    } else if (message.role == "tool") {
      // Consecutive tool results share one user turn.
      if (i == 0 || messages[i - 1].role != "tool") text.append("<|im_start|>user");
      absl::StrAppend(&text, "\n<tool_response>\n", message.content, "\n</tool_response>");
      if (last || messages[i + 1].role != "tool") text.append("<|im_end|>\n");
    } else {
      return UnsupportedRole(message, i, kind_);
    }
  }
  if (add_generation_prompt) {
    text.append(options.enable_thinking ? chat_ml_generation_prompt_
                                        : chat_ml_generation_prompt_without_thinking_);
  }
  return text;
}

// Meta-Llama-3-8B-Instruct's template (undated), and Llama 3.1/3.2's without tools (dated).
absl::StatusOr<std::string> ChatTemplate::ApplyLlama3(std::span<const ChatMessage> messages,
                                                      bool add_generation_prompt,
                                                      const ChatTemplateOptions& options) const {
  auto append_turn = [](std::string_view role, std::string_view content, std::string* text) {
    absl::StrAppend(text, "<|start_header_id|>", AsAbsl(role), "<|end_header_id|>\n\n",
                    AsAbsl(Trim(content)), "<|eot_id|>");
  };
  std::string text;
  if (!llama3_dated_system_header_) {
    for (size_t i = 0; i < messages.size(); ++i) {
      if (i == 0) text.append(bos_token_);
      append_turn(messages[i].role, messages[i].content, &text);
    }
  } else {
    text.append(bos_token_);
    size_t first = 0;
    std::string_view system_message;
    if (!messages.empty() && messages[0].role == "system") {
      system_message = Trim(messages[0].content);
      first = 1;
    }
    absl::StrAppend(&text,
                    "<|start_header_id|>system<|end_header_id|>\n\n"
                    "Cutting Knowledge Date: December 2023\nToday Date: ",
                    options.date_string, "\n\n", AsAbsl(system_message), "<|eot_id|>");
    for (size_t i = first; i < messages.size(); ++i) {
      if (messages[i].role == "tool" || messages[i].role == "ipython") {
        return UnsupportedRole(messages[i], i, kind_);  // tool results: not supported here
      }
      append_turn(messages[i].role, messages[i].content, &text);
    }
  }
  if (add_generation_prompt) text.append("<|start_header_id|>assistant<|end_header_id|>\n\n");
  return text;
}

std::optional<ChatTemplate::MistralFormat> ChatTemplate::ReadMistralFormat(
    std::string_view source) {
  const std::optional<std::vector<JinjaTag>> tags = ScanJinja(source);
  if (!tags.has_value()) return std::nullopt;
  MistralFormat format;
  // The user's turn, told apart by the spaces around the tags.
  int found = 0;
  for (std::string_view open : {"[INST]", "[INST] ", " [INST] "}) {
    for (std::string_view close : {"[/INST]", " [/INST]"}) {
      if (HasOutput(*tags, absl::StrCat("'", AsAbsl(open), "' + message['content'] + '",
                                        AsAbsl(close), "'"))) {
        format.inst_open = open;
        format.inst_close = close;
        ++found;
      }
    }
  }
  if (found != 1) return std::nullopt;
  // The assistant's.
  struct AssistantForm {
    std::string_view expression;
    std::string_view open;
    bool trim;
    std::string_view close;
    std::string_view after_eos;
  };
  constexpr AssistantForm kAssistantForms[] = {
      {"message['content'] + eos_token", "", false, "", ""},         // Nemo, Small 3, 2023 Mixtral
      {"message['content'] + eos_token + ' '", "", false, "", " "},  // 2023 v0.1
      {"' ' + message['content'] + eos_token", " ", false, "", ""},  // 2024 v0.1, Large
      {"' ' + message['content'] + ' ' + eos_token", " ", false, " ", ""},  // Mixtral-8x22B
      {"' ' + message['content']|trim + eos_token", " ", true, "", ""},     // v0.3
  };
  found = 0;
  for (const AssistantForm& form : kAssistantForms) {
    if (!HasOutput(*tags, form.expression)) continue;
    format.assistant_open = form.open;
    format.trim_assistant = form.trim;
    format.assistant_close = form.close;
    format.after_eos = form.after_eos;
    ++found;
  }
  if (found != 1) return std::nullopt;
  // The system message.
  if (Contains(source, "[SYSTEM_PROMPT]")) {
    // Mistral Small 3.1+ put today's date into their default system prompt, which is not
    // reproduced.
    if (Contains(source, "strftime_now")) return std::nullopt;
    found = 0;
    for (std::string_view open : {"[SYSTEM_PROMPT]", "[SYSTEM_PROMPT] "}) {
      if (HasOutput(*tags, absl::StrCat("'", AsAbsl(open),
                                        "' + message['content'] + '[/SYSTEM_PROMPT]'"))) {
        format.system_prompt_open = open;
        ++found;
      }
    }
    if (found != 1) return std::nullopt;
    format.system = MistralFormat::System::kTags;
    // Small 3 writes the first system message, or its default, from `system_message`.
    if (Contains(source, "system_message") &&
        (!HasOutput(*tags, absl::StrCat("'", format.system_prompt_open,
                                        "' + system_message + '[/SYSTEM_PROMPT]'")) ||
         !FindSetLiteral(source, "default_system_message").has_value())) {
      return std::nullopt;
    }
    return format;
  }
  if (!HasOutput(*tags, absl::StrCat("'", format.inst_open,
                                     "' + system_message + '\\n\\n' + message['content'] + '",
                                     format.inst_close, "'"))) {
    format.system = MistralFormat::System::kNone;
  } else if (HasStatement(*tags, "if loop.first and system_message is defined")) {
    format.system = MistralFormat::System::kFirstTurn;
  } else if (HasStatement(*tags, "if loop.last and system_message is defined")) {
    format.system = MistralFormat::System::kLastTurn;
  } else if (HasStatement(*tags,
                          "if (message == user_messages[-1]) and system_message is defined")) {
    format.system = MistralFormat::System::kLastUserMessage;
  } else {
    return std::nullopt;
  }
  return format;
}

// Mistral's [INST] templates without tools: Mistral-Nemo-Instruct-2407's, Mistral-7B-Instruct
// v0.3's, and v0.1/v0.2's and Mixtral's (2023 and 2024), as read by ReadMistralFormat. None has
// a generation prompt: a conversation ending with [/INST] is already one.
absl::StatusOr<std::string> ChatTemplate::ApplyMistral(
    std::span<const ChatMessage> messages) const {
  using System = MistralFormat::System;
  const MistralFormat& format = mistral_format_;
  if (format.system == System::kTags) return ApplyMistralSystemPrompt(messages);
  std::optional<std::string_view> system_message;
  std::span<const ChatMessage> turns = messages;
  if (!messages.empty() && messages[0].role == "system") {
    if (format.system == System::kNone) {
      return absl::InvalidArgumentError(
          "message 0 has role 'system', which the mistral chat template of this model does not "
          "accept (it renders only user and assistant messages, alternating); leave the system "
          "prompt out (solve and bench: --system-prompt '')");
    }
    system_message = messages[0].content;
    turns = messages.subspan(1);
  }
  const size_t offset = messages.size() - turns.size();
  for (size_t i = 0; i < turns.size(); ++i) {
    if ((turns[i].role == "user") != (i % 2 == 0)) {
      return NotAlternating(i + offset,
                            "after an optional system message, roles must alternate "
                            "user/assistant/user/...");
    }
  }
  // kLastUserMessage: Jinja compares the messages as dicts, so every user message equal to the
  // last one gets the system message.
  std::string_view last_user_content;
  for (const ChatMessage& message : turns) {
    if (message.role == "user") last_user_content = message.content;
  }
  std::string text = bos_token_;
  for (size_t i = 0; i < turns.size(); ++i) {
    const ChatMessage& message = turns[i];
    if (message.role == "user") {
      bool with_system = false;
      switch (format.system) {
        case System::kFirstTurn:
          with_system = i == 0;
          break;
        case System::kLastTurn:
          with_system = i + 1 == turns.size();
          break;
        case System::kLastUserMessage:
          with_system = message.content == last_user_content;
          break;
        case System::kNone:
        case System::kTags:
          break;
      }
      if (with_system && system_message.has_value()) {
        absl::StrAppend(&text, format.inst_open, AsAbsl(*system_message), "\n\n", message.content,
                        format.inst_close);
      } else {
        absl::StrAppend(&text, format.inst_open, message.content, format.inst_close);
      }
    } else if (message.role == "assistant") {
      AppendMistralAssistantTurn(message.content, &text);
    } else {
      return UnsupportedRole(message, i + offset, kind_);
    }
  }
  return text;
}

// An assistant turn in the [INST] format: its text, spaced and trimmed as the template writes it,
// then EOS.
void ChatTemplate::AppendMistralAssistantTurn(std::string_view content, std::string* text) const {
  const MistralFormat& format = mistral_format_;
  absl::StrAppend(text, format.assistant_open,
                  format.trim_assistant ? AsAbsl(Trim(content)) : AsAbsl(content),
                  format.assistant_close, eos_token_, format.after_eos);
}

// Mistral-Small-24B-Instruct-2501's and Mistral-Large-Instruct-2411's templates: system
// messages in [SYSTEM_PROMPT] tags where they stand, Small 3's default one when the conversation
// does not start with one. Roles need not alternate.
absl::StatusOr<std::string> ChatTemplate::ApplyMistralSystemPrompt(
    std::span<const ChatMessage> messages) const {
  const MistralFormat& format = mistral_format_;
  std::string text = bos_token_;
  if ((messages.empty() || messages[0].role != "system") && default_system_prompt_.has_value()) {
    absl::StrAppend(&text, format.system_prompt_open, *default_system_prompt_, "[/SYSTEM_PROMPT]");
  }
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& message = messages[i];
    if (message.role == "system") {
      absl::StrAppend(&text, format.system_prompt_open, message.content, "[/SYSTEM_PROMPT]");
    } else if (message.role == "user") {
      absl::StrAppend(&text, format.inst_open, message.content, format.inst_close);
    } else if (message.role == "assistant") {
      AppendMistralAssistantTurn(message.content, &text);
    } else {
      return UnsupportedRole(message, i, kind_);
    }
  }
  return text;
}

// DeepSeek-R1-Distill-Qwen's template without tools.
absl::StatusOr<std::string> ChatTemplate::ApplyDeepSeekR1(std::span<const ChatMessage> messages,
                                                          bool add_generation_prompt) const {
  std::string_view system_prompt;  // the last system message wins, as in the template
  for (const ChatMessage& message : messages) {
    if (message.role == "system") system_prompt = message.content;
  }
  std::string text = absl::StrCat(bos_token_, AsAbsl(system_prompt));
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& message = messages[i];
    if (message.role == "user") {
      absl::StrAppend(&text, "<｜User｜>", message.content);
    } else if (message.role == "assistant") {
      // Earlier reasoning is dropped: only what follows the last </think> is kept.
      absl::StrAppend(&text, "<｜Assistant｜>", AsAbsl(AfterLast(message.content, "</think>")),
                      "<｜end▁of▁sentence｜>");
    } else if (message.role != "system") {
      return UnsupportedRole(message, i, kind_);
    }
  }
  if (add_generation_prompt) text.append("<｜Assistant｜><think>\n");
  return text;
}

// gemma-2-2b-it's template.
absl::StatusOr<std::string> ChatTemplate::ApplyGemma(std::span<const ChatMessage> messages,
                                                     bool add_generation_prompt) const {
  if (!messages.empty() && messages[0].role == "system") {
    return absl::InvalidArgumentError(
        "message 0 has role 'system', which the gemma chat template does not support");
  }
  std::string text = bos_token_;
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& message = messages[i];
    if ((message.role == "user") != (i % 2 == 0)) {
      return NotAlternating(i, "roles must alternate user/assistant/user/...");
    }
    const std::string_view role =
        message.role == "assistant" ? std::string_view("model") : std::string_view(message.role);
    absl::StrAppend(&text, "<start_of_turn>", AsAbsl(role), "\n", AsAbsl(Trim(message.content)),
                    "<end_of_turn>\n");
  }
  if (add_generation_prompt) text.append("<start_of_turn>model\n");
  return text;
}

}  // namespace ponder::engine
