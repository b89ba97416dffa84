#!/usr/bin/env bash
# llada against llama.cpp on the same weights, the same greedy LLaDA sampler and the same threads (issue 16
# item 8): fp32 vs f32, int8 (MatMulNBits) vs Q8_0, int4 (MatMulNBits) vs Q4_K_M.
#
#   bash scripts/llamacpp-compare.sh [MODEL_DIR ...]      (default: models/brown)
#   e.g. bash scripts/llamacpp-compare.sh models/brown export/bench-models/d2048-l2
#   MODEL_DIR:LLADA_DIR runs llada on LLADA_DIR instead (an export of the same weights with llada's extensions,
#   e.g. make_bench_model.py --logits-window, whose int8/int4 variants are quantized from it), llama.cpp on
#   MODEL_DIR's GGUF; the canvas column still compares with llada fp32 (on LLADA_DIR).
#
# Installs into $LLAMACPP_WORK (default .llamacpp/, gitignored; nothing here is committed):
#   - npm @node-llama-cpp/linux-x64 (prebuilt libllama with the llada architecture; it ships no CLI binaries),
#   - npm node-llama-cpp (its llama.cpp source as a git bundle: headers and gguf-py),
#   - scripts/llamacpp/diffusion_bench.c compiled against them (greedy LLaDA generation + libllama's quantizer),
#   - the llada CLI, and per model: GGUF f32/Q8_0/Q4_K_M (export/onnx_to_gguf.py + libllama) and the int8/int4
#     ONNX variants (export/quantize.py).
# Settings (environment): THREADS=2 PROMPT_LEN=96 GEN=32 STEPS=32 BLOCK=32 REPEAT=3 VARIANTS="fp32 int8 int4".
# Prints a markdown table: ms per step (median), tokens/s, peak resident memory of the process (warm-up and
# timed runs; /usr/bin/time) and whether each canvas equals llada fp32's.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${LLAMACPP_WORK:-$ROOT/.llamacpp}
VERSION=3.22.1 # node-llama-cpp release; its binaries are llama.cpp release v0.5.0 (the bundle's tag)
THREADS=${THREADS:-2} PROMPT_LEN=${PROMPT_LEN:-96} GEN=${GEN:-32} STEPS=${STEPS:-32} BLOCK=${BLOCK:-32}
REPEAT=${REPEAT:-3} VARIANTS=${VARIANTS:-fp32 int8 int4}
PY=${PYTHON:-/usr/bin/python3}
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=2
MODELS=() LLADA_DIRS=()
for m in "${@:-$ROOT/models/brown}"; do
  MODELS+=("$(cd "${m%%:*}" && pwd)")
  if [[ $m == *:* ]]; then LLADA_DIRS+=("$(cd "${m#*:}" && pwd)"); else LLADA_DIRS+=("${MODELS[-1]}"); fi
done
mkdir -p "$WORK"
cd "$WORK"

# 1. llama.cpp: prebuilt library and its source tree (headers, gguf-py)
LIB=$WORK/npm/package/bins/linux-x64
if [ ! -f "$LIB/libllama.v0.5.0.so" ]; then
  mkdir -p npm && (cd npm && npm pack --silent "@node-llama-cpp/linux-x64@$VERSION" >/dev/null &&
    tar xzf "node-llama-cpp-linux-x64-$VERSION.tgz")
fi
SRC=$WORK/llama.cpp
if [ ! -d "$SRC/include" ]; then
  mkdir -p npm/nlc && (cd npm && npm pack --silent "node-llama-cpp@$VERSION" >/dev/null &&
    tar xzf "node-llama-cpp-$VERSION.tgz" -C nlc)
  git clone -q "$WORK/npm/nlc/package/llama/gitRelease.bundle" "$SRC" 2>/dev/null
fi
export LLAMACPP_LIB_DIR=$LIB
BENCH=$WORK/diffusion_bench
gcc -O2 -Wall -o "$BENCH" "$ROOT/scripts/llamacpp/diffusion_bench.c" -I"$SRC/include" -I"$SRC/ggml/include" \
  -L"$LIB" -l:libllama.v0.5.0.so -l:libggml.v0.5.0.so -l:libggml-base.so -lm -Wl,-rpath,"$LIB"

# 2. llada
(cd "$ROOT/cmd/llada" && go build -o "$WORK/llada" .)
LLADA=$WORK/llada

gguf_type() { case $1 in fp32) echo f32 ;; int8) echo q8_0 ;; int4) echo q4_k_m ;; esac; }

echo "| model | weights | engine | ms/step (p50) | tokens/s | peak RSS MB | canvas = llada fp32 |"
echo "|---|---|---|--:|--:|--:|---|"
for i in "${!MODELS[@]}"; do
  MODEL=${MODELS[$i]} LDIR=${LLADA_DIRS[$i]}
  NAME=$(basename "$MODEL")
  OUT=$WORK/models/$NAME
  QPRE=$OUT/ # where llada's quantized variants go
  if [ "$LDIR" != "$MODEL" ]; then
    QPRE=$OUT/$(basename "$LDIR")-
    NAME="$NAME (llada: $(basename "$LDIR"))"
  fi
  mkdir -p "$OUT"
  TASK=()
  [ -f "$MODEL/config.json" ] || TASK=(--task brown)
  [ -f "$OUT/f32.gguf" ] || "$PY" "$ROOT/export/onnx_to_gguf.py" --gguf-py "$SRC/gguf-py" "${TASK[@]}" "$MODEL" "$OUT/f32.gguf" >&2
  MASK=$("$LLADA" info --model "$MODEL" --format json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["contract"]["MaskID"])')
  # The same prompt ids for both engines: a held-out sentence, tokenized, repeated to PROMPT_LEN ids.
  TEXT=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["sentences"][0])' "$ROOT/testdata/eval/brown_heldout.json")
  IDS=$("$LLADA" tokenize --tokenizer "$MODEL/tokenizer.json" --text "$TEXT" |
    "$PY" -c 'import json,sys; a=json.load(sys.stdin); n=int(sys.argv[1]); print(",".join(str(a[i % len(a)]) for i in range(n)))' "$PROMPT_LEN")
  printf '{"name":"greedy","prompt_ids":[%s],"gen_length":%d,"steps":%d,"block_length":%d}\n' "$IDS" "$GEN" "$STEPS" "$BLOCK" >"$OUT/case.jsonl"
  REF=""
  for V in $VARIANTS; do
    DIR=$LDIR
    if [ "$V" != fp32 ]; then
      DIR=$QPRE$V
      [ -f "$DIR/model.onnx" ] || "$PY" "$ROOT/export/quantize.py" --bits "${V#int}" "$LDIR" "$DIR" >&2
    fi
    GG=$OUT/$(gguf_type "$V").gguf
    [ -f "$GG" ] || "$BENCH" quantize "$OUT/f32.gguf" "$GG" "$(gguf_type "$V")" "$THREADS" 2>"$OUT/quantize-$V.log"
    /usr/bin/time -f %M -o "$OUT/llada-$V.rss" "$LLADA" bench --model "$DIR" --cases "$OUT/case.jsonl" --repeat "$REPEAT" --threads "$THREADS" --format json >"$OUT/llada-$V.json"
    /usr/bin/time -f %M -o "$OUT/llamacpp-$V.rss" "$BENCH" gen "$GG" "$THREADS" "$IDS" "$GEN" "$STEPS" "$BLOCK" "$MASK" "$REPEAT" >"$OUT/llamacpp-$V.txt" 2>"$OUT/llamacpp-$V.log"
    LINE=$("$PY" - "$OUT/llada-$V.json" "$OUT/llamacpp-$V.txt" "${REF:-}" <<'EOF'
import json, sys
rss = [int(open(p[:p.rindex(".")] + ".rss").read().split()[-1]) / 1024 for p in sys.argv[1:3]]
bench = json.load(open(sys.argv[1]))
ids = [",".join(map(str, c["ids"])) for c in bench["cases"]]
lines = open(sys.argv[2]).read().split("\n")
lc_ids = [l.split(" ids ")[1] for l in lines if l.startswith("run ")]
summ = [l.split() for l in lines if l.startswith("summary ")][0]
ref = sys.argv[3] or ids[0]
same = lambda xs: "yes" if all(x == ref for x in xs) else "no"
s = bench["summary"]
print(f"llada|{s['step_p50_ms']:.1f}|{s['tokens_per_s']:.2f}|{rss[0]:.0f}|{same(ids)}|{ids[0]}")
print(f"llama.cpp|{float(summ[4]):.1f}|{float(summ[2]):.2f}|{rss[1]:.0f}|{same(lc_ids)}|")
EOF
)
    [ -n "$REF" ] || REF=$(echo "$LINE" | head -1 | cut -d'|' -f6)
    echo "$LINE" | while IFS='|' read -r ENGINE MS TPS RSS SAME _; do
      echo "| $NAME | $V / $(gguf_type "$V") | $ENGINE | $MS | $TPS | $RSS | $SAME |"
    done
  done
done
