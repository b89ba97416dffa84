#!/usr/bin/env bash
# Regenerates every golden trace under testdata/goldens/ (and the tiny parity model) from the Python
# references in export/reference/, after checking the references on hand-worked cases.
#
#   bash export/make_goldens.sh
#
# Deterministic: the same command gives byte-identical files. Needs Debian's python3-torch, python3-numpy and
# python3-onnx (/usr/bin/python3).
#
# The brown goldens (testdata/goldens/brown/) need what only a training run leaves behind: the torch
# checkpoint of models/brown/model.onnx (config.json + model.safetensors, or a --compact safetensors) in
# models/brown/ or $BROWN_CKPT, the held-out sentences export/data.py writes (export/data/heldout_sentences.json
# or $BROWN_SENTENCES), and node_modules with tokenizers@0.23.2 (export/tokenizer/node_modules or
# $LLADA_NODE_MODULES). Without a checkpoint they are left as they are, with a message.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=2
PY=/usr/bin/python3

"$PY" export/reference/selfcheck.py
"$PY" export/reference/make_goldens.py --model tiny
if [[ -n "${BROWN_CKPT:-}" || -f "${BROWN_DIR:-models/brown}/model.safetensors" ]]; then
  "$PY" export/reference/make_goldens.py --model brown
else
  echo "make_goldens: no brown torch checkpoint (models/brown/model.safetensors or \$BROWN_CKPT);" \
    "brown goldens left as they are" >&2
fi
du -sh testdata/goldens
