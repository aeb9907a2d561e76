#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, and runs the engine.
#
# Ponder's trained default model (models/, issue 7) has not landed yet; until it does, this
# demo generates with a small *random* test model written by the project's own writer, in both
# formats the engine reads (GGUF and a Hugging Face folder) — the text it prints is therefore
# noise, but every stage (loading, tokenizing, prefill, batched sampling, stop strings) is real.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
launcher=()
if command -v ccache >/dev/null 2>&1; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S . -B build -G Ninja "${launcher[@]}" >/dev/null
cmake --build build -j "$(nproc)" --target ponder random_model

mkdir -p out/demo
build/bin/random_model --out out/demo/random-llama-q8_0.gguf --arch llama --dtype q8_0
build/bin/random_model --out out/demo/random-qwen3-hf --format hf --arch qwen3 --dtype bf16

echo "== tokenize (GGUF vocabulary)"
build/bin/ponder tokenize --model out/demo/random-llama-q8_0.gguf --text "Janet has 16 eggs."
echo "== generate: 4 seeded samples, stop at a blank line (GGUF, Q8_0)"
build/bin/ponder generate --model out/demo/random-llama-q8_0.gguf --prompt "Step 1: 16 - 3 = 13." \
  --n 4 --max-tokens 24 --temperature 0.8 --top-p 0.95 --seed 7 --stop $'\n\n' --stats
echo "== generate: greedy, chat template (Hugging Face folder, BF16)"
build/bin/ponder generate --model out/demo/random-qwen3-hf --prompt "What is 2 + 3?" --chat \
  --max-tokens 16 --temperature 0
