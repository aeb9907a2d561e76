#!/usr/bin/env bash
# Regenerates the shipped models from scratch with a fixed seed (see tools/train/README.md):
# exports the arith train set with `ponder datasets export`, trains the tokenizer, the policy and
# the process reward model on the CPU, writes models/arith-policy{,.gguf}, models/arith-prm{,.gguf}
# and models/training_log.json (settings, loss curves, timings).
#
#   tools/train/train_all.sh [extra train.py flags]      PONDER=path/to/ponder to override
set -euo pipefail
cd "$(dirname "$0")/../.."
PONDER=${PONDER:-build/bin/ponder}
if [[ ! -x "$PONDER" ]]; then
  echo "train_all: $PONDER not found; build it first: cmake --build build --target ponder" >&2
  exit 1
fi
if ! /usr/bin/python3 -c 'import torch, numpy' 2>/dev/null; then
  echo "train_all: Debian's python3-torch and python3-numpy are missing: scripts/setup.sh --tools" >&2
  exit 1
fi
exec /usr/bin/python3 tools/train/train.py --ponder "$PONDER" --work out/train --models models "$@"
