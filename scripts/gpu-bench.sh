#!/usr/bin/env bash
# GPU benchmark of the GoMLX backend (issue #14), prepared and NOT yet run: no GPU was available when it was
# written. One run: builds a random-weight LLaDA-8B-shaped model (32 layers, d_model 4096, 32 heads, MLP 12288,
# vocab 126464; float32, ~32 GB external data), then measures on the CUDA device through GoMLX/XLA:
#   - per-forward and per-confidence-pass time at L=128/320/576, B=1 and 8 (median of 5 after a compiling pass),
#   - end-to-end tokens/s generating 256 tokens in 64 steps (4 tokens per step) after a 64-token prompt,
# and PyTorch eager on the same model class and shapes when a CUDA build of torch is installed (otherwise the
# anchor from the issue, measured on an H100, stands: 19.8/20.7/24.8 ms at B=1 and 36/89/160 ms at B=8).
#
# Needs: Go with cgo, python3 ($PYTHON, default /usr/bin/python3) with torch and onnx (Debian's python3-torch/python3-onnx do), ~70 GB RAM and
# ~35 GB disk for the model, and the PJRT CUDA plugin: LLADA_PJRT_PLUGIN=/abs/path/pjrt_c_api_cuda_plugin.so
# (from the jax-cuda12-pjrt wheel; the CUDA 12 libraries on the library path).
#
# Usage: LLADA_PJRT_PLUGIN=... bash scripts/gpu-bench.sh [OUT_DIR]   (OUT_DIR default /tmp/llada-gpu-bench)
# Quick dry run of the same pipeline on the CPU with a toy shape: DRY=1 bash scripts/gpu-bench.sh
set -euo pipefail
py=${PYTHON:-/usr/bin/python3}
cd "$(dirname "$0")/.."
out=${1:-/tmp/llada-gpu-bench}
[ "${DRY:-0}" = 1 ] && out=${1:-/tmp/llada-gpu-bench-dry} # never mix the toy model with the real one
mkdir -p "$out"
device=cuda
shape=()
lengths=128,320,576
gen=(--gen 256 --steps 64 --prompt 64)
if [ "${DRY:-0}" = 1 ]; then
  device=cpu lengths=16,32
  gen=(--gen 16 --steps 4 --prompt 8)
  shape=(--layers 2 --d-model 256 --heads 4 --mlp 768 --vocab 1024)
else
  : "${LLADA_PJRT_PLUGIN:?set LLADA_PJRT_PLUGIN to the absolute path of pjrt_c_api_cuda_plugin.so}"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
fi

if [ ! -f "$out/model/model.onnx" ]; then
  echo "== random-weight model -> $out/model"
  "$py" export/make_gpu_bench_model.py --out "$out/model" "${shape[@]}"
fi

echo "== GoMLX ($device)"
tags=()
[ "$device" = cuda ] && tags=(-tags pjrt)
go run "${tags[@]}" ./gomlx/cmd/stepbench --model "$out/model" --device "$device" --lengths "$lengths" \
  --batches 1,8 --reps 5 "${gen[@]}" | tee "$out/gomlx.jsonl"

if [ "$device" = cuda ]; then
  echo "== PyTorch eager (same model class, same shapes)"
  "$py" export/bench_torch_eager.py --lengths "$lengths" --batches 1,8 | tee "$out/torch.jsonl"
fi
echo "results in $out"
