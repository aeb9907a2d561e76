#!/usr/bin/env bash
# The CUDA backend's check on a lent GPU machine, in one short call: the GPU tests, engine_bench
# against Hugging Face transformers on a Qwen2.5-1.5B-shaped random BF16 model, each default of
# the backend beside the setting it replaced (the decode products' kernels, prefill and decode
# attention, cached draws, the launch modes), the decode products alone and chained (skinny_bench,
# cuBLAS beside), and profiles (Nsight Compute) of a decode and a prefill step, kernel by kernel.
#
#   bench/engine/cuda_device_check.sh pack   # here, after building build-cuda (-DPONDER_CUDA=ON):
#                                            # writes build-cuda/carry/payload.tar.xz
#   bench/engine/cuda_device_check.sh run    # there, from the repository root, with
#                                            # build-cuda/carry/payload.tar.xz carried along
#
# The binaries link Debian's shared libraries, which the device image (Ubuntu) lacks: `pack`
# bundles the non-system ones (Abseil, Highway, ICU, PCRE2; libstdc++ as a fallback) and `run`
# puts them and the image's cuBLAS on LD_LIBRARY_PATH. Logs go to $OUT (or /tmp/out) as one
# archive, logs.tgz (the device tool brings back a few files only); PROFILE=0 skips the profiles.
# Each run compares the backend's defaults with the settings they replaced (docs/cuda_backend.md
# lists them). About 330 s of device time on an H200 in stop 25 (with two comparisons since
# removed), 190 s of them the profiles; stop 26's eleven more engine_bench rows add perhaps
# 120 s (PROFILE=0 leaves room for a second call).
set -u
cd "$(dirname "$0")/../.."
CARRY=build-cuda/carry
BINARIES=(tests/engine_cuda_test tests/engine_backend_test bin/engine_bench bin/skinny_bench
  bin/random_model)

pack() {
  set -e
  local stage=$CARRY/stage
  rm -rf "$stage" && mkdir -p "$stage/bin" "$stage/lib" "$stage/lib_fallback"
  for binary in "${BINARIES[@]}"; do
    strip -o "$stage/bin/$(basename "$binary")" "build-cuda/$binary"
  done
  ldd "$stage"/bin/* | awk '{print $3}' | grep -E 'absl|hwy|icu|pcre2' | sort -u |
    xargs -I{} cp -L {} "$stage/lib/"
  cp -L /usr/lib/x86_64-linux-gnu/libstdc++.so.6 /usr/lib/x86_64-linux-gnu/libgcc_s.so.1 \
    "$stage/lib_fallback/"
  tar -cJf $CARRY/payload.tar.xz -C "$stage" .
  rm -rf "$stage"
  ls -la $CARRY/payload.tar.xz
}

run() {
  local out=${OUT:-/tmp/out}/logs p=/tmp/ponder_payload start
  start=$(date +%s)
  mkdir -p "$out"
  step() { echo "[+$(($(date +%s) - start))s] $*"; }
  rm -rf $p && mkdir -p $p && tar -xJf $CARRY/payload.tar.xz -C $p
  local cublas
  cublas=$(find /usr/local /opt /usr/lib -name 'libcublas.so.13' 2>/dev/null | head -1)
  LD_LIBRARY_PATH=$p/lib:$(dirname "$cublas")
  export LD_LIBRARY_PATH
  if ! $p/bin/engine_backend_test --gtest_list_tests >/dev/null 2>&1; then
    export LD_LIBRARY_PATH=$LD_LIBRARY_PATH:$p/lib_fallback  # the image's libstdc++ is older
  fi
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  (env -u LD_LIBRARY_PATH python3 bench/engine/make_random_hf_model.py --out /tmp/m15 \
    >"$out/model.log" 2>&1) &
  local model=$!
  step "GPU tests"
  timeout 200 $p/bin/engine_cuda_test --gtest_brief=1 >"$out/cuda_test.log" 2>&1
  echo "engine_cuda_test rc=$?"
  grep -E '^\[  (FAILED|PASSED) |cuda vs cpu|Failure' "$out/cuda_test.log" | head -40
  wait $model
  tail -1 "$out/model.log"
  local bench=("$p/bin/engine_bench" --model /tmp/m15 --device cuda --npp 128)
  local table='roofline|copy|graphs|^ +[0-9]+ \|'
  # engine_bench with `settings` (VAR=value, space-separated) and the arguments after `file`: its
  # table rows, each prefixed by `label`, appended to $out/file.
  rows() {
    local settings=$1 label=$2 file=$3
    shift 3
    # shellcheck disable=SC2086  # one word per setting
    env $settings timeout 60 "${bench[@]}" "$@" --ubatch 8192 2>&1 | grep -E '^ +[0-9]+ \|' |
      sed "s/^/$label: /" | tee -a "$out/$file"
  }
  step "engine_bench: graphs and early starts (the defaults), transformers beside"
  timeout 240 "${bench[@]}" --npl 1,16,64 --ntg 64 --ubatch 8192 \
    --hf-python "env -u LD_LIBRARY_PATH PYTHONUNBUFFERED=1 python3" 2>&1 |
    grep -v 'Loading weights' | tee "$out/bench.log"
  step "the decode products on the matrix-vector kernels up to N tokens (PONDER_CUDA_SKINNY_TOKENS; default 1)"
  for n in 1 0 2 8; do
    rows PONDER_CUDA_SKINNY_TOKENS=$n "skinny tokens $n" skinny_tokens.log --npl 1,2,4,8 --ntg 64
  done
  step "the one-token products compiled for three blocks per multiprocessor (PONDER_CUDA_SKINNY_RESIDENT=3; off by default)"
  for resident in 2 3; do
    rows PONDER_CUDA_SKINNY_RESIDENT=$resident "resident $resident" skinny_resident.log \
      --npl 1 --ntg 64
    rows PONDER_CUDA_SKINNY_RESIDENT=$resident "resident $resident, context 1024" \
      skinny_resident.log --npl 1 --npp 1024 --ntg 32
    rows "PONDER_CUDA_SKINNY_DOWN=1 PONDER_CUDA_SKINNY_RESIDENT=$resident" \
      "resident $resident, down on ours" skinny_resident.log --npl 1 --ntg 64
  done
  step "rope and the KV store in the one-token QKV product (PONDER_CUDA_QKV_ROPE=1; off by default)"
  for rope in 0 1; do
    rows PONDER_CUDA_QKV_ROPE=$rope "qkv rope $rope" qkv_rope.log --npl 1 --ntg 64
    rows "PONDER_CUDA_QKV_ROPE=$rope PONDER_CUDA_SKINNY_RESIDENT=3" "qkv rope $rope, resident 3" \
      qkv_rope.log --npl 1 --ntg 64
  done
  step "two batches of weights loaded before each wait (PONDER_CUDA_SKINNY_EARLY=1; off by default)"
  for early in 0 1; do
    rows PONDER_CUDA_SKINNY_EARLY=$early "early $early" skinny_early.log --npl 1 --ntg 64
    rows PONDER_CUDA_SKINNY_EARLY=$early "early $early, context 1024" skinny_early.log --npl 1 \
      --npp 1024 --ntg 32
  done
  step "the candidates together (rope in the QKV product, pipelined attention, early loads or three-block products) beside the defaults"
  rows "" "defaults" together.log --npl 1,16,64 --ntg 64
  rows "PONDER_CUDA_QKV_ROPE=1 PONDER_CUDA_ATTENTION_PIPELINE=1 PONDER_CUDA_SKINNY_EARLY=1" \
    "together, early loads" together.log --npl 1,16,64 --ntg 64
  rows "PONDER_CUDA_QKV_ROPE=1 PONDER_CUDA_ATTENTION_PIPELINE=1 PONDER_CUDA_SKINNY_RESIDENT=3" \
    "together, three blocks" together.log --npl 1,16,64 --ntg 64
  step "decode attention's loads pipelined (PONDER_CUDA_ATTENTION_PIPELINE=1; off by default)"
  for pipeline in 0 1; do
    rows PONDER_CUDA_ATTENTION_PIPELINE=$pipeline "pipeline $pipeline" attention_pipeline.log \
      --npl 1,16,64 --ntg 64
    rows PONDER_CUDA_ATTENTION_PIPELINE=$pipeline "pipeline $pipeline, context 1024" \
      attention_pipeline.log --npl 1,16 --npp 1024 --ntg 32
  done
  step "the decode products alone and chained, ours and cuBLAS's"
  timeout 60 $p/bin/skinny_bench --tokens 1,2,4 --plans default,resident=3,early=1 2>&1 |
    tee "$out/skinny.log"
  step "prefill attention on the tensor cores (the default for BF16) and on CUDA cores"
  for mode in mma cuda_cores; do
    rows PONDER_CUDA_PREFILL_ATTENTION=$mode "$mode, prompts of 1024" prefill_attention.log \
      --npl 4,16 --npp 1024 --ntg 8
  done
  step "decode attention at contexts of 1024 and 2048: the rule (auto), a block per head, split"
  for mode in auto 0 1; do
    rows PONDER_CUDA_SPLIT_ATTENTION=$mode "mode $mode, context 1024" split_rule.log \
      --npl 1,16,32 --npp 1024 --ntg 32
    rows PONDER_CUDA_SPLIT_ATTENTION=$mode "mode $mode, context 2048" split_rule.log \
      --npl 16,32 --npp 2048 --ntg 32
  done
  step "decode steps that draw on the GPU (temperature 0.8, top-p 0.95): cached where rows fit half of L2 (the default), never, always"
  for cache in auto 0 1; do
    rows PONDER_CUDA_DRAW_CACHE=$cache "draw cache $cache" sampled.log --npl 1,16,64 --ntg 64 \
      --temperature 0.8 --top-p 0.95
  done
  step "the same draws by a cluster of 8 blocks each (PONDER_CUDA_DRAW_CLUSTER=8; off by default)"
  rows PONDER_CUDA_DRAW_CLUSTER=8 "draw cluster 8" sampled.log --npl 1,16,64 --ntg 64 \
    --temperature 0.8 --top-p 0.95
  rows PONDER_CUDA_DRAW_CLUSTER=8 "draw cluster 8, top-k 50" sampled.log --npl 1,64 --ntg 64 \
    --temperature 0.8 --top-k 50 --top-p 0.95
  rows PONDER_CUDA_DRAW_CLUSTER=1 "one block per draw, top-k 50" sampled.log --npl 1,64 \
    --ntg 64 --temperature 0.8 --top-k 50 --top-p 0.95
  step "graphs, no early starts; neither"
  rows PONDER_CUDA_EARLY_START=0 "graphs, no early starts" launch_modes.log --npl 1,16 --ntg 64
  rows PONDER_CUDA_EARLY_START=0 "neither" launch_modes.log --npl 1,16 --ntg 64 --no-cuda-graphs
  step "prefill in the engine's default micro-batches (512 tokens)"
  timeout 60 "${bench[@]}" --npl 64 --ntg 8 --ubatch 512 2>&1 | grep -E "$table" |
    tee "$out/ubatch512.log"
  if [ "${PROFILE:-1}" = 1 ]; then
    step "Nsight Compute: decode steps at batch 1 and 16 at a context of 128, a 64 x 128 prefill step"
    PONDER_CUDA_EARLY_START=0 timeout 120 ncu --clock-control none --cache-control none \
      --metrics gpu__time_duration.sum,dram__bytes_read.sum --csv "${bench[@]}" --npl 1 \
      --npp 128 --ntg 4 --no-cuda-graphs >"$out/ncu_decode128.csv" 2>&1
    python3 bench/engine/ncu_summary.py "$out/ncu_decode128.csv" 2>&1 | head -16
    PONDER_CUDA_EARLY_START=0 timeout 120 ncu --clock-control none --cache-control none \
      --metrics gpu__time_duration.sum,dram__bytes_read.sum --csv "${bench[@]}" --npl 16 \
      --npp 128 --ntg 4 --no-cuda-graphs >"$out/ncu_decode16.csv" 2>&1
    python3 bench/engine/ncu_summary.py "$out/ncu_decode16.csv" 2>&1 | head -16
    PONDER_CUDA_EARLY_START=0 timeout 120 ncu --clock-control none --cache-control none \
      --metrics gpu__time_duration.sum --csv "${bench[@]}" --npl 64 --npp 128 --ntg 1 \
      --ubatch 8192 --no-cuda-graphs >"$out/ncu_prefill.csv" 2>&1
    python3 bench/engine/ncu_summary.py "$out/ncu_prefill.csv" --tokens 8192 2>&1 | head -12
  fi
  step "done"
  tar -czf "$out/../logs.tgz" -C "$out/.." logs && rm -rf "$out"
}

case "${1:-}" in
  pack) pack ;;
  run) run ;;
  *)
    echo "usage: $0 pack|run" >&2
    exit 2
    ;;
esac
