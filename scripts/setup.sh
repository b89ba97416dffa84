#!/usr/bin/env bash
# Installs what the tests need, idempotently: ONNX Runtime (from npm), the official OpenAI Node client that
# the server's end-to-end test drives (npm openai, pinned by tools/openai-client/package-lock.json) and, for
# the Python export tests, Debian's torch, onnx and OpenBLAS. Safe to run repeatedly; does nothing when
# everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-onnxruntime.sh >/dev/null

py=/usr/bin/python3
if ! "$py" -c 'import torch, onnx, numpy' >/dev/null 2>&1 || [ ! -e /usr/lib/x86_64-linux-gnu/openblas-pthread ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # libopenblas0-pthread: without it torch's matrix products run ~20x slower here.
  apt-get install -y -qq python3-torch python3-onnx python3-numpy libopenblas0-pthread >/dev/null
fi

if [ ! -e tools/openai-client/node_modules/openai/package.json ]; then
  (cd tools/openai-client && npm ci --no-audit --no-fund --silent)
fi
