#!/usr/bin/env bash
# Issue 16 item 9: step time and tokens/s of `llada bench` over model files (fp32/int8/int4, logits window on/off)
# and KV-cache modes (none/prefix/dual), one markdown row per (model, cache) with the command that made it.
#
#   bash scripts/perf-table.sh LABEL=MODEL_DIR [LABEL=MODEL_DIR ...]
#   e.g. bash scripts/perf-table.sh brown=models/brown brown-int8=export/bench-models/brown-int8
#
# Make the variants with: export/quantize.py --bits 8|4 SRC DST (int8/int4), export/export_onnx.py --logits-window
# or export/make_bench_model.py --logits-window (window on), and the --kv-cache exports for the cached modes.
# Settings (environment): CACHES="none prefix dual" GEN=64 STEPS=64 BLOCK=32 PROMPT_LEN=64 REPEAT=2 THREADS=2
# SPIN= (llada bench --spin; unset: the bench's default) LLADA= (a built llada binary; default: go build)
# PROMPT_IDS= (comma-separated ids instead of the Brown sentence, e.g. for a toy vocabulary) STRICT=1 (exit 1
# when any row could not run; CI uses it on testdata/kvcache).
# Every row runs in its own `llada bench` process after its warm-up generation; the prompt is the first held-out
# Brown sentence, tokenized and repeated to PROMPT_LEN ids (as scripts/llamacpp-compare.sh builds it), so every
# model of one table sees the same ids. A (model, cache) pair that the model or the CLI cannot run gets a row
# saying why (first line of the error) instead of figures. The 1-minute load average is printed per row: on a
# shared machine compare rows of one table, not tables.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHES=${CACHES:-none prefix dual} GEN=${GEN:-64} STEPS=${STEPS:-64} BLOCK=${BLOCK:-32}
PROMPT_LEN=${PROMPT_LEN:-64} REPEAT=${REPEAT:-2} THREADS=${THREADS:-2}
[ $# -ge 1 ] || { echo "usage: perf-table.sh LABEL=MODEL_DIR [LABEL=MODEL_DIR ...]" >&2; exit 2; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
LLADA=${LLADA:-}
if [ -z "$LLADA" ]; then
  (cd "$ROOT" && go build -o "$WORK/llada" ./cmd/llada)
  LLADA=$WORK/llada
fi
SPINARG=()
[ -n "${SPIN:-}" ] && SPINARG=("--spin=$SPIN")

source_ids="held-out Brown sentence 1"
[ -z "${PROMPT_IDS:-}" ] || source_ids="ids $PROMPT_IDS"
echo "Settings: greedy LLaDA sampler (low-confidence), prompt $PROMPT_LEN ids ($source_ids, repeated),"
echo "gen_length $GEN, steps $STEPS, block_length $BLOCK, $REPEAT timed runs after 1 warm-up, --threads $THREADS${SPIN:+, --spin=$SPIN};"
echo "$(nproc) cores, $(date -u +%FT%TZ)."
echo
echo "| model | weights | logits window | cache | ms/step (p50) | tokens/s | NFE/run | peak RSS MB | load1 | command |"
echo "|---|---|---|---|--:|--:|--:|--:|--:|---|"
unavailable=0
for spec in "$@"; do
  label=${spec%%=*} dir=${spec#*=}
  [ "$label" != "$spec" ] || { label=$(basename "$dir"); }
  info=$("$LLADA" info --model "$dir" --format json 2>"$WORK/err") || {
    echo "| $label | - | - | - | $(head -1 "$WORK/err" | tr '|' '/') | | | | | |"; continue; }
  read -r weights window ids < <(INFO="$info" ROOT="$ROOT" LLADA="$LLADA" DIR="$dir" N="$PROMPT_LEN" \
    IDS="${PROMPT_IDS:-}" python3 - <<'EOF'
import json, os, subprocess
d = json.loads(os.environ["INFO"])
meta = d["metadata"]
weights = (d.get("weights") or {}).get("format") or meta.get("llada.weights", "fp32")
window = "on" if meta.get("llada.logits_window") == "1" else "off"
if os.environ["IDS"]:
    ids = [int(v) for v in os.environ["IDS"].split(",")]
else:
    s = json.load(open(os.path.join(os.environ["ROOT"], "testdata/eval/brown_heldout.json")))["sentences"][0]
    tok = os.path.join(os.environ["DIR"], "tokenizer.json")
    ids = json.loads(subprocess.run([os.environ["LLADA"], "tokenize", "--tokenizer", tok, "--no-special", "--text", s],
                                    capture_output=True, text=True, check=True).stdout)
n = int(os.environ["N"])
print(weights, window, ",".join(str(ids[j % len(ids)]) for j in range(n)))
EOF
  )
  for cache in $CACHES; do
    # "cache" is left out for none, so the table also runs on a CLI that predates the cache modes.
    extra=""
    [ "$cache" = none ] || extra=",\"cache\":\"$cache\""
    cases=$WORK/$label-$cache.jsonl
    printf '{"name":"%s","prompt_ids":[%s],"gen_length":%d,"steps":%d,"block_length":%d,"repeat":%d%s}\n' \
      "$cache" "$ids" "$GEN" "$STEPS" "$BLOCK" "$REPEAT" "$extra" >"$cases"
    cmd=(bench --model "$dir" --cases "$cases" --format json --threads "$THREADS" --warmup 1 "${SPINARG[@]}")
    shown="\`llada bench --model $dir --threads $THREADS${SPIN:+ --spin=$SPIN}\`, case \`{gen_length:$GEN, steps:$STEPS, block_length:$BLOCK${cache:+, cache:$cache}}\`"
    load=$(cut -d' ' -f1 /proc/loadavg)
    if /usr/bin/time -f '%M' -o "$WORK/rss" "$LLADA" "${cmd[@]}" >"$WORK/out.json" 2>"$WORK/err"; then
      OUT="$WORK/out.json" RSS="$(tail -1 "$WORK/rss")" python3 - "$label" "$weights" "$window" "$cache" "$load" "$shown" <<'EOF'
import json, os, sys
label, weights, window, cache, load, shown = sys.argv[1:]
d = json.load(open(os.environ["OUT"]))
s = d["summary"]
nfe = sum(c["nfe"] for c in d["cases"]) / len(d["cases"])
print(f"| {label} | {weights} | {window} | {cache} | {s['step_p50_ms']:.1f} | {s['tokens_per_s']:.2f} | {nfe:.0f} | "
      f"{int(os.environ['RSS']) / 1024:.0f} | {load} | {shown} |")
EOF
    else
      why=$(grep -v '^\s*$' "$WORK/err" | head -1 | sed -E 's/--cases [^:]*: //' | tr '|' '/' | cut -c1-100)
      echo "| $label | $weights | $window | $cache | not available: $why | | | | $load | $shown |"
      unavailable=$((unavailable + 1))
    fi
  done
done
if [ "${STRICT:-0}" = 1 ] && [ "$unavailable" -gt 0 ]; then
  echo "perf-table: $unavailable row(s) could not run" >&2
  exit 1
fi
