#!/usr/bin/env bash
# llada's exact greedy mode against the reference PyTorch sampler on the same weights, in one session, rounds
# interleaved (issue 16 item 7: at least 1.5x, identical ids, stable from run to run).
#
#   bash scripts/torch-compare.sh [MODEL_DIR]        (default: models/brown)
#
# Builds the llada CLI into $WORK (default /tmp/llada-torch-compare), recovers the torch checkpoint of the ONNX
# file with export/onnx_to_ckpt.py (checked there against ONNX Runtime's logits), then runs
# export/torch_compare.py: per round every case on both engines (greedy, low-confidence remasking, held-out Brown
# sentences as prompts), ids compared, torch ms / llada ms printed, then median/min/max of the ratio and the load.
# Settings (environment): ROUNDS=7 THREADS=2 SETTINGS=64:64:32,128:128:32 PROMPTS=2 PROMPT_LEN=0 SAMPLER=ref|lean
# SPIN=true|false (llada bench --spin; unset: the bench's default) JSON=FILE (every round's figures).
# GOMAXPROCS, if set, sizes the Go scoring workers of the llada side.
# Cached + parallel mode (issue 16 item 7: at least 1.5x Fast-dLLM's PyTorch path, identical ids): CACHE=prefix,dual
# (any of prefix, dual, none) THRESHOLD=0.9. Torch runs export/reference/kvcache_ref.py (Fast-dLLM's prefix/dual
# cache, threshold transfer), llada `llada bench` with "cache" and fast-dllm-threshold on the KV-cache export of
# the same file (export/export_kvcache.py --from-onnx, built into $WORK once); SETTINGS defaults to 128:128:32.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-/tmp/llada-torch-compare}
PY=${PYTHON:-/usr/bin/python3}
MODEL=$(cd "${1:-$ROOT/models/brown}" && pwd)
CACHE=${CACHE:-} THRESHOLD=${THRESHOLD:-0.9}
if [ -n "$CACHE" ]; then DEFAULT_SETTINGS=128:128:32; else DEFAULT_SETTINGS=64:64:32,128:128:32; fi
ROUNDS=${ROUNDS:-7} THREADS=${THREADS:-2} SETTINGS=${SETTINGS:-$DEFAULT_SETTINGS} PROMPTS=${PROMPTS:-2}
PROMPT_LEN=${PROMPT_LEN:-0} SAMPLER=${SAMPLER:-ref}
export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS
mkdir -p "$WORK"
(cd "$ROOT" && go build -o "$WORK/llada" ./cmd/llada)
CKPT=$WORK/ckpt-$(basename "$MODEL")-$(sha256sum "$MODEL/model.onnx" | cut -c1-12)
if [ ! -f "$CKPT/model.safetensors" ]; then
  (cd "$ROOT" && "$PY" export/onnx_to_ckpt.py --model "$MODEL/model.onnx" --out "$CKPT")
fi
args=(--model "$MODEL" --ckpt "$CKPT" --llada "$WORK/llada" --rounds "$ROUNDS" --threads "$THREADS"
  --settings "$SETTINGS" --prompts "$PROMPTS" --prompt-len "$PROMPT_LEN" --sampler "$SAMPLER")
[ -n "${SPIN:-}" ] && args+=(--spin "$SPIN")
if [ -n "$CACHE" ]; then
  KV=$WORK/kv-$(basename "$MODEL")-$(sha256sum "$MODEL/model.onnx" | cut -c1-12)
  if [ ! -f "$KV/model.onnx" ]; then
    (cd "$ROOT" && "$PY" export/export_kvcache.py --from-onnx "$MODEL/model.onnx" --out "$KV")
  fi
  args+=(--cache "$CACHE" --threshold "$THRESHOLD" --kv-model "$KV")
fi
[ -n "${JSON:-}" ] && args+=(--json "$JSON")
cd "$ROOT" && exec "$PY" -u export/torch_compare.py "${args[@]}"
