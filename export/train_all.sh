#!/bin/bash
# Trains the three models in parallel on one GPU, as done for the committed models (one H200, torch 2.11):
#   OUT=/tmp/llada-runs bash export/train_all.sh            # then export with export/export_onnx.py (README)
# Env: OUT (required), DEVICE (default cuda), BUDGET (seconds per training, default 150), SEED (default 1),
# DATA_DIR (default export/data, made by export/data.py and export/sudoku.py pool), PY (python with torch).
set -euo pipefail
: "${OUT:?set OUT to an output directory}"
DEVICE=${DEVICE:-cuda}
BUDGET=${BUDGET:-150}
SEED=${SEED:-1}
HERE="$(cd "$(dirname "$0")" && pwd)"
DATA_DIR=${DATA_DIR:-$HERE/data}
PY=${PY:-python3}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT"
for t in brown judge sudoku; do
  "$PY" "$HERE/train.py" --task "$t" --device "$DEVICE" --time-budget "$BUDGET" --seed "$SEED" \
      --out "$OUT/$t" --data-dir "$DATA_DIR" --compact --eval-every 10 &
done
wait
