package main

import (
	"flag"
	"fmt"
)

// quickFlags are the settings of `llada eval --quick`: four samplers that span the behaviours (confidence
// order, random order, a threshold, entropy order), two budgets, and smaller sets, for a run of well under a
// minute while developing. The published numbers come from the default run.
var quickFlags = [][2]string{
	{"samplers", "llada-low-confidence,llada-random,fast-dllm-threshold,dream-entropy"},
	{"tokens-per-step", "1,4"},
	{"sudoku-puzzles", "20"},
	{"sudoku-tokens-per-step", "1,9"},
	{"infill-sentences", "8"},
	{"likelihood-seqs", "8"},
	{"mc-samples", "32"},
	{"continuous-samplers", "dpm-solver++,ddpm"},
	{"continuous-steps", "8"},
	{"continuous-infill-steps", "8"},
	{"distill-nfe", "4,16"},
}

const quickSummary = "4 samplers, budgets 1 and 4, 20 puzzles, 8 infill sentences, 8 likelihood windows of 32 copies, continuous dpm-solver++ and ddpm at 8 steps, students at NFE 4 and 16"

// applyQuick sets the quick values of the flags the command line did not set.
func applyQuick(fs *flag.FlagSet) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, kv := range quickFlags {
		if set[kv[0]] {
			continue
		}
		if err := fs.Set(kv[0], kv[1]); err != nil {
			return fmt.Errorf("--quick: %s=%s: %w", kv[0], kv[1], err)
		}
	}
	return nil
}
