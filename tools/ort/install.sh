#!/usr/bin/env bash
# Installs ONNX Runtime for node (npm onnxruntime-node, version pinned in
# tools/ort/package.json and package-lock.json) into a cache folder and prints
# the node_modules folder to use as NODE_PATH for tools/ort/run.js.
#
#   tools/ort/install.sh [DIR]     (default: $GRAFT_ORT_DIR or out/ort)
#
# --ignore-scripts: the package's install script only downloads GPU extras
# (CUDA / TensorRT), which are not needed; the CPU libonnxruntime.so.1 ships
# inside the package. Idempotent: when the pinned version and the CPU library
# are present it needs no network. Exit status 1 (message on stderr) when
# node/npm are missing or the install fails.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dir="${1:-${GRAFT_ORT_DIR:-out/ort}}"
want=$(sed -n 's/.*"onnxruntime-node": *"\([^"]*\)".*/\1/p' "$here/package.json")

installed() {
    local pkg="$dir/node_modules/onnxruntime-node"
    [ -f "$pkg/package.json" ] &&
        grep -q "\"version\": *\"$want\"" "$pkg/package.json" &&
        ls "$pkg"/bin/napi-v*/linux/x64/libonnxruntime.so.1 >/dev/null 2>&1 &&
        ls "$pkg"/bin/napi-v*/linux/x64/onnxruntime_binding.node >/dev/null 2>&1
}

if ! installed; then
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        echo "ort install: node and npm are needed (Debian: apt-get install nodejs npm)" >&2
        exit 1
    fi
    mkdir -p "$dir"
    cp "$here/package.json" "$here/package-lock.json" "$dir/"
    echo "ort install: npm ci --ignore-scripts onnxruntime-node@$want into $dir" >&2
    if ! (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund >npm.log 2>&1); then
        echo "ort install: npm failed (see $dir/npm.log)" >&2
        exit 1
    fi
    if ! installed; then
        echo "ort install: onnxruntime-node $want installed without the linux-x64 CPU library" >&2
        exit 1
    fi
fi
echo "$(cd "$dir" && pwd)/node_modules"
