#!/usr/bin/env bash
# Sets up, configures, builds and runs every test. This is the README's test command and what
# CI runs (.ci/run).
#
#   scripts/test.sh              release-with-debug-info build in build/, warnings as errors
#   scripts/test.sh --sanitize   ASan + UBSan build in build-asan/
#   extra arguments after -- go to ctest (e.g. scripts/test.sh -- -R Gguf)
#
# Where the CUDA Toolkit is installed (nvcc on PATH or in /usr/local/cuda), the plain run also
# builds the CUDA backend (-DPONDER_CUDA=ON in build-cuda-ci/: the engine, its CUDA tests and
# engine_bench) and runs those tests; without a GPU they skip with a message.
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=build
cmake_args=(-DPONDER_WERROR=ON)
ctest_args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --sanitize) build_dir=build-asan; cmake_args+=(-DPONDER_SANITIZE=ON) ;;
    --) shift; ctest_args+=("$@"); break ;;
    *) echo "test.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

scripts/setup.sh
jobs=$(nproc)
launcher=()
if command -v ccache >/dev/null 2>&1; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S . -B "$build_dir" -G Ninja "${cmake_args[@]}" "${launcher[@]}"
cmake --build "$build_dir" -j "$jobs"
ctest --test-dir "$build_dir" --output-on-failure -j "$jobs" "${ctest_args[@]}"

if [[ $build_dir == build && ${#ctest_args[@]} -eq 0 ]]; then
  nvcc=$(command -v nvcc || true)
  [[ -z "$nvcc" && -x /usr/local/cuda/bin/nvcc ]] && nvcc=/usr/local/cuda/bin/nvcc
  if [[ -n "$nvcc" ]]; then
    cuda_launcher=()
    [[ ${#launcher[@]} -gt 0 ]] && cuda_launcher=(-DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
    cmake -S . -B build-cuda-ci -G Ninja -DPONDER_WERROR=ON -DPONDER_CUDA=ON \
      -DCMAKE_CUDA_COMPILER="$nvcc" "${launcher[@]}" "${cuda_launcher[@]}"
    cmake --build build-cuda-ci -j "$jobs" --target engine_cuda_test engine_backend_test engine_bench
    ctest --test-dir build-cuda-ci --output-on-failure -j "$jobs" \
      -L '^(engine_cuda_test|engine_backend_test)$'
  else
    echo "test.sh: no CUDA Toolkit (nvcc) here; the CUDA backend was not compiled"
  fi
fi
