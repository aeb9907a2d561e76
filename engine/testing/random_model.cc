#include "engine/testing/random_model.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/hash.h"
#include "base/status_macros.h"
#include "engine/convert/convert.h"
#include "engine/model/quantize.h"
#include "engine/model/safetensors_writer.h"
#include "nlohmann/json.hpp"

namespace ponder::engine::testing {
namespace {

// ---------------------------------------------------------------------------------------------
// Deterministic numbers: SplitMix64 and Box-Muller, identical on every platform (std::
// distributions are not), so golden files made from these models stay valid everywhere.
class Random {
 public:
  explicit Random(uint64_t seed) : state_(seed) {}
  uint64_t Next() { return Mix64(state_ += kGoldenGamma); }
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  float Normal(double stddev) {
    double u1 = Uniform(), u2 = Uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return static_cast<float>(stddev * std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2));
  }

 private:
  uint64_t state_;
};

// ---------------------------------------------------------------------------------------------
// Tokenizer: GPT-2 byte-level BPE trained on a fixed text.

constexpr const char* kTrainingText =
    "The quick brown fox jumps over the lazy dog. A test of the engine: numbers 1 2 3 4 5 6 7 8 "
    "9 10 and 2 + 3 = 5. Janet has 16 eggs and eats three for breakfast every morning. She sells "
    "the remainder at the farmers' market daily for $2 per fresh duck egg. How much in dollars "
    "does she make every day at the farmers' market? The answer is \\boxed{18}. Let's think "
    "step by step. First, compute the total. Then, subtract what was used. Therefore the "
    "result is the difference between the two values.\n\nStep 1: 16 - 3 = 13.\n\nStep 2: "
    "13 * 2 = 26.\n\nThe answer is \\boxed{26}.";

// GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to U+0100 onwards.
std::vector<std::string> ByteToUnicode() {
  std::vector<int> code(256, -1);
  for (int b = 0; b < 256; ++b) {
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) code[b] = b;
  }
  int next = 256;
  for (int b = 0; b < 256; ++b) {
    if (code[b] < 0) code[b] = next++;
  }
  std::vector<std::string> out(256);
  for (int b = 0; b < 256; ++b) {
    int c = code[b];
    if (c < 0x80) {
      out[b] = std::string(1, static_cast<char>(c));
    } else {
      out[b] = {static_cast<char>(0xC0 | (c >> 6)), static_cast<char>(0x80 | (c & 0x3F))};
    }
  }
  return out;
}

struct TrainedVocabulary {
  std::vector<std::string> tokens;  // byte-level strings; specials at the end
  std::vector<std::string> merges;  // "left right"
};

TrainedVocabulary TrainTokenizer(int vocab_size) {
  const std::vector<std::string> byte_strings = ByteToUnicode();
  TrainedVocabulary vocab;
  vocab.tokens = byte_strings;
  const int num_special = static_cast<int>(std::size(kRandomModelSpecialTokens));
  const int target = vocab_size - num_special;

  // Words as GPT-2 sees them: a space belongs to the word after it.
  std::vector<std::vector<std::string>> words;
  std::string text = kTrainingText, current;
  auto flush = [&] {
    if (current.empty()) return;
    std::vector<std::string> symbols;
    for (unsigned char ch : current) symbols.push_back(byte_strings[ch]);
    words.push_back(std::move(symbols));
    current.clear();
  };
  for (char ch : text) {
    if (ch == ' ' || ch == '\n') flush();
    current.push_back(ch);
  }
  flush();

  while (static_cast<int>(vocab.tokens.size()) < target) {
    std::map<std::pair<std::string, std::string>, int> counts;
    for (const auto& word : words) {
      for (size_t i = 0; i + 1 < word.size(); ++i) ++counts[{word[i], word[i + 1]}];
    }
    // The most frequent pair; std::map order breaks ties deterministically.
    std::pair<std::string, std::string> best;
    int best_count = 0;
    for (const auto& [pair, count] : counts) {
      if (count > best_count) {
        best = pair;
        best_count = count;
      }
    }
    if (best_count == 0) break;
    std::string merged = best.first + best.second;
    vocab.merges.push_back(best.first + " " + best.second);
    vocab.tokens.push_back(merged);
    for (auto& word : words) {
      std::vector<std::string> next;
      for (size_t i = 0; i < word.size(); ++i) {
        if (i + 1 < word.size() && word[i] == best.first && word[i + 1] == best.second) {
          next.push_back(merged);
          ++i;
        } else {
          next.push_back(word[i]);
        }
      }
      word = std::move(next);
    }
  }
  // Pad with unused placeholder tokens if the text ran out of pairs.
  for (int i = 0; static_cast<int>(vocab.tokens.size()) < target; ++i) {
    vocab.tokens.push_back(absl::StrCat("<unused_", i, ">"));
  }
  for (const char* special : kRandomModelSpecialTokens) vocab.tokens.push_back(special);
  return vocab;
}

constexpr const char* kQwen2Pattern =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

constexpr const char* kChatMlTemplate =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] "
    "+ '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ "
    "'<|im_start|>assistant\\n' "
    "}}{% endif %}";

nlohmann::json TokenizerJson(const TrainedVocabulary& vocab) {
  nlohmann::ordered_json json;
  json["version"] = "1.0";
  json["truncation"] = nullptr;
  json["padding"] = nullptr;
  nlohmann::ordered_json added = nlohmann::ordered_json::array();
  const size_t first_special = vocab.tokens.size() - std::size(kRandomModelSpecialTokens);
  for (size_t i = first_special; i < vocab.tokens.size(); ++i) {
    added.push_back({{"id", i},
                     {"content", vocab.tokens[i]},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  }
  json["added_tokens"] = added;
  json["normalizer"] = nullptr;
  json["pre_tokenizer"] = {{"type", "Sequence"},
                           {"pretokenizers",
                            {{{"type", "Split"},
                              {"pattern", {{"Regex", kQwen2Pattern}}},
                              {"behavior", "Isolated"},
                              {"invert", false}},
                             {{"type", "ByteLevel"},
                              {"add_prefix_space", false},
                              {"trim_offsets", false},
                              {"use_regex", false}}}}};
  json["post_processor"] = nullptr;
  json["decoder"] = {{"type", "ByteLevel"},
                     {"add_prefix_space", false},
                     {"trim_offsets", false},
                     {"use_regex", false}};
  // Appended to the underlying list: ordered_json's operator[] searches linearly, quadratic
  // for the 150k-token vocabularies of large test shapes. The tokens are distinct.
  nlohmann::ordered_json model_vocab = nlohmann::ordered_json::object();
  auto& entries = model_vocab.get_ref<nlohmann::ordered_json::object_t&>();
  for (size_t i = 0; i < first_special; ++i) entries.emplace_back(vocab.tokens[i], i);
  json["model"] = {{"type", "BPE"},
                   {"dropout", nullptr},
                   {"unk_token", nullptr},
                   {"continuing_subword_prefix", nullptr},
                   {"end_of_word_suffix", nullptr},
                   {"fuse_unk", false},
                   {"byte_fallback", false},
                   {"ignore_merges", false},
                   {"vocab", model_vocab},
                   {"merges", vocab.merges}};
  return json;
}

// ---------------------------------------------------------------------------------------------
// Weights.

struct NamedTensor {
  std::string name;            // Hugging Face name
  std::vector<int64_t> shape;  // PyTorch order
  std::vector<float> values;
};

std::vector<NamedTensor> MakeTensors(const RandomModelSpec& spec) {
  Random random(spec.seed);
  std::vector<NamedTensor> tensors;
  const int64_t H = spec.hidden_size, Q = spec.num_heads * spec.head_dim,
                KV = spec.num_kv_heads * spec.head_dim, I = spec.intermediate_size;
  auto matrix = [&](std::string name, int64_t rows, int64_t cols, double stddev) {
    NamedTensor t{std::move(name), {rows, cols}, std::vector<float>(rows * cols)};
    for (float& v : t.values) v = random.Normal(stddev);
    tensors.push_back(std::move(t));
  };
  auto vector = [&](std::string name, int64_t size, double mean, double stddev) {
    NamedTensor t{std::move(name), {size}, std::vector<float>(size)};
    for (float& v : t.values) v = static_cast<float>(mean) + random.Normal(stddev);
    tensors.push_back(std::move(t));
  };
  // Scales keep activations O(1) through the layers and give peaked next-token distributions,
  // so greedy decoding has clear winners (no near-ties that rounding could flip).
  matrix("model.embed_tokens.weight", spec.vocab_size, H, 1.0);
  for (int l = 0; l < spec.num_layers; ++l) {
    const std::string h = absl::StrCat("model.layers.", l, ".");
    vector(h + "input_layernorm.weight", H, 1.0, 0.1);
    matrix(h + "self_attn.q_proj.weight", Q, H, 1.0 / std::sqrt(H));
    matrix(h + "self_attn.k_proj.weight", KV, H, 1.0 / std::sqrt(H));
    matrix(h + "self_attn.v_proj.weight", KV, H, 1.0 / std::sqrt(H));
    if (spec.architecture == Architecture::kQwen2) {
      vector(h + "self_attn.q_proj.bias", Q, 0.0, 0.1);
      vector(h + "self_attn.k_proj.bias", KV, 0.0, 0.1);
      vector(h + "self_attn.v_proj.bias", KV, 0.0, 0.1);
    }
    if (spec.architecture == Architecture::kQwen3) {
      vector(h + "self_attn.q_norm.weight", spec.head_dim, 1.0, 0.1);
      vector(h + "self_attn.k_norm.weight", spec.head_dim, 1.0, 0.1);
    }
    matrix(h + "self_attn.o_proj.weight", H, Q, 0.5 / std::sqrt(Q));
    vector(h + "post_attention_layernorm.weight", H, 1.0, 0.1);
    matrix(h + "mlp.gate_proj.weight", I, H, 1.0 / std::sqrt(H));
    matrix(h + "mlp.up_proj.weight", I, H, 1.0 / std::sqrt(H));
    matrix(h + "mlp.down_proj.weight", H, I, 0.5 / std::sqrt(I));
  }
  vector("model.norm.weight", H, 1.0, 0.1);
  if (!spec.tied_embeddings) matrix("lm_head.weight", spec.vocab_size, H, 3.0 / std::sqrt(H));
  if (spec.reward_labels > 0) {
    matrix("score.0.weight", H, H, 1.0 / std::sqrt(H));
    vector("score.0.bias", H, 0.0, 0.1);
    matrix("score.2.weight", spec.reward_labels, H, 1.0 / std::sqrt(H));
    vector("score.2.bias", spec.reward_labels, 0.0, 0.1);
  }
  return tensors;
}

ModelConfig ConfigOf(const RandomModelSpec& spec) {
  ModelConfig config;
  config.architecture = spec.architecture;
  config.num_layers = spec.num_layers;
  config.hidden_size = spec.hidden_size;
  config.intermediate_size = spec.intermediate_size;
  config.num_heads = spec.num_heads;
  config.num_kv_heads = spec.num_kv_heads;
  config.head_dim = spec.head_dim;
  config.vocab_size = spec.vocab_size;
  config.max_context = spec.max_context;
  config.rms_norm_eps = 1e-6f;
  config.rope_theta = spec.rope_theta;
  config.attention_bias = spec.architecture == Architecture::kQwen2;
  config.qk_norm = spec.architecture == Architecture::kQwen3;
  config.tied_embeddings = spec.tied_embeddings;
  return config;
}

// The files of the Hugging Face folder other than the weights.
struct TextFiles {
  std::string config;
  std::string tokenizer;
  std::string tokenizer_config;
};

TextFiles MakeTextFiles(const RandomModelSpec& spec, DType dtype) {
  TextFiles files;
  // config.json names BOS (<|endoftext|>) and EOS (<|im_end|>) by id, as Qwen's does.
  nlohmann::ordered_json config = nlohmann::ordered_json::parse(
      HuggingFaceConfigJson(ConfigOf(spec), dtype, spec.reward_labels > 0));
  const int first_special =
      spec.vocab_size - static_cast<int>(std::size(kRandomModelSpecialTokens));
  config["bos_token_id"] = first_special;
  config["eos_token_id"] = first_special + 2;
  files.config = config.dump(2);
  files.tokenizer = TokenizerJson(TrainTokenizer(spec.vocab_size)).dump(2);
  const nlohmann::ordered_json tokenizer_config = {{"add_bos_token", false},
                                                   {"bos_token", nullptr},
                                                   {"eos_token", "<|im_end|>"},
                                                   {"pad_token", "<|endoftext|>"},
                                                   {"chat_template", kChatMlTemplate}};
  files.tokenizer_config = tokenizer_config.dump(2);
  return files;
}

absl::Status WriteText(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) return absl::UnavailableError(absl::StrCat(path.string(), ": write failed"));
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteRandomHuggingFaceModel(const RandomModelSpec& spec, DType dtype,
                                         const std::string& folder) {
  if (dtype != DType::kF32 && dtype != DType::kF16 && dtype != DType::kBF16) {
    return absl::InvalidArgumentError("Hugging Face test models hold F32, F16 or BF16");
  }
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) return absl::UnavailableError(absl::StrCat(folder, ": ", ec.message()));
  const TextFiles files = MakeTextFiles(spec, dtype);
  PONDER_RETURN_IF_ERROR(WriteText(fs::path(folder) / "config.json", files.config));
  SafetensorsWriter writer;
  writer.SetMetadata("format", "pt");
  for (const NamedTensor& t : MakeTensors(spec)) {
    writer.AddTensor(t.name, dtype, t.shape, EncodeAs(dtype, t.values));
  }
  PONDER_RETURN_IF_ERROR(writer.WriteFile((fs::path(folder) / "model.safetensors").string()));
  PONDER_RETURN_IF_ERROR(WriteText(fs::path(folder) / "tokenizer.json", files.tokenizer));
  return WriteText(fs::path(folder) / "tokenizer_config.json", files.tokenizer_config);
}

// The GGUF file is what `ponder convert` makes of the f32 Hugging Face folder, through the
// converter's own core, with the tensors handed over in memory.
absl::Status WriteRandomGgufModel(const RandomModelSpec& spec, DType dtype,
                                  const std::string& path) {
  const TextFiles files = MakeTextFiles(spec, DType::kF32);
  const std::vector<NamedTensor> tensors = MakeTensors(spec);
  HuggingFaceModelParts parts;
  parts.source = "random model";
  PONDER_ASSIGN_OR_RETURN(
      parts.config, ModelConfigFromHuggingFace(nlohmann::json::parse(files.config), "config.json"));
  for (const NamedTensor& t : tensors) {
    parts.tensors.push_back(
        {t.name,
         DType::kF32,
         t.shape,
         {reinterpret_cast<const uint8_t*>(t.values.data()), t.values.size() * sizeof(float)}});
  }
  PONDER_ASSIGN_OR_RETURN(parts.vocabulary,
                          GgufVocabularyFromHuggingFaceJson(files.tokenizer, files.tokenizer_config,
                                                            files.config, "tokenizer.json"));
  ConvertOptions options;
  options.dtype = dtype;
  options.name = "ponder-random-test-model";
  return WriteGgufFromHuggingFace(parts, path, options).status();
}

}  // namespace ponder::engine::testing
