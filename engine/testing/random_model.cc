#include "engine/testing/random_model.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "engine/model/gguf_writer.h"
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
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
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
  nlohmann::ordered_json model_vocab = nlohmann::ordered_json::object();
  for (size_t i = 0; i < first_special; ++i) model_vocab[vocab.tokens[i]] = i;
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
  std::string gguf_name;
  std::string hf_name;
  std::vector<int64_t> shape;  // PyTorch order
  std::vector<float> values;
  bool is_matrix;
};

std::vector<NamedTensor> MakeTensors(const RandomModelSpec& spec) {
  Random random(spec.seed);
  std::vector<NamedTensor> tensors;
  const int64_t H = spec.hidden_size, Q = spec.num_heads * spec.head_dim,
                KV = spec.num_kv_heads * spec.head_dim, I = spec.intermediate_size;
  auto matrix = [&](std::string gguf, std::string hf, int64_t rows, int64_t cols, double stddev) {
    NamedTensor t{
        std::move(gguf), std::move(hf), {rows, cols}, std::vector<float>(rows * cols), true};
    for (float& v : t.values) v = random.Normal(stddev);
    tensors.push_back(std::move(t));
  };
  auto vector = [&](std::string gguf, std::string hf, int64_t size, double mean, double stddev) {
    NamedTensor t{std::move(gguf), std::move(hf), {size}, std::vector<float>(size), false};
    for (float& v : t.values) v = static_cast<float>(mean) + random.Normal(stddev);
    tensors.push_back(std::move(t));
  };
  // Scales keep activations O(1) through the layers and give peaked next-token distributions,
  // so greedy decoding has clear winners (no near-ties that rounding could flip).
  matrix("token_embd.weight", "model.embed_tokens.weight", spec.vocab_size, H, 1.0);
  for (int l = 0; l < spec.num_layers; ++l) {
    std::string g = absl::StrCat("blk.", l, "."), h = absl::StrCat("model.layers.", l, ".");
    vector(g + "attn_norm.weight", h + "input_layernorm.weight", H, 1.0, 0.1);
    matrix(g + "attn_q.weight", h + "self_attn.q_proj.weight", Q, H, 1.0 / std::sqrt(H));
    matrix(g + "attn_k.weight", h + "self_attn.k_proj.weight", KV, H, 1.0 / std::sqrt(H));
    matrix(g + "attn_v.weight", h + "self_attn.v_proj.weight", KV, H, 1.0 / std::sqrt(H));
    if (spec.architecture == Architecture::kQwen2) {
      vector(g + "attn_q.bias", h + "self_attn.q_proj.bias", Q, 0.0, 0.1);
      vector(g + "attn_k.bias", h + "self_attn.k_proj.bias", KV, 0.0, 0.1);
      vector(g + "attn_v.bias", h + "self_attn.v_proj.bias", KV, 0.0, 0.1);
    }
    if (spec.architecture == Architecture::kQwen3) {
      vector(g + "attn_q_norm.weight", h + "self_attn.q_norm.weight", spec.head_dim, 1.0, 0.1);
      vector(g + "attn_k_norm.weight", h + "self_attn.k_norm.weight", spec.head_dim, 1.0, 0.1);
    }
    matrix(g + "attn_output.weight", h + "self_attn.o_proj.weight", H, Q, 0.5 / std::sqrt(Q));
    vector(g + "ffn_norm.weight", h + "post_attention_layernorm.weight", H, 1.0, 0.1);
    matrix(g + "ffn_gate.weight", h + "mlp.gate_proj.weight", I, H, 1.0 / std::sqrt(H));
    matrix(g + "ffn_up.weight", h + "mlp.up_proj.weight", I, H, 1.0 / std::sqrt(H));
    matrix(g + "ffn_down.weight", h + "mlp.down_proj.weight", H, I, 0.5 / std::sqrt(I));
  }
  vector("output_norm.weight", "model.norm.weight", H, 1.0, 0.1);
  if (!spec.tied_embeddings) {
    matrix("output.weight", "lm_head.weight", spec.vocab_size, H, 3.0 / std::sqrt(H));
  }
  if (spec.reward_labels > 0) {
    matrix("cls.hidden.weight", "score.0.weight", H, H, 1.0 / std::sqrt(H));
    vector("cls.hidden.bias", "score.0.bias", H, 0.0, 0.1);
    matrix("cls.output.weight", "score.2.weight", spec.reward_labels, H, 1.0 / std::sqrt(H));
    vector("cls.output.bias", "score.2.bias", spec.reward_labels, 0.0, 0.1);
  }
  return tensors;
}

// llama.cpp's converter (convert_hf_to_gguf.py, LlamaModel.permute) reorders the rows of each
// head from [first half | second half] to interleaved pairs, for its adjacent-pair RoPE.
std::vector<float> PermuteForInterleavedRope(const std::vector<float>& values, int64_t rows,
                                             int64_t cols, int heads) {
  std::vector<float> out(values.size());
  const int64_t head_dim = rows / heads, half = head_dim / 2;
  for (int h = 0; h < heads; ++h) {
    for (int64_t i = 0; i < half; ++i) {
      for (int j = 0; j < 2; ++j) {
        int64_t to = h * head_dim + 2 * i + j, from = h * head_dim + j * half + i;
        std::copy_n(values.begin() + from * cols, cols, out.begin() + to * cols);
      }
    }
  }
  return out;
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

  nlohmann::ordered_json config = {
      {"architectures",
       {spec.reward_labels > 0 ? "Qwen2ForProcessRewardModel" : "LlamaForCausalLM"}},
      {"model_type", ArchitectureName(spec.architecture)},
      {"hidden_size", spec.hidden_size},
      {"intermediate_size", spec.intermediate_size},
      {"num_hidden_layers", spec.num_layers},
      {"num_attention_heads", spec.num_heads},
      {"num_key_value_heads", spec.num_kv_heads},
      {"head_dim", spec.head_dim},
      {"vocab_size", spec.vocab_size},
      {"max_position_embeddings", spec.max_context},
      {"rms_norm_eps", 1e-6},
      {"rope_theta", spec.rope_theta},
      {"tie_word_embeddings", spec.tied_embeddings},
      {"torch_dtype", dtype == DType::kF32   ? "float32"
                      : dtype == DType::kF16 ? "float16"
                                             : "bfloat16"},
  };
  if (spec.architecture == Architecture::kLlama) config["attention_bias"] = false;
  PONDER_RETURN_IF_ERROR(WriteText(fs::path(folder) / "config.json", config.dump(2)));

  SafetensorsWriter writer;
  writer.SetMetadata("format", "pt");
  for (const NamedTensor& t : MakeTensors(spec)) {
    writer.AddTensor(t.hf_name, dtype, t.shape, EncodeAs(dtype, t.values));
  }
  PONDER_RETURN_IF_ERROR(writer.WriteFile((fs::path(folder) / "model.safetensors").string()));

  TrainedVocabulary vocab = TrainTokenizer(spec.vocab_size);
  PONDER_RETURN_IF_ERROR(
      WriteText(fs::path(folder) / "tokenizer.json", TokenizerJson(vocab).dump(2)));
  nlohmann::ordered_json tokenizer_config = {{"add_bos_token", false},
                                             {"bos_token", nullptr},
                                             {"eos_token", "<|im_end|>"},
                                             {"pad_token", "<|endoftext|>"},
                                             {"chat_template", kChatMlTemplate}};
  return WriteText(fs::path(folder) / "tokenizer_config.json", tokenizer_config.dump(2));
}

absl::Status WriteRandomGgufModel(const RandomModelSpec& spec, DType dtype,
                                  const std::string& path) {
  const std::string arch(ArchitectureName(spec.architecture));
  GgufWriter writer;
  writer.SetString("general.architecture", arch);
  writer.SetString("general.name", "ponder-random-test-model");
  writer.SetUint32("general.alignment", 32);
  writer.SetUint32(arch + ".block_count", spec.num_layers);
  writer.SetUint32(arch + ".context_length", static_cast<uint32_t>(spec.max_context));
  writer.SetUint32(arch + ".embedding_length", spec.hidden_size);
  writer.SetUint32(arch + ".feed_forward_length", spec.intermediate_size);
  writer.SetUint32(arch + ".attention.head_count", spec.num_heads);
  writer.SetUint32(arch + ".attention.head_count_kv", spec.num_kv_heads);
  writer.SetUint32(arch + ".attention.key_length", spec.head_dim);
  writer.SetUint32(arch + ".attention.value_length", spec.head_dim);
  writer.SetUint32(arch + ".rope.dimension_count", spec.head_dim);
  writer.SetFloat32(arch + ".rope.freq_base", spec.rope_theta);
  writer.SetFloat32(arch + ".attention.layer_norm_rms_epsilon", 1e-6f);
  writer.SetUint32(arch + ".vocab_size", spec.vocab_size);

  TrainedVocabulary vocab = TrainTokenizer(spec.vocab_size);
  const int32_t first_special =
      static_cast<int32_t>(vocab.tokens.size() - std::size(kRandomModelSpecialTokens));
  std::vector<int32_t> token_types(vocab.tokens.size(), 1);                         // 1 = normal
  for (size_t i = first_special; i < vocab.tokens.size(); ++i) token_types[i] = 3;  // control
  writer.SetString("tokenizer.ggml.model", "gpt2");
  writer.SetString("tokenizer.ggml.pre", "qwen2");
  writer.SetStringArray("tokenizer.ggml.tokens", vocab.tokens);
  writer.SetInt32Array("tokenizer.ggml.token_type", token_types);
  writer.SetStringArray("tokenizer.ggml.merges", vocab.merges);
  writer.SetUint32("tokenizer.ggml.bos_token_id", first_special);      // <|endoftext|>
  writer.SetUint32("tokenizer.ggml.eos_token_id", first_special + 2);  // <|im_end|>
  writer.SetUint32("tokenizer.ggml.padding_token_id", first_special);
  writer.SetBool("tokenizer.ggml.add_bos_token", false);
  writer.SetString("tokenizer.chat_template", kChatMlTemplate);

  for (const NamedTensor& t : MakeTensors(spec)) {
    std::vector<float> values = t.values;
    if (spec.architecture == Architecture::kLlama) {
      if (t.gguf_name.ends_with("attn_q.weight")) {
        values = PermuteForInterleavedRope(values, t.shape[0], t.shape[1], spec.num_heads);
      } else if (t.gguf_name.ends_with("attn_k.weight")) {
        values = PermuteForInterleavedRope(values, t.shape[0], t.shape[1], spec.num_kv_heads);
      }
    }
    DType stored = t.is_matrix ? dtype : DType::kF32;
    if (t.is_matrix && t.shape[1] % DTypeBlockValues(dtype) != 0) stored = DType::kF32;
    std::vector<uint64_t> dims(t.shape.rbegin(), t.shape.rend());
    writer.AddTensor(t.gguf_name, stored, std::move(dims), EncodeAs(stored, values));
  }
  return writer.WriteFile(path);
}

}  // namespace ponder::engine::testing
