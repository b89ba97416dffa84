//go:build cgo

package eval

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/llada-go/llada"
	"github.com/llada-go/llada/onnx"
	"github.com/stretchr/testify/require"
)

// The benchmarks below measure the control features (infill, guidance, repair) on the shipped Brown model and
// judge. Each reports its figures with b.ReportMetric; run one at a time with -benchtime 1x (the figures are
// the same at every iteration: everything is seeded).

func openBrown(b *testing.B) (*llada.Model, *Judge, []string) {
	m, closer, err := OpenModel("../models/brown", onnx.WithThreadSpinning(false))
	require.NoError(b, err)
	b.Cleanup(func() { closer.Close() })
	judge, err := OpenJudge("../models/judge/model.onnx", onnx.WithThreadSpinning(false))
	require.NoError(b, err)
	b.Cleanup(func() { judge.Close() })
	sentences, err := LoadSentences(heldout)
	require.NoError(b, err)
	return m, judge, sentences
}

// BenchmarkInfillMiddle: spans of 4 tokens in the middle of 64 held-out sentences of 24 tokens, filled by
// llada.FillHoles with each sampler, greedy, one token per forward pass (adaptive samplers at their default
// knob). Reports token accuracy, exact span match and forward passes per span.
//
//	go test ./eval -run '^$' -bench BenchmarkInfillMiddle -benchtime 1x
func BenchmarkInfillMiddle(b *testing.B) {
	m, _, sentences := openBrown(b)
	seqs, err := SentencePrefixes(m.Tokenizer(), sentences, 24, 64)
	require.NoError(b, err)
	var items []InfillItem
	for _, it := range InfillItems(seqs, []int{4}) {
		if it.Position == SpanMiddle {
			items = append(items, it)
		}
	}
	for _, name := range SamplerNames() {
		b.Run(name, func(b *testing.B) {
			var s InfillScore
			for b.Loop() {
				s, err = Infill(context.Background(), m.Denoiser(), m.Contract(), items, Decoding{Sampler: name, TokensPerStep: 1}, 64, 1)
				require.NoError(b, err)
			}
			b.ReportMetric(s.TokenAcc, "tokenacc")
			b.ReportMetric(s.ExactMatch, "exact")
			b.ReportMetric(s.MeanNFE, "nfe/span")
		})
	}
}

// BenchmarkGuidanceSchedules: 48 held-out prompts of 8 tokens continued by 32 tokens (LLaDA low-confidence,
// temperature 1, one token per step), under each guidance setting; reports the judge's gen PPL and distinct-2
// of the continuations.
//
//	go test ./eval -run '^$' -bench BenchmarkGuidanceSchedules -benchtime 1x
func BenchmarkGuidanceSchedules(b *testing.B) {
	m, judge, sentences := openBrown(b)
	prompts, err := SentencePrefixes(m.Tokenizer(), sentences, 8, 48)
	require.NoError(b, err)
	for _, tc := range []struct {
		name string
		g    llada.Guidance
	}{
		{"off", llada.Guidance{}},
		{"constant-s0.5", llada.Guidance{Scale: 0.5}},
		{"constant-s1", llada.Guidance{Scale: 1}},
		{"constant-s2", llada.Guidance{Scale: 2}},
		{"ramp-up-s2", llada.Guidance{Scale: 2, Schedule: llada.GuidanceRampUp}},
		{"ramp-down-s2", llada.Guidance{Scale: 2, Schedule: llada.GuidanceRampDown}},
		{"interval-first-half-s2", llada.Guidance{Scale: 2, Schedule: llada.GuidanceInterval, Start: 0, End: 0.5}},
		{"interval-second-half-s2", llada.Guidance{Scale: 2, Schedule: llada.GuidanceInterval, Start: 0.5, End: 1}},
		{"weight-w0.5", llada.Guidance{Scale: 0.5, Form: llada.GuidanceWeight}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var s SampleScore
			for b.Loop() {
				cfg := llada.GenerateConfig{GenLength: 32, Temperature: 1, Seed: 1, Guidance: tc.g}
				var last llada.Step
				for st, err := range llada.Stream(context.Background(), m.Denoiser(), m.Contract(), prompts, cfg) {
					require.NoError(b, err)
					last = st
				}
				seqs := make([][]int, len(prompts))
				from := make([]int, len(prompts))
				for r := range prompts {
					seqs[r] = append([]int(nil), last.Canvas[r*last.Seq:(r+1)*last.Seq]...)
					from[r] = last.PromptLen
				}
				s, err = ScoreSamples(context.Background(), judge, seqs, from, 0)
				require.NoError(b, err)
			}
			b.ReportMetric(s.GenPPL, "genppl")
			b.ReportMetric(s.Distinct[1], "distinct2")
		})
	}
}

// BenchmarkRepairCorrupted: 64 held-out sentences of 24 tokens with 3 tokens (after the first) replaced by
// uniformly random ones; llada.Repair remasks the 3 least likely tokens in context (pseudo-log-likelihood) for
// 1 or 3 rounds and refills them greedily. Reports the share of corrupted tokens found in the first round,
// token accuracy against the clean sentences before and after, and the judge's perplexity of the sentences
// (from the second token) before and after.
//
//	go test ./eval -run '^$' -bench BenchmarkRepairCorrupted -benchtime 1x
func BenchmarkRepairCorrupted(b *testing.B) {
	m, judge, sentences := openBrown(b)
	clean, err := SentencePrefixes(m.Tokenizer(), sentences, 24, 64)
	require.NoError(b, err)
	const k = 3
	rng := rand.New(rand.NewPCG(1, 2))
	corrupt := make([][]int, len(clean))
	bad := make([]map[int]bool, len(clean))
	for i, s := range clean {
		corrupt[i] = append([]int(nil), s...)
		bad[i] = map[int]bool{}
		for len(bad[i]) < k {
			p := 1 + rng.IntN(len(s)-1)
			if bad[i][p] {
				continue
			}
			bad[i][p] = true
			for corrupt[i][p] == s[p] {
				corrupt[i][p] = rng.IntN(m.Contract().VocabSize - 6) // the Brown vocabulary's last 6 ids are special
			}
		}
	}
	acc := func(seqs [][]int) float64 {
		right, n := 0, 0
		for i, s := range seqs {
			for p := range s {
				n++
				if s[p] == clean[i][p] {
					right++
				}
			}
		}
		return float64(right) / float64(n)
	}
	ppl := func(seqs [][]int) float64 {
		from := make([]int, len(seqs))
		for i := range from {
			from[i] = 1
		}
		p, err := judge.GenPPL(context.Background(), seqs, from, 0)
		require.NoError(b, err)
		return p.Value()
	}
	for _, rounds := range []int{1, 3} {
		b.Run("rounds="+string(rune('0'+rounds)), func(b *testing.B) {
			var out [][]int
			found := 0
			for b.Loop() {
				out, found = make([][]int, len(corrupt)), 0
				for i, cv := range corrupt {
					res, err := llada.Repair(context.Background(), m.Denoiser(), m.Contract(), cv, llada.RepairConfig{K: k, Rounds: rounds, Keep: 1})
					require.NoError(b, err)
					out[i] = res.IDs
					for _, p := range res.Rounds[0].Remasked {
						if bad[i][p] {
							found++
						}
					}
				}
			}
			b.ReportMetric(float64(found)/float64(k*len(corrupt)), "found")
			b.ReportMetric(acc(clean), "acc-clean")
			b.ReportMetric(acc(corrupt), "acc-before")
			b.ReportMetric(acc(out), "acc-after")
			b.ReportMetric(ppl(clean), "ppl-clean")
			b.ReportMetric(ppl(corrupt), "ppl-before")
			b.ReportMetric(ppl(out), "ppl-after")
		})
	}
}
