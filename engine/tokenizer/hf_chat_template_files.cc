#include "engine/tokenizer/hf_chat_template_files.h"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/json.h"
#include "base/mapped_file.h"
#include "base/status_macros.h"
#include "base/utf8.h"

namespace ponder::engine {
namespace {

using Json = nlohmann::json;

bool IsFile(const std::filesystem::path& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

// The text of a .jinja template file. It must be UTF-8: it goes into JSON text (tokenizer_config
// form), which holds nothing else, and Jinja reads templates as UTF-8.
absl::StatusOr<std::string> ReadTemplateFile(const std::string& path) {
  PONDER_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  if (!IsValidUtf8(text)) {
    return absl::InvalidArgumentError(absl::StrCat(
        path,
        ": not UTF-8 text; a chat template must be saved as UTF-8 (transformers reads it "
        "so)"));
  }
  return text;
}

// additional_chat_templates/NAME.jinja, sorted by name so the result does not depend on the
// order the file system lists them in.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ReadAdditionalTemplates(
    const std::string& folder) {
  std::vector<std::pair<std::string, std::string>> templates;
  const std::filesystem::path directory =
      std::filesystem::path(folder) / "additional_chat_templates";
  std::error_code ec;
  if (!std::filesystem::is_directory(directory, ec)) return templates;
  for (const auto& entry : std::filesystem::directory_iterator(directory, ec)) {
    const std::filesystem::path& path = entry.path();
    if (path.extension() != ".jinja" || !IsFile(path)) continue;
    PONDER_ASSIGN_OR_RETURN(std::string text, ReadTemplateFile(path.string()));
    templates.emplace_back(path.stem().string(), std::move(text));
  }
  std::sort(templates.begin(), templates.end());
  return templates;
}

}  // namespace

absl::StatusOr<std::string> WithFolderChatTemplates(const std::string& folder,
                                                    std::string tokenizer_config_json) {
  const std::string jinja_path = absl::StrCat(folder, "/chat_template.jinja");
  const std::string processor_path = absl::StrCat(folder, "/chat_template.json");
  const bool has_jinja = IsFile(jinja_path);
  PONDER_ASSIGN_OR_RETURN(auto additional, ReadAdditionalTemplates(folder));
  if (!has_jinja && additional.empty() && !IsFile(processor_path)) return tokenizer_config_json;

  Json config = Json::object();
  if (!tokenizer_config_json.empty()) {
    absl::StatusOr<Json> parsed = ParseJson(tokenizer_config_json);
    if (!parsed.ok() || !parsed->is_object()) return tokenizer_config_json;
    config = *std::move(parsed);
  }
  if (has_jinja || !additional.empty()) {
    // transformers' _from_pretrained: the files make a dict, "default" from chat_template.jinja
    // and then one entry per additional file (so additional_chat_templates/default.jinja
    // replaces it), which replaces tokenizer_config's template even without
    // chat_template.jinja; a dict of just "default" is kept as a plain string.
    std::vector<std::pair<std::string, std::string>> templates;
    if (has_jinja) {
      PONDER_ASSIGN_OR_RETURN(std::string source, ReadTemplateFile(jinja_path));
      templates.emplace_back("default", std::move(source));
    }
    for (auto& [name, text] : additional) {
      if (name == "default" && has_jinja) {
        templates.front().second = std::move(text);
      } else {
        templates.emplace_back(std::move(name), std::move(text));
      }
    }
    if (templates.size() == 1 && templates.front().first == "default") {
      config["chat_template"] = std::move(templates.front().second);
    } else {
      Json list = Json::array();
      for (auto& [name, text] : templates) {
        list.push_back({{"name", std::move(name)}, {"template", std::move(text)}});
      }
      config["chat_template"] = std::move(list);
    }
  } else {
    if (auto it = config.find("chat_template"); it != config.end() && !it->is_null()) {
      return tokenizer_config_json;
    }
    PONDER_ASSIGN_OR_RETURN(const std::string text, ReadFileToString(processor_path));
    absl::StatusOr<Json> processor = ParseJson(text);
    if (!processor.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(processor_path, ": not valid JSON (", processor.status().message(), ")"));
    }
    auto it = processor->is_object() ? processor->find("chat_template") : processor->end();
    if (it == processor->end() || !(it->is_string() || it->is_array())) {
      return absl::InvalidArgumentError(
          absl::StrCat(processor_path,
                       ": chat_template is missing or not a string; the file should hold "
                       "{\"chat_template\": \"<the Jinja source>\"}"));
    }
    config["chat_template"] = std::move(*it);
  }
  // Every string in `config` is UTF-8 (the JSON parser checks the files it reads, ReadTemplateFile
  // the others), so dump() does not throw.
  return config.dump();
}

absl::StatusOr<std::vector<std::string>> RemoveFolderChatTemplates(const std::string& folder) {
  std::vector<std::string> removed;
  for (const char* name :
       {"chat_template.jinja", "chat_template.json", "additional_chat_templates"}) {
    const std::filesystem::path path = std::filesystem::path(folder) / name;
    std::error_code ec;
    const std::uintmax_t count = std::filesystem::remove_all(path, ec);
    if (ec) {
      return absl::UnavailableError(absl::StrCat(
          path.string(), ": cannot be removed (", ec.message(),
          "), and it would override the chat template written into tokenizer_config.json; "
          "remove it, then convert again"));
    }
    if (count > 0) removed.push_back(name);
  }
  return removed;
}

}  // namespace ponder::engine
