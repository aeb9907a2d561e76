#!/usr/bin/env bash
# The CUDA backend's check on a lent GPU machine, in one short call: the GPU tests, engine_bench
# against Hugging Face transformers on a Qwen2.5-1.5B-shaped random BF16 model, the wide block
# per head's rule beside never (stop 32), the candidates measured in stop 32's first call (a wide
# block per head at any number of heads, PONDER_CUDA_WIDE_ATTENTION=N; a higher split-K target,
# PONDER_CUDA_SKINNY_WARPS; other batches of loads for the one-token gate/up product,
# PONDER_CUDA_GATE_UP_UNROLL, the down product on our kernel, PONDER_CUDA_SKINNY_DOWN, weights
# through shared memory by cp.async, PONDER_CUDA_SKINNY_ASYNC=1), decode attention's pipelining
# rule beside never and always, sampled draws by clusters (the default on Hopper) and by one
# block, stop 33's longer stretches for split attention (PONDER_CUDA_SPLIT_KEYS), stop 36's
# defaults for the one-token down product beside cuBLAS's and other batches of loads (with
# skinny_bench's rows for Qwen2.5-1.5B's and 7B's shapes), each beside the defaults, and a
# profile (Nsight Compute) of a batch-1 decode step, kernel by kernel.
#
#   bench/engine/cuda_device_check.sh pack   # here, after building build-cuda (-DPONDER_CUDA=ON):
#                                            # writes build-cuda/carry/payload.tar.xz
#   bench/engine/cuda_device_check.sh run    # there, from the repository root, with
#                                            # build-cuda/carry/payload.tar.xz carried along
#
# The binaries link Debian's shared libraries, which the device image (Ubuntu) lacks: `pack`
# bundles the non-system ones (Abseil, Highway, ICU, PCRE2; libstdc++ as a fallback) and `run`
# puts them and the image's cuBLAS on LD_LIBRARY_PATH. Logs go to $OUT (or /tmp/out) as one
# archive, logs.tgz (the device tool brings back a few files only). PARTS (comma-separated:
# tests, bench, rule, wide, skinny, unroll, pipeline, sampled, split, down) picks sections;
# TEST_SETTINGS runs the GPU tests (part `tests`) again with those settings (VAR=value,
# space-separated); PROFILE=0 skips the batch-1 profile, PROFILE_SETTINGS gives it settings,
# PROFILE=2 adds batch-16 decode and prefill profiles (with the defaults). On an H200 in stop 32
# the parts tests, bench, wide, skinny and unroll with the profile took 180 s, tests and two
# parts of 10 to 20 short runs about 75 s (a fresh machine about 40 s more); new candidates go in
# a section of their own, each beside the defaults in the same call.
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
  # PARTS picks the sections (all by default); TEST_SETTINGS (VAR=value, space-separated) runs
  # the GPU tests again with those settings, PROFILE_SETTINGS profiles with them.
  local parts=${PARTS:-tests,bench,rule,wide,skinny,unroll,pipeline,sampled,split,down}
  part() { [[ ",$parts," == *",$1,"* ]]; }
  if part tests; then
    step "GPU tests"
    timeout 200 $p/bin/engine_cuda_test --gtest_brief=1 >"$out/cuda_test.log" 2>&1
    echo "engine_cuda_test rc=$?"
    grep -E '^\[  (FAILED|PASSED) |cuda vs cpu|Failure' "$out/cuda_test.log" | head -40
    # Tests that skipped (a draw-cluster test where the device cannot run clusters, ...).
    grep -E '^\[  SKIPPED \]' "$out/cuda_test.log" | sort | uniq -c | head -10
    if [ -n "${TEST_SETTINGS:-}" ]; then
      # shellcheck disable=SC2086  # one word per setting
      env $TEST_SETTINGS timeout 200 $p/bin/engine_cuda_test --gtest_brief=1 \
        >"$out/cuda_test_settings.log" 2>&1
      echo "engine_cuda_test ($TEST_SETTINGS) rc=$?"
      grep -E '^\[  (FAILED|PASSED) |Failure' "$out/cuda_test_settings.log" | head -20
    fi
  fi
  wait $model
  tail -1 "$out/model.log"
  local bench=("$p/bin/engine_bench" --model /tmp/m15 --device cuda --npp 128)
  # engine_bench with `settings` (VAR=value, space-separated) and the arguments after `file`: its
  # table rows (and any error), each prefixed by `label`, appended to $out/file.
  rows() {
    local settings=$1 label=$2 file=$3
    shift 3
    # shellcheck disable=SC2086  # one word per setting
    env $settings timeout 60 "${bench[@]}" "$@" --ubatch 8192 2>&1 | tee -a "$out/raw_$file" |
      grep -E '^ +[0-9]+ \||^decode step at batch|rror' | sed "s|^|$label: |" | tee -a "$out/$file"
  }
  if part bench; then
    step "engine_bench: the defaults, transformers beside"
    timeout 240 "${bench[@]}" --npl 1,16,64 --ntg 64 --ubatch 8192 \
      --hf-python "env -u LD_LIBRARY_PATH PYTHONUNBUFFERED=1 python3" 2>&1 |
      grep -v 'Loading weights' | tee "$out/bench.log"
    # Each decode step's time on the CUDA stream beside its wall time: the GPU's wait for the
    # host (PONDER_CUDA_STEP_TIMING; its events cost a little host time themselves).
    rows PONDER_CUDA_STEP_TIMING=1 "step timing" timing.log --npl 1,16,64 --ntg 64
  fi
  # Stop 28's candidate (written after its device time): decode steps that would split their
  # attention take a wide block per head instead while the mean context is at most N
  # (PONDER_CUDA_WIDE_ATTENTION=N), beside the defaults, at batch sizes that split.
  if part wide; then
    step "a wide block per head instead of split attention, beside the defaults"
    # Each wide setting with its loads pipelined where the rule says (the default), then never.
    rows "" "defaults" wide.log --npl 1,4,8 --ntg 64
    rows PONDER_CUDA_WIDE_ATTENTION=256 "wide to 256" wide.log --npl 1,4,8 --ntg 64
    rows "PONDER_CUDA_WIDE_ATTENTION=256 PONDER_CUDA_ATTENTION_PIPELINE=0" \
      "wide to 256, not pipelined" wide.log --npl 1,4,8 --ntg 64
    rows "" "defaults, context 512" wide.log --npl 1,4 --npp 512 --ntg 32
    rows PONDER_CUDA_WIDE_ATTENTION=1024 "wide to 1024, context 512" wide.log --npl 1,4 \
      --npp 512 --ntg 32
    rows "" "defaults, context 1024" wide.log --npl 1,16 --npp 1024 --ntg 32
    rows PONDER_CUDA_WIDE_ATTENTION=2048 "wide to 2048, context 1024" wide.log --npl 1,16 \
      --npp 1024 --ntg 32
    rows "PONDER_CUDA_WIDE_ATTENTION=2048 PONDER_CUDA_ATTENTION_PIPELINE=0" \
      "wide to 2048, not pipelined, context 1024" wide.log --npl 1,16 --npp 1024 --ntg 32
    rows "" "defaults" wide.log --npl 1 --ntg 64
  fi
  # Stop 28's second candidate: a higher split-K target for the matrix-vector kernels, which halves
  # gate/up's groups so its persistent grid fills the multiprocessors more evenly (224 blocks on
  # 132 that hold two each by default). The products alone (skinny_bench), then end to end.
  if part skinny; then
    step "the matrix-vector kernels' split-K target: 4096 (the default) beside 8192 and 16384"
    timeout 60 $p/bin/skinny_bench --tokens 1 --plans default,warps=8192,warps=16384 2>&1 |
      tee "$out/skinny.log"
    rows "" "defaults" skinny_rows.log --npl 1 --ntg 64
    # (8192 and 16384 change the down product alone of this model's one-token products: QKV and
    # the attention output stay at two warps a row by their length, gate/up at one (16384: two);
    # the down product takes eight warps a row instead of four, and then 8 chunks a lane, not 9.)
    rows PONDER_CUDA_SKINNY_WARPS=8192 "split-K target 8192" skinny_rows.log --npl 1 --ntg 64
    rows PONDER_CUDA_SKINNY_WARPS=16384 "split-K target 16384" skinny_rows.log --npl 1 --ntg 64
    rows "" "defaults" skinny_rows.log --npl 1 --ntg 64
  fi
  # Stop 29's candidates (run in stop 32, where gate/up 2 became the default; the down product's
  # batch size became a rule in stop 36): the one-token products' loads. The gate/up product at 4
  # chunks a lane (a full and a half-full batch a row pair) or 3 (two full batches) beside 2
  # (three blocks a multiprocessor; three full batches a row pair); the down product at 8 chunks a
  # lane instead of the rule's 9 (a full batch and one 9% full, against one), and through cuBLAS;
  # the weights of every one-token product but QKV (the down product's too) streamed through
  # shared memory by cp.async (PONDER_CUDA_SKINNY_ASYNC, 6 or 7 chunks a lane in flight; batch
  # sizes do not apply). The products alone, then end to end beside the defaults.
  if part unroll; then
    step "one-token loads: gate/up 2, 3, 4 chunks a lane; down at 8, 9, cuBLAS; cp.async"
    local plans=gated_unroll=2+plain_unroll=9,gated_unroll=2,gated_unroll=3+plain_unroll=9
    plans+=,gated_unroll=4+plain_unroll=9,async=1
    timeout 60 $p/bin/skinny_bench --tokens 1 --plans "$plans" 2>&1 | tee "$out/unroll.log"
    rows "" "defaults" unroll_rows.log --npl 1 --ntg 64
    rows PONDER_CUDA_GATE_UP_UNROLL=4 "gate/up 4" unroll_rows.log --npl 1 --ntg 64
    rows PONDER_CUDA_GATE_UP_UNROLL=3 "gate/up 3" unroll_rows.log --npl 1 --ntg 64
    rows PONDER_CUDA_SKINNY_DOWN=8 "down at 8" unroll_rows.log --npl 1 --ntg 64
    rows PONDER_CUDA_SKINNY_DOWN=0 "down on cuBLAS" unroll_rows.log --npl 1 --ntg 64
    rows PONDER_CUDA_SKINNY_ASYNC=1 "cp.async (down included)" unroll_rows.log --npl 1 --ntg 64
    rows "" "defaults" unroll_rows.log --npl 1 --ntg 64
  fi
  # Stop 32's rule for the wide block per head (steps that would split with heads for half the
  # multiprocessors or more, mean contexts up to 2 048: the default) beside never.
  if part rule; then
    step "the wide block's rule beside never"
    rows "" "defaults" rule.log --npl 4,6,8,10 --ntg 64
    rows PONDER_CUDA_WIDE_ATTENTION=0 "never wide" rule.log --npl 4,6,8,10 --ntg 64
    rows "" "defaults, context 1024" rule.log --npl 8,16 --npp 1024 --ntg 32
    rows PONDER_CUDA_WIDE_ATTENTION=0 "never wide, context 1024" rule.log --npl 8,16 --npp 1024 \
      --ntg 32
    rows "" "defaults, context 2048" rule.log --npl 8 --npp 2048 --ntg 32
    rows PONDER_CUDA_WIDE_ATTENTION=0 "never wide, context 2048" rule.log --npl 8 --npp 2048 \
      --ntg 32
  fi
  # The pipelining rule (auto) beside never and always (stop 28).
  if part pipeline; then
    step "decode attention's pipelining: the rule, never, always"
    local pipeline
    for pipeline in auto 0 1; do
      rows PONDER_CUDA_ATTENTION_PIPELINE=$pipeline "pipeline $pipeline" pipeline.log \
        --npl 1,4,8,20,32 --ntg 64
      rows PONDER_CUDA_ATTENTION_PIPELINE=$pipeline "pipeline $pipeline, context 512" pipeline.log \
        --npl 1,16 --npp 512 --ntg 32
    done
  fi
  if part sampled; then
    step "sampled decode (temperature 0.8, top-p 0.95): the default (clusters on Hopper), one block"
    rows "" "default" sampled.log --npl 1,16,64 --ntg 64 --temperature 0.8 --top-p 0.95
    rows PONDER_CUDA_DRAW_CLUSTER=1 "one block per draw" sampled.log --npl 1,16,64 --ntg 64 \
      --temperature 0.8 --top-p 0.95
  fi
  # Stop 33's candidate: stretches of at least 64 or 128 keys instead of 32 (a context of 160 in
  # 3 or 2 stretches instead of 5), at the batch sizes that split (batch 1 and 4; at 16 a context
  # of 1 024 takes the wide block), beside the defaults, which run first and last. (Its other
  # candidate, the merge in thread block clusters, lost in stop 36 and was removed.)
  if part split; then
    step "split attention: longer stretches, beside the defaults"
    local setting label=defaults
    for setting in "" PONDER_CUDA_SPLIT_KEYS=64 PONDER_CUDA_SPLIT_KEYS=128 ""; do
      [ -n "$setting" ] && label=$setting
      rows "$setting" "$label" split.log --npl 1,4 --ntg 64
      rows "$setting" "$label, context 1024" split.log --npl 1,4 --npp 1024 --ntg 32
      label="defaults again"
    done
  fi
  # Stop 36's defaults (x read 16 bytes a chunk, the one-token down product on the matrix-vector
  # kernel at the batch size with fewer batches: 9 chunks a lane for this shape) beside cuBLAS's
  # down product (the default before) and ours at 8, at batch 1 and contexts 128 and 1 024,
  # defaults first and last; then skinny_bench's one-token rows for this shape and for
  # Qwen2.5-7B's (hidden 3 584, MLP 18 944), whose down rows are twice as long.
  if part down; then
    step "the one-token down product: the default (ours, 9 here) beside cuBLAS and ours at 8"
    local setting label=defaults
    for setting in "" PONDER_CUDA_SKINNY_DOWN=0 PONDER_CUDA_SKINNY_DOWN=8 ""; do
      [ -n "$setting" ] && label=$setting
      rows "$setting" "$label" down.log --npl 1 --ntg 64
      rows "$setting" "$label, context 1024" down.log --npl 1 --npp 1024 --ntg 32
      label="defaults again"
    done
    step "skinny_bench: one-token products, Qwen2.5-1.5B's shape and Qwen2.5-7B's"
    local plans=gated_unroll=2,gated_unroll=2+plain_unroll=9,gated_unroll=3,gated_unroll=4
    timeout 60 $p/bin/skinny_bench --tokens 1 --plans "$plans" 2>&1 | tee "$out/skinny_1.5b.log" |
      grep -E 'copy|gate_up|down|chain'
    timeout 90 $p/bin/skinny_bench --tokens 1 --plans "$plans" --hidden 3584 --inter 18944 \
      --heads 28 --kv-heads 4 --vocab 152064 2>&1 | tee "$out/skinny_7b.log" |
      grep -E 'gate_up|down|chain'
  fi
  if [ "${PROFILE:-1}" != 0 ]; then
    step "Nsight Compute: a batch-1 decode step, context 128, ${PROFILE_SETTINGS:-the defaults}"
    # shellcheck disable=SC2086  # one word per setting
    env ${PROFILE_SETTINGS:-} PONDER_CUDA_EARLY_START=0 timeout 120 ncu --clock-control none \
      --cache-control none \
      --metrics gpu__time_duration.sum,dram__bytes_read.sum --csv "${bench[@]}" --npl 1 \
      --npp 128 --ntg 4 --no-cuda-graphs >"$out/ncu_decode128.csv" 2>&1
    python3 bench/engine/ncu_summary.py "$out/ncu_decode128.csv" 2>&1 | head -18
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
