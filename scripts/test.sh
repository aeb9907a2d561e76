#!/usr/bin/env bash
# Sets up, configures, builds and runs every test. This is the README's test command and what
# CI runs (.ci/run).
#
#   scripts/test.sh              release-with-debug-info build in build/, warnings as errors
#   scripts/test.sh --sanitize   ASan + UBSan build in build-asan/
#   extra arguments after -- go to ctest (e.g. scripts/test.sh -- -R Gguf)
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
