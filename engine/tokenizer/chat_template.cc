#include "engine/tokenizer/chat_template.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/strings.h"
#include "engine/tokenizer/utf8.h"

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

// The text a ChatML template writes for add_generation_prompt: its first string literal after the
// last mention of add_generation_prompt that opens the assistant's turn. Most write
// '<|im_start|>assistant\n'; thinking models (QwQ-32B, Qwen3-*-Thinking-2507) also open the
// reasoning block, '<|im_start|>assistant\n<think>\n'.
std::string FindChatMlGenerationPrompt(std::string_view source) {
  constexpr std::string_view kOpening = "<|im_start|>assistant\\n";
  constexpr std::string_view kPlain = "<|im_start|>assistant\n";
  const size_t block = source.rfind("add_generation_prompt");
  if (block == std::string_view::npos) return std::string(kPlain);
  const size_t at = source.find(kOpening, block);
  if (at == std::string_view::npos || at == 0) return std::string(kPlain);
  const char quote = source[at - 1];
  if (quote != '\'' && quote != '"') return std::string(kPlain);
  const size_t end = LiteralEnd(source, at, quote);
  if (end == std::string_view::npos) return std::string(kPlain);
  return UnescapeJinjaString(source.substr(at, end - at));
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
    chat_template.qwen3_reasoning_ = Contains(source, "</think>");
    chat_template.thinking_switch_ = Contains(source, "enable_thinking");
    chat_template.chat_ml_generation_prompt_ = FindChatMlGenerationPrompt(source);
  } else if (Contains(source, "<|start_header_id|>")) {
    chat_template.kind_ = Kind::kLlama3;
    chat_template.llama3_dated_system_header_ = Contains(source, "Cutting Knowledge Date");
  } else if (Contains(source, "<｜User｜>") && Contains(source, "<｜Assistant｜>")) {
    chat_template.kind_ = Kind::kDeepSeekR1;
  } else if (Contains(source, "[SYSTEM_PROMPT]") && !Contains(source, "strftime_now")) {
    // Mistral Small 3 (2501). Later ones (3.1+) put today's date into their default system
    // prompt, which is not reproduced: they are left unrecognised.
    chat_template.kind_ = Kind::kMistral;
    chat_template.mistral_format_ = MistralFormat::kSystemPrompt;
    chat_template.default_system_prompt_ = FindSetLiteral(source, "default_system_message");
  } else if (Contains(source, "[INST]") && !Contains(source, "<<SYS>>") &&
             !Contains(source, "[SYSTEM_PROMPT]")) {
    // Llama 2's [INST] <<SYS>> format is a different family, left unrecognised.
    chat_template.kind_ = Kind::kMistral;
    // v0.1/v0.2 write a space on both sides of the text ('[INST] ' + content + ' [/INST]'),
    // v0.3 only after [INST] ("[INST] " + content + "[/INST]"), Nemo on neither side.
    if (Contains(source, " [/INST]")) {
      chat_template.mistral_format_ = MistralFormat::kV1Spaced;
    } else if (Contains(source, "[INST] '") || Contains(source, "[INST] \"")) {
      chat_template.mistral_format_ = MistralFormat::kV3;
    }
  } else if (Contains(source, "<start_of_turn>")) {
    chat_template.kind_ = Kind::kGemma;
  } else {
    chat_template.recognized_ = false;
  }
  return chat_template;
}

std::string ChatTemplate::RawFormatWarning(std::string_view model_name) const {
  if (recognized_) return std::string();
  const std::string_view why =
      has_source_ ? "its chat template is not one Ponder formats (it recognises ChatML/Qwen, "
                    "Llama 3, Mistral [INST], DeepSeek-R1 and Gemma templates)"
                  : "it has no chat template (looked for: a GGUF file's tokenizer.chat_template; "
                    "a folder's chat_template.jinja, tokenizer_config.json's chat_template, "
                    "chat_template.json)";
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
  std::string text;
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
      if (!qwen3_reasoning_) {
        absl::StrAppend(&text, "<|im_start|>assistant\n", message.content, "<|im_end|>\n");
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
    text.append(chat_ml_generation_prompt_);
    if (thinking_switch_ && !options.enable_thinking) text.append("<think>\n\n</think>\n\n");
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

// Mistral-Nemo-Instruct-2407's and Mistral-7B-Instruct-v0.3's templates without tools, or
// Mistral-7B-Instruct v0.1/v0.2's (no system message). None has a generation prompt: a
// conversation ending with [/INST] is already one.
absl::StatusOr<std::string> ChatTemplate::ApplyMistral(
    std::span<const ChatMessage> messages) const {
  if (mistral_format_ == MistralFormat::kSystemPrompt) return ApplyMistralSystemPrompt(messages);
  std::optional<std::string_view> system_message;
  std::span<const ChatMessage> turns = messages;
  if (!messages.empty() && messages[0].role == "system") {
    if (mistral_format_ == MistralFormat::kV1Spaced) {
      return absl::InvalidArgumentError(
          "message 0 has role 'system', which the mistral chat template of this model "
          "(\"[INST] x [/INST]\", Mistral-7B-Instruct v0.1/v0.2) does not support; leave the "
          "system prompt out");
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
  const std::string_view open =
      mistral_format_ == MistralFormat::kNemo ? std::string_view("[INST]") : "[INST] ";
  const std::string_view close =
      mistral_format_ == MistralFormat::kV1Spaced ? std::string_view(" [/INST]") : "[/INST]";
  std::string text = bos_token_;
  for (size_t i = 0; i < turns.size(); ++i) {
    const ChatMessage& message = turns[i];
    if (message.role == "user") {
      // The system message goes into the last turn, and only when that turn is the user's.
      if (i + 1 == turns.size() && system_message.has_value()) {
        absl::StrAppend(&text, AsAbsl(open), AsAbsl(*system_message), "\n\n", message.content,
                        AsAbsl(close));
      } else {
        absl::StrAppend(&text, AsAbsl(open), message.content, AsAbsl(close));
      }
    } else if (message.role == "assistant") {
      if (mistral_format_ == MistralFormat::kV3) {
        absl::StrAppend(&text, " ", AsAbsl(Trim(message.content)), eos_token_);
      } else {
        absl::StrAppend(&text, message.content, eos_token_);
      }
    } else {
      return UnsupportedRole(message, i + offset, kind_);
    }
  }
  return text;
}

// Mistral-Small-24B-Instruct-2501's template: system messages in [SYSTEM_PROMPT] tags where they
// stand, the template's default one when the conversation does not start with one. Roles need
// not alternate.
absl::StatusOr<std::string> ChatTemplate::ApplyMistralSystemPrompt(
    std::span<const ChatMessage> messages) const {
  std::string text = bos_token_;
  if ((messages.empty() || messages[0].role != "system") && default_system_prompt_.has_value()) {
    absl::StrAppend(&text, "[SYSTEM_PROMPT]", *default_system_prompt_, "[/SYSTEM_PROMPT]");
  }
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& message = messages[i];
    if (message.role == "system") {
      absl::StrAppend(&text, "[SYSTEM_PROMPT]", message.content, "[/SYSTEM_PROMPT]");
    } else if (message.role == "user") {
      absl::StrAppend(&text, "[INST]", message.content, "[/INST]");
    } else if (message.role == "assistant") {
      absl::StrAppend(&text, message.content, eos_token_);
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
