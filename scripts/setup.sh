#!/usr/bin/env bash
# Installs every Debian package Ponder needs to build, test and run.
# Idempotent: packages already present are skipped. Must run as root (or with sudo available).
#
#   scripts/setup.sh           build + test + run dependencies
#   scripts/setup.sh --tools   also the Python tools (model training, golden-file scripts) and
#                              chromium (the headless-browser check of `ponder report`)
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ccache
  clang lld
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  libsqlite3-dev sqlite3 zlib1g-dev
  libgtest-dev libgmock-dev
  libpcre2-dev libhwy-dev nlohmann-json3-dev libnlopt-dev
  bubblewrap libseccomp-dev python3 libicu-dev
  python3-grpcio python3-protobuf
  libcurl4-openssl-dev
)
if [[ "${1:-}" == "--tools" ]]; then
  packages+=(python3-torch python3-numpy python3-scipy libopenblas0 chromium)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

echo "setup: installing ${missing[*]}"
if [[ $(id -u) -eq 0 ]]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  echo "setup: need root to install packages: ${missing[*]}" >&2
  echo "setup: run 'apt-get install ${missing[*]}' as root, then rerun this script" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
