#!/usr/bin/env bash
# The main job end to end on the built-in default data (Fashion-MNIST from
# Debian's dataset-fashion-mnist): installs, builds, then runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
meson setup build >/dev/null 2>&1 || true
ninja -C build
./build/src/graft devices
