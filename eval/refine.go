package eval

import (
	"context"
	"fmt"
	"time"

	"github.com/llada-go/llada"
)

// RefineScore compares autoregressive drafts with their diffusion repairs (llada.Model.Refine).
type RefineScore struct {
	Samples int
	// Before and After score the continuations (prompt excluded) of the drafts and of the repairs: judge gen
	// PPL, distinct-n, self-BLEU.
	Before, After SampleScore
	// ChangedShare is the share of continuation tokens the repairs changed, over all samples.
	ChangedShare float64
	// LogProbBefore and LogProbAfter are the diffusion model's mean in-context log-probability of the
	// continuation tokens (each with only its own position masked), before and after.
	LogProbBefore, LogProbAfter float64
	Seconds                     float64
}

// Refine drafts a continuation of every prompt with d, repairs it with m, and scores both with judge. Prompt i
// drafts with seed cfg.Draft.Seed+i.
func Refine(ctx context.Context, m *llada.Model, d *llada.Drafter, judge *Judge, prompts [][]int, cfg llada.RefineConfig) (RefineScore, error) {
	start := time.Now()
	if len(prompts) == 0 {
		return RefineScore{}, fmt.Errorf("%w: no prompts", ErrEmptyDataset)
	}
	if err := judge.CheckVocab(m.Contract().VocabSize); err != nil {
		return RefineScore{}, err
	}
	drafts := make([][]int, len(prompts))
	repaired := make([][]int, len(prompts))
	from := make([]int, len(prompts))
	changed, total := 0, 0
	s := RefineScore{Samples: len(prompts)}
	for i, p := range prompts {
		c := cfg
		c.Draft.Seed += uint64(i)
		c.Repair.Fill.Seed += uint64(i) * 0x9e3779b97f4a7c15
		res, err := m.Refine(ctx, d, p, c)
		if err != nil {
			return RefineScore{}, fmt.Errorf("eval: refine prompt %d: %w", i, err)
		}
		drafts[i], repaired[i], from[i] = res.Draft, res.Repair.IDs, len(p)
		changed += res.Repair.Changed
		total += len(res.Draft) - len(p)
		if len(res.Repair.Rounds) > 0 {
			s.LogProbBefore += res.Repair.Rounds[0].MeanLogProb
		} else {
			s.LogProbBefore += res.Repair.FinalLogProb
		}
		s.LogProbAfter += res.Repair.FinalLogProb
	}
	var err error
	if s.Before, err = ScoreSamples(ctx, judge, drafts, from, 0); err != nil {
		return RefineScore{}, err
	}
	if s.After, err = ScoreSamples(ctx, judge, repaired, from, 0); err != nil {
		return RefineScore{}, err
	}
	s.ChangedShare = float64(changed) / float64(max(total, 1))
	s.LogProbBefore /= float64(len(prompts))
	s.LogProbAfter /= float64(len(prompts))
	s.Seconds = time.Since(start).Seconds()
	return s, nil
}
