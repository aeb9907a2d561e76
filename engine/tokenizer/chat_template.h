// Chat templates: turning a conversation into the prompt text a chat model was trained on.
//
// Models ship their template as Jinja source (GGUF `tokenizer.chat_template`; in a Hugging Face
// folder chat_template.jinja or tokenizer_config.json's `chat_template`, see
// hf_chat_template_files.h). Ponder does not run Jinja: it recognises the family from markers in
// that source and formats with a hand-written formatter that reproduces the reference template's
// output for plain conversations (roles system/user/assistant, plus tool results where the
// family has them; no tool definitions). Variants inside a family are read from the source too:
// the default system prompt of Qwen2/2.5 ChatML, the reasoning that assistant turns keep (QwQ:
// none; Qwen3: that after the last user query), the ChatML generation prompt (evaluated from the
// template's `{% if add_generation_prompt %}` block: thinking models such as QwQ and
// Qwen3-Thinking-2507 write "<|im_start|>assistant\n<think>\n", Qwen3 an empty reasoning block
// when thinking is off), the dated system header of Llama 3.1+, the version of Mistral's [INST]
// format.
//
// The output is text that includes the template's own special tokens (and BOS where the template
// writes `bos_token`), so it is to be encoded with EncodeOptions{.add_bos = false,
// .parse_special = true} — as Hugging Face's apply_chat_template(tokenize=True) does.
//
// Families and the templates they reproduce (tests compare against renderings of the real
// Jinja sources with @huggingface/jinja):
//   kChatML     Qwen2, Qwen2.5 (incl. Math), QwQ, Qwen3: <|im_start|>role\ncontent<|im_end|>\n
//   kLlama3     Llama 3 and 3.1/3.2/3.3:
//   <|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>
//   kMistral    [INST]user[/INST]assistant</s> (Mistral-Nemo), "[INST] user[/INST] assistant</s>"
//               (Mistral-7B-Instruct v0.3: the system message before the last user turn, the
//               assistant's text trimmed), " [INST] user [/INST] assistant</s>" (the 2024
//               Mistral-7B-Instruct v0.1/v0.2 and Mixtral templates: the system message in the
//               first turn), "[INST] user [/INST]assistant</s>" (their 2023 templates: no system
//               message), or [SYSTEM_PROMPT]system[/SYSTEM_PROMPT][INST]user[/INST] (Mistral
//               Small 3, 2501, with its default system prompt, and the spaced form of
//               Mistral-Large-Instruct-2411; later ones, which date the prompt, are not
//               recognised). The variant is read from the template's output expressions; one
//               that matches none of these is not recognised.
//   kDeepSeekR1 DeepSeek-R1 distills: <｜User｜>...<｜Assistant｜>...<｜end▁of▁sentence｜>
//   kGemma      Gemma/Gemma 2: <start_of_turn>role\ncontent<end_of_turn>\n
//   kRaw        the message contents joined by a blank line; no role markers (base models);
//               BOS first where the vocabulary adds it to a prompt (FromJinja's `add_bos`)
#ifndef PONDER_ENGINE_TOKENIZER_CHAT_TEMPLATE_H_
#define PONDER_ENGINE_TOKENIZER_CHAT_TEMPLATE_H_

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace ponder::engine {

struct ChatMessage {
  std::string role;  // "system", "user", "assistant" (and "tool" where the family has it)
  std::string content;
};

struct ChatTemplateOptions {
  // Llama 3.1+ system headers print "Today Date: ...". Hugging Face fills in the current date
  // where the template calls strftime_now; Ponder uses this fixed date (the templates' own
  // fallback) so the same conversation always gives the same prompt.
  std::string date_string = "26 Jul 2024";
  // ChatML templates whose generation prompt tests `enable_thinking` (Qwen3): false renders it
  // with enable_thinking=false (Qwen3: an empty reasoning block); true with the variable
  // undefined, as transformers' apply_chat_template does when the caller does not pass it.
  bool enable_thinking = true;
};

class ChatTemplate {
 public:
  enum class Kind { kRaw, kChatML, kLlama3, kMistral, kDeepSeekR1, kGemma };

  static std::string_view KindName(Kind kind);  // "raw", "chatml", "llama3", ...
  static std::optional<Kind> ParseKind(std::string_view name);

  // Recognises the family of the Jinja template `source`; an empty or unrecognised source gives
  // kRaw with recognized() false. `bos_token` / `eos_token` are the texts the template's
  // bos_token / eos_token variables hold (empty when the vocabulary has none). `add_bos` is the
  // vocabulary's own rule for a prompt (Tokenizer::add_bos_by_default), which the raw format
  // follows: it then starts with `bos_token`, as a plain prompt gets BOS from Hugging Face's
  // tokenizer (add_special_tokens) and from `ponder generate --prompt`.
  static ChatTemplate FromJinja(std::string_view source, std::string bos_token,
                                std::string eos_token, bool add_bos = false);
  // A formatter for `kind` with the family's plain settings (ChatML without a default system
  // prompt, Llama 3 with the dated system header, Mistral-Nemo's [INST] format), for forcing a
  // kind.
  static ChatTemplate ForKind(Kind kind, std::string bos_token, std::string eos_token);

  ChatTemplate() = default;

  Kind kind() const { return kind_; }
  // False when FromJinja found no template or did not recognise it (the formatter is then kRaw).
  bool recognized() const { return recognized_; }
  // What a user who asks model `model_name` for a chat prompt is to be told when the prompt is
  // not the one its template writes: when it is not recognized(), that the prompt is in the raw
  // format, why, and what to do; when a ChatML template's generation prompt is not one Ponder
  // reads, that the plain "<|im_start|>assistant\n" is used. Empty otherwise.
  std::string FormatWarning(std::string_view model_name) const;
  // The system prompt written when the conversation has none (Qwen2/2.5 ChatML templates,
  // Mistral Small 3).
  const std::optional<std::string>& default_system_prompt() const { return default_system_prompt_; }

  // Formats `messages`; with `add_generation_prompt`, ends with the header that opens the
  // assistant's turn. Fails with kInvalidArgument, naming the message, where the reference
  // template raises an exception (e.g. roles that do not alternate for Mistral and Gemma) or
  // has no rendering for a role.
  absl::StatusOr<std::string> Apply(std::span<const ChatMessage> messages,
                                    bool add_generation_prompt,
                                    const ChatTemplateOptions& options = {}) const;

 private:
  absl::StatusOr<std::string> ApplyChatMl(std::span<const ChatMessage> messages,
                                          bool add_generation_prompt,
                                          const ChatTemplateOptions& options) const;
  absl::StatusOr<std::string> ApplyLlama3(std::span<const ChatMessage> messages,
                                          bool add_generation_prompt,
                                          const ChatTemplateOptions& options) const;
  absl::StatusOr<std::string> ApplyMistral(std::span<const ChatMessage> messages) const;
  absl::StatusOr<std::string> ApplyMistralSystemPrompt(std::span<const ChatMessage> messages) const;
  absl::StatusOr<std::string> ApplyDeepSeekR1(std::span<const ChatMessage> messages,
                                              bool add_generation_prompt) const;
  absl::StatusOr<std::string> ApplyGemma(std::span<const ChatMessage> messages,
                                         bool add_generation_prompt) const;

  Kind kind_ = Kind::kRaw;
  bool recognized_ = false;
  bool has_source_ = false;  // FromJinja was given a template
  bool raw_bos_ = false;     // kRaw: starts with bos_token_
  std::string bos_token_;
  std::string eos_token_;
  std::optional<std::string> default_system_prompt_;  // kChatML, kMistral kSystemPrompt
  // kChatML: what an assistant turn keeps of its reasoning (the text up to </think>): all of it,
  // as written (Qwen2/2.5); none, in every turn (QwQ-32B, which splits the content on </think>);
  // or Qwen3's rule, kept only after the last user query (the templates with last_query_index or
  // reasoning_content).
  enum class ChatMlReasoning { kVerbatim, kStripped, kQwen3 };
  ChatMlReasoning chat_ml_reasoning_ = ChatMlReasoning::kVerbatim;
  // kChatML: what add_generation_prompt writes (thinking models also open <think>), with
  // enable_thinking undefined and false (Qwen3: an empty reasoning block), read from the
  // template's `{% if add_generation_prompt %}` block. When that block is not one Ponder reads,
  // both are the plain header and FormatWarning says so.
  std::string chat_ml_generation_prompt_ = "<|im_start|>assistant\n";
  std::string chat_ml_generation_prompt_without_thinking_ = "<|im_start|>assistant\n";
  bool chat_ml_generation_prompt_read_ = true;
  // kChatML: the template writes bos_token before its first turn (Nous-Hermes-2's
  // `{{bos_token}}{% for message in messages %}...`); Qwen's do not.
  bool chat_ml_bos_ = false;
  bool llama3_dated_system_header_ = true;  // kLlama3: 3.1+ (false: Llama 3.0)
  // kMistral: the version of the [INST] format, read from the template's own output
  // expressions (ReadMistralFormat). The defaults are Mistral-Nemo's.
  struct MistralFormat {
    std::string inst_open = "[INST]";    // or "[INST] " (v0.3, 2023 v0.1), " [INST] " (2024 v0.1)
    std::string inst_close = "[/INST]";  // or " [/INST]" (v0.1/v0.2, Mixtral)
    std::string assistant_open;          // before the assistant's text: "" or " "
    bool trim_assistant = false;         // the text |trim-med (v0.3)
    std::string assistant_close;         // between the text and EOS: " " in Mixtral-8x22B
    std::string after_eos;               // " " in the 2023 v0.1 template
    // Where the system message goes: nowhere (the template refuses one), into the first or the
    // last turn's [INST] (when that turn is the user's), into the user turns equal to the last
    // user message (v0.3 copies testing `message == user_messages[-1]`), or into
    // [SYSTEM_PROMPT] tags where it stands (Mistral Small 3, Mistral-Large-2411).
    enum class System { kNone, kFirstTurn, kLastTurn, kLastUserMessage, kTags };
    System system = System::kLastTurn;
    std::string system_prompt_open = "[SYSTEM_PROMPT]";  // kTags: or "[SYSTEM_PROMPT] "
  };
  // The format of a Mistral [INST] template; nullopt when its expressions are not ones
  // ApplyMistral reproduces.
  static std::optional<MistralFormat> ReadMistralFormat(std::string_view source);
  void AppendMistralAssistantTurn(std::string_view content, std::string* text) const;
  MistralFormat mistral_format_;
};

}  // namespace ponder::engine

#endif  // PONDER_ENGINE_TOKENIZER_CHAT_TEMPLATE_H_
