#!/usr/bin/env bash
# Regenerates every golden trace under testdata/goldens/ (and the tiny parity model) from the Python
# references in export/reference/, after checking the references on hand-worked cases.
#
#   bash export/make_goldens.sh
#
# Deterministic: the same command gives byte-identical files. Needs Debian's python3-torch, python3-numpy and
# python3-onnx (/usr/bin/python3); the brown goldens additionally need that model's torch checkpoint
# (models/brown/config.json + model.safetensors) and are skipped, with a message, when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=2
PY=/usr/bin/python3

"$PY" export/reference/selfcheck.py
"$PY" export/reference/make_goldens.py --model tiny
if [[ -f models/brown/model.safetensors && -f models/brown/config.json ]]; then
  "$PY" export/reference/make_goldens.py --model brown
else
  echo "make_goldens: no models/brown checkpoint here; brown goldens left as they are" >&2
fi
du -sh testdata/goldens
