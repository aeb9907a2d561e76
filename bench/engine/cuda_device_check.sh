#!/usr/bin/env bash
# The CUDA backend's check on a lent GPU machine, in one short call: the GPU tests, engine_bench
# against Hugging Face transformers on a Qwen2.5-1.5B-shaped random BF16 model, the settings not
# yet made defaults beside the defaults (together, then one by one), sampled draws on one block
# and on clusters, the decode products alone and chained (skinny_bench, cuBLAS beside), and
# profiles (Nsight Compute) of a batch-1 decode step, kernel by kernel, with the defaults and
# with the candidates.
#
#   bench/engine/cuda_device_check.sh pack   # here, after building build-cuda (-DPONDER_CUDA=ON):
#                                            # writes build-cuda/carry/payload.tar.xz
#   bench/engine/cuda_device_check.sh run    # there, from the repository root, with
#                                            # build-cuda/carry/payload.tar.xz carried along
#
# The binaries link Debian's shared libraries, which the device image (Ubuntu) lacks: `pack`
# bundles the non-system ones (Abseil, Highway, ICU, PCRE2; libstdc++ as a fallback) and `run`
# puts them and the image's cuBLAS on LD_LIBRARY_PATH. Logs go to $OUT (or /tmp/out) as one
# archive, logs.tgz (the device tool brings back a few files only). PROFILE=0 skips the profiles,
# PROFILE=2 adds batch-16 decode and prefill ones. Each run compares the settings not yet made
# defaults (docs/cuda_backend.md lists them) with the defaults in the same call. About 330 s of
# device time on an H200 in stop 25 (190 s of them profiles); stop 26 replaced the comparisons
# that call settled with its own candidates' (an estimate: 350 to 450 s in all; give the device
# call a limit of 540 s or run PROFILE=0 first, since logs.tgz is written at the end).
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
  # Stop 26: the candidates written without a GPU, together and one by one, each beside the
  # defaults in this call. (Stop 25's settled comparisons, the decode products' token limit,
  # prefill attention's kernel, the split rule, the launch modes, are in its logs and the docs.)
  step "the candidates together (rope in the QKV product, pipelined attention, early loads or three-block products) beside the defaults"
  local together="PONDER_CUDA_QKV_ROPE=1 PONDER_CUDA_ATTENTION_PIPELINE=1"
  rows "" "defaults" together.log --npl 1,16,64 --ntg 64
  rows "$together PONDER_CUDA_SKINNY_EARLY=1" "together, early loads" together.log --npl 1,16,64 \
    --ntg 64
  rows "$together PONDER_CUDA_SKINNY_RESIDENT=3" "together, three blocks" together.log \
    --npl 1,16,64 --ntg 64
  rows "" "defaults, context 1024" together.log --npl 1,16 --npp 1024 --ntg 32
  rows "$together PONDER_CUDA_SKINNY_EARLY=1" "together, early loads, context 1024" together.log \
    --npl 1,16 --npp 1024 --ntg 32
  step "one by one at batch 1 (and 16, 64 for the attention pipeline): each setting off, then on"
  local setting
  for setting in PONDER_CUDA_SKINNY_RESIDENT=3 PONDER_CUDA_QKV_ROPE=1 PONDER_CUDA_SKINNY_EARLY=1; do
    rows "" "${setting%=*} default" one_by_one.log --npl 1 --ntg 64
    rows "$setting" "$setting" one_by_one.log --npl 1 --ntg 64
  done
  rows "PONDER_CUDA_SKINNY_DOWN=1 PONDER_CUDA_SKINNY_RESIDENT=3" \
    "PONDER_CUDA_SKINNY_DOWN=1, resident 3" one_by_one.log --npl 1 --ntg 64
  rows "PONDER_CUDA_SKINNY_DOWN=1" "PONDER_CUDA_SKINNY_DOWN=1" one_by_one.log --npl 1 --ntg 64
  for pipeline in 0 1; do
    rows PONDER_CUDA_ATTENTION_PIPELINE=$pipeline "pipeline $pipeline" one_by_one.log \
      --npl 1,16,64 --ntg 64
    rows PONDER_CUDA_ATTENTION_PIPELINE=$pipeline "pipeline $pipeline, context 1024" \
      one_by_one.log --npl 1,16 --npp 1024 --ntg 32
  done
  step "the decode products alone and chained, ours and cuBLAS's"
  timeout 60 $p/bin/skinny_bench --tokens 1,2,4 --plans default,resident=3,early=1 2>&1 |
    tee "$out/skinny.log"
  step "decode steps that draw on the GPU (temperature 0.8, top-p 0.95): one block per draw (the default), then a cluster of 8 blocks (PONDER_CUDA_DRAW_CLUSTER=8; off by default)"
  rows "" "one block per draw" sampled.log --npl 1,16,64 --ntg 64 --temperature 0.8 --top-p 0.95
  rows PONDER_CUDA_DRAW_CLUSTER=8 "draw cluster 8" sampled.log --npl 1,16,64 --ntg 64 \
    --temperature 0.8 --top-p 0.95
  rows PONDER_CUDA_DRAW_CLUSTER=8 "draw cluster 8, top-k 50" sampled.log --npl 1,64 --ntg 64 \
    --temperature 0.8 --top-k 50 --top-p 0.95
  rows PONDER_CUDA_DRAW_CLUSTER=1 "one block per draw, top-k 50" sampled.log --npl 1,64 \
    --ntg 64 --temperature 0.8 --top-k 50 --top-p 0.95
  if [ "${PROFILE:-1}" != 0 ]; then
    # A batch-1 decode step at a context of 128, kernel by kernel: the defaults, then the
    # candidates together (PROFILE=2 adds batch 16 and a 64 x 128 prefill step).
    local profile
    for profile in "defaults:" "together:$together PONDER_CUDA_SKINNY_EARLY=1"; do
      step "Nsight Compute: a batch-1 decode step at a context of 128, ${profile%%:*}"
      # shellcheck disable=SC2086  # one word per setting
      env ${profile#*:} PONDER_CUDA_EARLY_START=0 timeout 120 ncu --clock-control none \
        --cache-control none --metrics gpu__time_duration.sum,dram__bytes_read.sum --csv \
        "${bench[@]}" --npl 1 --npp 128 --ntg 4 --no-cuda-graphs \
        >"$out/ncu_decode128_${profile%%:*}.csv" 2>&1
      python3 bench/engine/ncu_summary.py "$out/ncu_decode128_${profile%%:*}.csv" 2>&1 | head -18
    done
  fi
  if [ "${PROFILE:-1}" = 2 ]; then
    step "Nsight Compute: a batch-16 decode step at a context of 128, a 64 x 128 prefill step"
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
