// Where a Hugging Face model folder keeps its chat templates, read as transformers' tokenizers
// read them (PreTrainedTokenizerBase.from_pretrained, transformers 4.47 and later):
//
//  - chat_template.jinja (the template named "default") and additional_chat_templates/NAME.jinja
//    (the others; default.jinja there replaces chat_template.jinja), which save_pretrained
//    writes, leaving tokenizer_config.json without a `chat_template`. When any is present they
//    replace tokenizer_config.json's, even without chat_template.jinja: the model's template is
//    then additional_chat_templates/default.jinja, or none.
//  - else tokenizer_config.json's `chat_template`: a string, or a list of {"name", "template"}
//    whose entry named "default" is the model's template (none without one).
//  - else chat_template.json's `chat_template`, the file processors (AutoProcessor) wrote before
//    chat_template.jinja. transformers' tokenizers do not read it; Ponder does, last, so that a
//    folder that ships only that file is not left without its template.
//
// llama.cpp's converter (gguf-py SpecialVocab) reads the same files but prefers
// tokenizer_config.json's template; Ponder follows transformers, which wrote the files.
#ifndef PONDER_ENGINE_TOKENIZER_HF_CHAT_TEMPLATE_FILES_H_
#define PONDER_ENGINE_TOKENIZER_HF_CHAT_TEMPLATE_FILES_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ponder::engine {

// The text of `folder`'s tokenizer_config.json (`tokenizer_config_json`; empty when the folder
// has none) with its `chat_template` replaced as above, in the form tokenizer_config.json holds
// it; the text unchanged when the template files add nothing. Errors name the template file
// that cannot be read. A tokenizer_config.json that is not a JSON object is returned unchanged,
// for its reader to report.
absl::StatusOr<std::string> WithFolderChatTemplates(const std::string& folder,
                                                    std::string tokenizer_config_json);

// Removes the template files above from `folder` (chat_template.jinja, chat_template.json,
// additional_chat_templates/), for a writer of tokenizer_config.json whose template they would
// otherwise override. Returns the names of those it removed; an error naming the file when one
// is there but cannot be removed.
absl::StatusOr<std::vector<std::string>> RemoveFolderChatTemplates(const std::string& folder);

}  // namespace ponder::engine

#endif  // PONDER_ENGINE_TOKENIZER_HF_CHAT_TEMPLATE_FILES_H_
