// The process reward model formats whose references take their tag and label tokens from the
// model's own tokenizer, checked on real vocabularies (../shared/tokenizers; the tests skip
// without them): what each format sends the engine, against the reference's own derivation of
// the tokens and positions. The engine here tokenizes with the real tokenizer and records the
// score requests; the real engine's read-outs at those positions are tested in
// integration_test.cc and tests/engine.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/tokenizer/tokenizer.h"
#include "verifiers/reward_model_verifier.h"

namespace ponder::verifiers {
namespace {

std::string SharedPath(const std::string& relative) {
  return std::string(PONDER_SHARED_DIR) + "/" + relative;
}

// The engine interface over a real tokenizer (as LocalEngine tokenizes: control tokens in text
// are parsed); Score records each request and reads 0.25 at every pair position.
class TokenizerEngine : public engine::Engine {
 public:
  explicit TokenizerEngine(std::unique_ptr<engine::Tokenizer> tokenizer)
      : tokenizer_(std::move(tokenizer)) {}

  std::vector<engine::ScoreRequest> requests;

  absl::StatusOr<engine::GenerateResult> Generate(const engine::GenerateRequest&) override {
    return absl::UnimplementedError("scores only");
  }
  absl::StatusOr<engine::ScoreResult> Score(const engine::ScoreRequest& request) override {
    requests.push_back(request);
    engine::ScoreResult result;
    result.pair_probabilities.assign(request.pair_positions.size(), 0.25f);
    return result;
  }
  absl::StatusOr<std::vector<int32_t>> Tokenize(std::string_view text,
                                                bool add_bos) const override {
    return tokenizer_->Encode(text, {.add_bos = add_bos, .parse_special = true});
  }
  std::string Detokenize(const std::vector<int32_t>& tokens) const override {
    return tokenizer_->Decode(tokens);
  }
  absl::StatusOr<std::string> ApplyChatTemplate(const std::vector<Message>& messages,
                                                bool add_generation_prompt) const override {
    std::vector<engine::ChatMessage> chat;
    for (const Message& m : messages) chat.push_back({m.role, m.content});
    return tokenizer_->chat_template().Apply(chat, add_generation_prompt);
  }
  std::optional<int32_t> TokenId(std::string_view text) const override {
    return tokenizer_->FindToken(text);
  }
  engine::EngineStats Stats() const override { return {}; }
  engine::ModelInfo Info() const override { return {.path = tokenizer_->source()}; }

  const engine::Tokenizer& tokenizer() const { return *tokenizer_; }

 private:
  std::unique_ptr<engine::Tokenizer> tokenizer_;
};

std::unique_ptr<TokenizerEngine> OpenOrSkipMessage(const std::string& path, std::string& skip) {
  if (!std::filesystem::exists(path)) {
    skip = "shared data absent (" + path + ")";
    return nullptr;
  }
  auto tokenizer = engine::Tokenizer::Open(path);
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
  if (!tokenizer.ok()) return nullptr;
  return std::make_unique<TokenizerEngine>(std::move(*tokenizer));
}

// Math-Shepherd's model card: `candidate_tokens = tokenizer.encode(f"{good_token}
// {bad_token}")[1:]` and `step_tag_id = tokenizer.encode(f"{step_tag}")[-1]`, reading every
// position of the input "question + ' ' + steps (each followed by ' ки', joined by '\n')" that
// holds the tag. On a SentencePiece vocabulary (Llama 2's here; Mistral's, which the model uses,
// is of the same kind) those are the spaced pieces "▁+", "▁-", "▁ки"; the bare "+" and "ки" were
// read before, so no step of a real input was found and the labels were other tokens.
TEST(RewardModelFormatsTest, MathShepherdReadsTheModelCardsTokensOnASentencePieceVocabulary) {
  std::string skip;
  auto model =
      OpenOrSkipMessage(SharedPath("tokenizers/llama.cpp-vectors/ggml-vocab-llama-spm.gguf"), skip);
  if (model == nullptr) GTEST_SKIP() << skip;
  const engine::Tokenizer& tokenizer = model->tokenizer();
  const std::vector<int32_t> labels = tokenizer.Encode("+ -", {.add_bos = true});
  ASSERT_EQ(labels.size(), 3u);
  const int32_t tag = tokenizer.Encode("ки", {.add_bos = true}).back();
  EXPECT_EQ(tokenizer.TokenText(labels[1]), "▁+");
  EXPECT_EQ(tokenizer.TokenText(labels[2]), "▁-");
  EXPECT_EQ(tokenizer.TokenText(tag), "▁ки");

  v1::ProcessRewardModel config;
  config.set_format(v1::ProcessRewardModel::FORMAT_MATH_SHEPHERD);
  auto verifier = MakeProcessRewardModelVerifier(config, model.get());
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  const std::string problem = "Janet has 16 eggs and eats 3. How many are left?";
  std::vector<Solution> solutions = {
      {.steps = {"Step 1: She has 16 - 3 = 13 eggs.", "Step 2: The answer is 13."},
       .complete = true}};
  auto scored = (*verifier)->Score(problem, solutions, {});
  ASSERT_TRUE(scored.ok()) << scored.status();
  ASSERT_EQ(model->requests.size(), 1u);
  const engine::ScoreRequest& request = model->requests[0];
  EXPECT_EQ(request.pair_token_a, labels[1]);
  EXPECT_EQ(request.pair_token_b, labels[2]);
  // The model card's input, tokenized as its tokenizer(...) call does (with BOS).
  const std::vector<int32_t> input = tokenizer.Encode(
      problem + " Step 1: She has 16 - 3 = 13 eggs. ки\nStep 2: The answer is 13. ки",
      {.add_bos = true});
  EXPECT_EQ(request.prefix_tokens, input);
  std::vector<int64_t> tags;
  for (size_t i = 0; i < input.size(); ++i) {
    if (input[i] == tag) tags.push_back(static_cast<int64_t>(i));
  }
  EXPECT_EQ(tags.size(), 2u);
  EXPECT_EQ(request.pair_positions, tags);
  ASSERT_EQ(scored->scores.size(), 1u);
  EXPECT_EQ(scored->scores[0].step_scores, (std::vector<double>{0.25, 0.25}));

  // A tag the vocabulary cannot hold in one token after a space is refused, naming the field.
  config.set_step_tag("ки-ки-ки");
  auto refused = MakeProcessRewardModelVerifier(config, model.get());
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("verifier.prm.step_tag"), std::string::npos)
      << refused.status();
}

// RLHFlow's prm_evaluate.py: `plus_tag_id = tokenizer.encode('+')[-1]` (likewise '-'), each step
// a user turn answered by an assistant "+", and the scores read where the model predicts each
// "+" (logits[:, -3] for the last: the position before "+" and the end-of-turn token).
TEST(RewardModelFormatsTest, RlhflowReadsBeforeEachAssistantPlusOnLlama3) {
  std::string skip;
  auto model = OpenOrSkipMessage(SharedPath("tokenizers/hf/llama3"), skip);
  if (model == nullptr) GTEST_SKIP() << skip;
  const engine::Tokenizer& tokenizer = model->tokenizer();
  const int32_t plus = tokenizer.Encode("+", {.add_bos = true}).back();
  const int32_t minus = tokenizer.Encode("-", {.add_bos = true}).back();

  v1::ProcessRewardModel config;
  config.set_format(v1::ProcessRewardModel::FORMAT_RLHFLOW);
  auto verifier = MakeProcessRewardModelVerifier(config, model.get());
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  std::vector<Solution> solutions = {
      {.steps = {"16 - 3 = 13", "So 13 are left.", "The answer is 13."}, .complete = true}};
  auto scored = (*verifier)->Score("How many eggs are left?", solutions, {});
  ASSERT_TRUE(scored.ok()) << scored.status();
  ASSERT_EQ(model->requests.size(), 1u);
  const engine::ScoreRequest& request = model->requests[0];
  EXPECT_EQ(request.pair_token_a, plus);
  EXPECT_EQ(request.pair_token_b, minus);
  const std::vector<int32_t>& tokens = request.prefix_tokens;
  std::vector<int64_t> before_plus;
  for (size_t i = 1; i < tokens.size(); ++i) {
    if (tokens[i] == plus) before_plus.push_back(static_cast<int64_t>(i) - 1);
  }
  EXPECT_EQ(request.pair_positions, before_plus);
  ASSERT_EQ(request.pair_positions.size(), 3u);
  EXPECT_EQ(request.pair_positions.back(), static_cast<int64_t>(tokens.size()) - 3);
  EXPECT_EQ(scored->scores[0].step_scores.size(), 3u);
}

}  // namespace
}  // namespace ponder::verifiers
