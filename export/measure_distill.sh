#!/usr/bin/env bash
# Measures the distilled Brown students against the teacher with the Go CLI (llada genppl: the eval's prompts,
# gen length 32, judge, seed 1). Run from the repository root after export/distill_{sdtt,certainty}.py:
#   bash export/measure_distill.sh [/work/distill-out]        (about 2 minutes on one core)
# PROMPTS=24 is `llada genppl`'s default (the first 24 held-out sentences, as in `llada eval`); 256 uses all of
# testdata/eval/brown_heldout.json for less noisy figures.
set -euo pipefail
OUT=${1:-/work/distill-out}
LLADA=${LLADA:-go run ./cmd/llada}
for P in 24 256; do
  echo "== prompts $P, LLaDA low-confidence, temperature 0 (genppl default)"
  for S in 32 16 8; do echo "teacher steps=$S $($LLADA genppl --model models/brown --prompts $P --steps $S)"; done
  [ -d "$OUT/brown-sdtt-round1" ] && for S in 16 8; do
    echo "sdtt-round1 steps=$S $($LLADA genppl --model "$OUT/brown-sdtt-round1" --prompts $P --steps $S)"; done
  [ -d "$OUT/brown-sdtt" ] && for S in 16 8 4; do
    echo "sdtt steps=$S $($LLADA genppl --model "$OUT/brown-sdtt" --prompts $P --steps $S)"; done
  echo "== prompts $P, fast-dllm-threshold tau 0.9 (tokens/pass = 32 / nfe; batch 8 waits for its slowest row, batch 1 is per prompt)"
  for B in 8 1; do
    echo "teacher batch=$B $($LLADA genppl --model models/brown --prompts $P --batch $B --sampler fast-dllm-threshold --threshold 0.9)"
    [ -d "$OUT/brown-certainty" ] && echo "certainty batch=$B $($LLADA genppl --model "$OUT/brown-certainty" --prompts $P --batch $B --sampler fast-dllm-threshold --threshold 0.9)"
  done
  [ -d "$OUT/brown-certainty" ] && echo "certainty steps=32 $($LLADA genppl --model "$OUT/brown-certainty" --prompts $P --steps 32)"
done
