#!/usr/bin/env bash
# The CUDA backend's check on a lent GPU machine, in one short call: the GPU tests, engine_bench
# against Hugging Face transformers on a Qwen2.5-1.5B-shaped random BF16 model, decode attention
# and the launch modes side by side, the decode matrix-vector products alone and chained per
# SkinnyPlan (skinny_bench, cuBLAS beside), and profiles (Nsight Compute) of those products and
# of a decode and a prefill step, kernel by kernel.
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
# About 220 s of device time on an H200 in stop 23, 120 s of it the profiles; stop 24 added the
# products' bench and profile and the prefill attention comparison (about 130 s more, estimated:
# written without a GPU).
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
  # engine_bench with `setting` (VAR=value) and the arguments after `file`: its table rows, each
  # prefixed by `label`, appended to $out/file.
  rows() {
    local setting=$1 label=$2 file=$3
    shift 3
    env "$setting" timeout 60 "${bench[@]}" "$@" --ubatch 8192 2>&1 | grep -E '^ +[0-9]+ \|' |
      sed "s/^/$label: /" | tee -a "$out/$file"
  }
  step "engine_bench: graphs and early starts (the defaults), transformers beside"
  timeout 240 "${bench[@]}" --npl 1,16,64 --ntg 64 --ubatch 8192 \
    --hf-python "env -u LD_LIBRARY_PATH PYTHONUNBUFFERED=1 python3" 2>&1 |
    grep -v 'Loading weights' | tee "$out/bench.log"
  step "prefill attention on CUDA cores (the default) and on the tensor cores (PONDER_CUDA_PREFILL_ATTENTION=mma; off by default)"
  for mode in cuda_cores mma; do
    rows PONDER_CUDA_PREFILL_ATTENTION=$mode "$mode, prompts of 128" prefill_attention.log \
      --npl 1,16,64 --ntg 8
    rows PONDER_CUDA_PREFILL_ATTENTION=$mode "$mode, prompts of 1024" prefill_attention.log \
      --npl 4,16 --npp 1024 --ntg 8
  done
  step "the decode products alone and chained, per plan (kernels.h SkinnyPlan), cuBLAS beside"
  timeout 120 $p/bin/skinny_bench --tokens 1,8,16,64 \
    --plans default,flat=1,stage=0,flat=1+stage=0,warps=2048,warps=8192,flat=1+warps=8192,blocks=1 \
    2>&1 |
    tee "$out/skinny.log"
  step "the decode products' loads across units in the whole engine (PONDER_CUDA_SKINNY_FLAT=1; off by default), the default beside"
  for flat in 0 1; do
    rows PONDER_CUDA_SKINNY_FLAT=$flat "flat $flat" skinny_flat.log --npl 1,4,8 --ntg 64
  done
  step "decode steps that draw on the GPU (temperature 0.8, top-p 0.95) instead of greedy"
  timeout 60 "${bench[@]}" --npl 1,16,64 --ntg 64 --ubatch 8192 --temperature 0.8 --top-p 0.95 \
    2>&1 | grep -E "$table" | tee "$out/sampled.log"
  timeout 60 "${bench[@]}" --npl 1,64 --ntg 64 --ubatch 8192 --temperature 0.8 --top-k 50 \
    --top-p 0.95 2>&1 | grep -E "$table" | tee "$out/sampled_top_k.log"
  step "the same draws with each probability computed once (PONDER_CUDA_DRAW_CACHE=1; off by default)"
  PONDER_CUDA_DRAW_CACHE=1 timeout 60 "${bench[@]}" --npl 1,16,64 --ntg 64 --ubatch 8192 \
    --temperature 0.8 --top-p 0.95 2>&1 | grep -E "$table" | tee "$out/sampled_cached.log"
  step "decode attention: a block per head (split where the heads leave multiprocessors idle is the default)"
  PONDER_CUDA_SPLIT_ATTENTION=0 timeout 60 "${bench[@]}" --npl 1,4,8,16,64 --ntg 64 \
    --ubatch 8192 2>&1 | grep -E "$table" | tee "$out/per_head.log"
  timeout 60 "${bench[@]}" --npl 4,8 --ntg 64 --ubatch 8192 2>&1 | grep -E "$table" |
    tee "$out/auto_4_8.log"
  step "decode attention at a context of 1024: the default, a block per head, split at batch 16"
  timeout 60 "${bench[@]}" --npl 1,16 --npp 1024 --ntg 64 --ubatch 8192 2>&1 | grep -E "$table" |
    tee "$out/auto_1024.log"
  PONDER_CUDA_SPLIT_ATTENTION=0 timeout 60 "${bench[@]}" --npl 1 --npp 1024 --ntg 64 \
    --ubatch 8192 2>&1 | grep -E "$table" | tee "$out/per_head_1024.log"
  PONDER_CUDA_SPLIT_ATTENTION=1 timeout 60 "${bench[@]}" --npl 16 --npp 1024 --ntg 64 \
    --ubatch 8192 2>&1 | grep -E "$table" | tee "$out/split_1024.log"
  step "split with a block per KV head and stretch (PONDER_CUDA_SPLIT_ATTENTION=grouped; off by default)"
  PONDER_CUDA_SPLIT_ATTENTION=grouped timeout 60 "${bench[@]}" --npl 1,16,64 --ntg 64 \
    --ubatch 8192 2>&1 | grep -E "$table" | tee "$out/split_grouped.log"
  PONDER_CUDA_SPLIT_ATTENTION=grouped timeout 60 "${bench[@]}" --npl 1,16 --npp 1024 --ntg 64 \
    --ubatch 8192 2>&1 | grep -E "$table" | tee "$out/split_grouped_1024.log"
  step "decode attention for the split rule: batches 16 to 64 at contexts of 512 and 2048, each mode"
  for mode in 0 1 grouped; do
    rows PONDER_CUDA_SPLIT_ATTENTION=$mode "mode $mode, context 512" split_rule.log \
      --npl 16,32,64 --npp 512 --ntg 32
    rows PONDER_CUDA_SPLIT_ATTENTION=$mode "mode $mode, context 2048" split_rule.log \
      --npl 16,32 --npp 2048 --ntg 32
  done
  step "graphs, no early starts"
  PONDER_CUDA_EARLY_START=0 timeout 60 "${bench[@]}" --npl 1,16 --ntg 64 --ubatch 8192 2>&1 |
    grep -E "$table" | tee "$out/ab_graphs.log"
  step "neither"
  PONDER_CUDA_EARLY_START=0 timeout 60 "${bench[@]}" --npl 1,16 --ntg 64 --ubatch 8192 \
    --no-cuda-graphs 2>&1 | grep -E "$table" | tee "$out/ab_plain.log"
  step "early starts, no graphs"
  timeout 60 "${bench[@]}" --npl 1 --ntg 64 --ubatch 8192 --no-cuda-graphs 2>&1 |
    grep -E "$table" | tee "$out/ab_early.log"
  step "prefill in the engine's default micro-batches (512 tokens)"
  timeout 60 "${bench[@]}" --npl 64 --ntg 8 --ubatch 512 2>&1 | grep -E "$table" |
    tee "$out/ubatch512.log"
  if [ "${PROFILE:-1}" = 1 ]; then
    step "Nsight Compute: why the batch-1 products take what they take (stalls, occupancy, DRAM)"
    timeout 150 ncu --clock-control none --cache-control none -k regex:SkinnyMatMul -c 10 \
      --section SpeedOfLight --section MemoryWorkloadAnalysis --section Occupancy \
      --section LaunchStats --section WarpStateStats --section SchedulerStats \
      $p/bin/skinny_bench --tokens 1 --no-cuda-graphs --launches 1 --replays 1 \
      >"$out/ncu_products.txt" 2>&1
    timeout 150 ncu --clock-control none --cache-control none -k regex:SkinnyFlat -c 10 \
      --section SpeedOfLight --section MemoryWorkloadAnalysis --section Occupancy \
      --section LaunchStats --section WarpStateStats --section SchedulerStats \
      $p/bin/skinny_bench --tokens 1 --no-cuda-graphs --launches 1 --replays 1 --plans flat=1 \
      >"$out/ncu_products_flat.txt" 2>&1
    grep -E 'Skinny(MatMul|Flat)|^ +(Duration|DRAM Throughput|Achieved Occupancy|Registers Per Thread|Issue Slots Busy|Warp Cycles Per Issued Instruction|Block Limit Registers) ' \
      "$out/ncu_products.txt" "$out/ncu_products_flat.txt" | head -160
    step "Nsight Compute: batch-1 decode steps at contexts of 16 and 128, a 64 x 128 prefill step"
    PONDER_CUDA_EARLY_START=0 timeout 120 ncu --clock-control none --cache-control none \
      --metrics gpu__time_duration.sum,dram__bytes_read.sum --csv "${bench[@]}" --npl 1 --npp 16 \
      --ntg 4 --no-cuda-graphs >"$out/ncu_decode.csv" 2>&1
    PONDER_CUDA_EARLY_START=0 timeout 120 ncu --clock-control none --cache-control none \
      --metrics gpu__time_duration.sum,dram__bytes_read.sum --csv "${bench[@]}" --npl 1 \
      --npp 128 --ntg 4 --no-cuda-graphs >"$out/ncu_decode128.csv" 2>&1
    python3 bench/engine/ncu_summary.py "$out/ncu_decode128.csv" 2>&1 | head -14
    PONDER_CUDA_EARLY_START=0 timeout 120 ncu --clock-control none --cache-control none \
      --metrics gpu__time_duration.sum --csv "${bench[@]}" --npl 64 --npp 128 --ntg 1 \
      --ubatch 8192 --no-cuda-graphs >"$out/ncu_prefill.csv" 2>&1
    PONDER_CUDA_PREFILL_ATTENTION=mma PONDER_CUDA_EARLY_START=0 timeout 120 ncu \
      --clock-control none --cache-control none --metrics gpu__time_duration.sum --csv \
      "${bench[@]}" --npl 64 --npp 128 --ntg 1 --ubatch 8192 --no-cuda-graphs \
      >"$out/ncu_prefill_mma.csv" 2>&1
    for csv in ncu_prefill ncu_prefill_mma; do
      python3 bench/engine/ncu_summary.py "$out/$csv.csv" --tokens 8192 2>&1 |
        grep -E 'kernels,|Prefill' | sed "s/^/$csv: /"
    done
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
