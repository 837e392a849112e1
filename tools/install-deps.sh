#!/usr/bin/env bash
# Installs every Debian package graft needs to build, test and run its default job.
# Idempotent: when everything is present it changes nothing and needs no network.
# Usage: tools/install-deps.sh [--bench]   (--bench adds PyTorch, torchvision, OpenBLAS and ONNX for tools/bench
#        and tools/make_onnx_goldens.py)
set -euo pipefail

pkgs=(
  build-essential pkg-config meson ninja-build python3
  ocl-icd-opencl-dev opencl-headers ocl-icd-libopencl1 clinfo
  pocl-opencl-icd
  libclblast-dev
  libpng-dev zlib1g-dev libjpeg62-turbo-dev
  check
  clang libclang-rt-14-dev
  liblapacke-dev
  libprotobuf-c-dev protobuf-c-compiler
  opencv-doc
  dataset-fashion-mnist
  libopenmpi-dev openmpi-bin
)
if [ "${1:-}" = "--bench" ]; then
  pkgs+=(python3-torch python3-torchvision python3-numpy libopenblas-dev python3-onnx python3-pil)
fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
