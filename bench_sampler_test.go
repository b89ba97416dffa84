package llada

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// Sampler benchmarks. Per-position scoring cost at a realistic vocabulary (LLaDA-8B's 126,464) and length
// 256, and forward passes per generated token for every preset over a fake denoiser (the numbers on a real
// model come from the spine's benchmarks).
//
//	go test -run '^$' -bench 'BenchmarkScore' -benchtime 2x .
//	go test -run '^$' -bench 'BenchmarkPresetNFE' -benchtime 1x .

const (
	benchVocab = 126464
	benchLen   = 256
	// benchDistinct positions of logits are generated and cycled over, which keeps memory at 16 MB while
	// defeating any caching of a single row.
	benchDistinct = 32
)

func benchLogits() []float32 {
	rng := rand.New(rand.NewPCG(1, 2))
	l := make([]float32, benchDistinct*benchVocab)
	for i := range l {
		l[i] = float32(rng.NormFloat64() * 2.5)
	}
	// A few strong candidates per position, as a trained model has: the top one holds most of the mass.
	for p := 0; p < benchDistinct; p++ {
		for k, lift := range []float32{22, 19, 18, 17, 16} {
			l[p*benchVocab+(p*7919+k*104729)%benchVocab] += lift
		}
	}
	return l
}

// BenchmarkScore reports ns per scored position for each proposal/score combination: one pass of the fused
// scorer over a 126,464-wide row, single-threaded (the pool spreads positions over cores on top of this).
func BenchmarkScore(b *testing.B) {
	logits := benchLogits()
	buf := make([]entry, benchVocab)
	cases := []struct {
		name string
		s    scorer
	}{
		{"llada/prob/T=0", scorer{proposal: ProposeLLaDA, score: ScoreProb}},
		{"llada/margin/T=0", scorer{proposal: ProposeLLaDA, score: ScoreMargin}},
		{"llada/neg-entropy/T=0", scorer{proposal: ProposeLLaDA, score: ScoreNegEntropy}},
		{"llada/random/T=0", scorer{proposal: ProposeLLaDA, score: ScoreRandom}},
		{"llada/prob/T=1", scorer{proposal: ProposeLLaDA, score: ScoreProb, temperature: 1}},
		{"filtered/prob/T=0", scorer{proposal: ProposeFiltered, score: ScoreProb}},
		{"filtered/margin/T=0", scorer{proposal: ProposeFiltered, score: ScoreMargin}},
		{"filtered/neg-entropy/T=0", scorer{proposal: ProposeFiltered, score: ScoreNegEntropy}},
		{"filtered/prob/T=1", scorer{proposal: ProposeFiltered, score: ScoreProb, temperature: 1}},
		{"filtered/prob/T=1/top_p=0.95", scorer{proposal: ProposeFiltered, score: ScoreProb, temperature: 1, topP: 0.95}},
		{"filtered/prob/T=1/top_k=50", scorer{proposal: ProposeFiltered, score: ScoreProb, temperature: 1, topK: 50}},
	}
	// Baselines in the same units: a bare math.Exp pass and a bare max pass over a row. The machine these
	// numbers come from may be shared; compare against the baselines of the same run.
	b.Run("baseline/exp-pass", func(b *testing.B) {
		sink := 0.0
		for i := 0; i < b.N; i++ {
			for p := 0; p < benchLen; p++ {
				q := p % benchDistinct
				for _, v := range logits[q*benchVocab : (q+1)*benchVocab] {
					sink += math.Exp(float64(v) - 20)
				}
			}
		}
		if sink < 0 {
			b.Fatal(sink)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchLen), "ns/position")
	})
	b.Run("baseline/max-pass", func(b *testing.B) {
		best := float32(0)
		for i := 0; i < b.N; i++ {
			for p := 0; p < benchLen; p++ {
				q := p % benchDistinct
				for _, v := range logits[q*benchVocab : (q+1)*benchVocab] {
					best = max(best, v)
				}
			}
		}
		if best < 0 {
			b.Fatal(best)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchLen), "ns/position")
	})
	for _, tc := range cases {
		s := tc.s
		s.proposeSkip, s.confSkip = noSkip3(), noSkip3()
		s.proposeSkip[2] = 126336 // LLaDA's mask id: never proposed
		b.Run(tc.name, func(b *testing.B) {
			rng := rand.NewPCG(0, 0)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for p := 0; p < benchLen; p++ {
					q := p % benchDistinct
					rng.Seed(uint64(i), uint64(p))
					if r := s.run(logits[q*benchVocab:(q+1)*benchVocab], rng, buf); !r.ok {
						b.Fatal("unscorable")
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchLen), "ns/position")
		})
	}
}

// cycleDenoiser fills every position with one of the benchmark's pre-made rows: a forward pass costs a
// memory copy, so what is timed is the sampler.
type cycleDenoiser struct {
	rows  []float32
	vocab int
}

func (d *cycleDenoiser) VocabSize() int { return d.vocab }

func (d *cycleDenoiser) Deterministic() bool { return true }

func (d *cycleDenoiser) Forward(ctx context.Context, in Batch, logits []float32) error {
	n := len(d.rows) / d.vocab
	for j := 0; j < in.Rows*in.Seq; j++ {
		q := (j + int(in.IDs[j])) % n
		copy(logits[j*d.vocab:(j+1)*d.vocab], d.rows[q*d.vocab:(q+1)*d.vocab])
	}
	return nil
}

// BenchmarkScoreStep times one whole sampler step at V=126,464 and 256 masked positions: parallel scoring
// over every core plus the transfer rule, the forward pass excluded (the canvas never changes, so the cached
// logits are reused).
func BenchmarkScoreStep(b *testing.B) {
	rows := benchLogits()
	c := Contract{MaskID: 126336, EOSID: 126081, PadID: 126081, EOTID: 126348, BOSID: -1, VocabSize: benchVocab, MaxSeqLen: 4096}
	for _, name := range []string{"llada-low-confidence", "dream-entropy", "fast-dllm-threshold"} {
		b.Run(name, func(b *testing.B) {
			den := &cycleDenoiser{rows: rows, vocab: benchVocab}
			g, err := newGeneration(den, c, [][]int{{1}}, GenerateConfig{GenLength: benchLen, Steps: benchLen, Sampler: SamplerByName(name)})
			if err != nil {
				b.Fatal(err)
			}
			pool := newScorePool(g, g.parallel)
			g.startBlock(1, 1+benchLen, benchLen)
			g.collectWork(1, 1+benchLen, false)
			if err := g.forward(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				pool.score()
				if err := g.checkScores(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/step")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchLen), "ns/position")
		})
	}
}

// BenchmarkPresetNFE reports forward passes per generated token for each preset at gen_length 128 (blocks of
// 32, 128 steps) on the pattern denoiser, whose favourite token has probability between about 0.35 and 0.99
// depending on the position. The absolute numbers depend on the model's confidences; the lead reruns this on
// the real model.
func BenchmarkPresetNFE(b *testing.B) {
	c := testContract(512)
	for _, name := range SamplerNames() {
		b.Run(name, func(b *testing.B) {
			cfg := GenerateConfig{GenLength: 128, BlockLength: 32, Steps: 128, Sampler: SamplerByName(name), Temperature: 0}
			if s := SamplerByName(name); s.Proposal == ProposeFiltered && s.Transfer != TransferQuota && s.Transfer != TransferThresholdOrQuota {
				cfg.Temperature = 1 // the ancestral samplers draw from p_x0 in their reference
			}
			nfe, steps := 0, 0
			for i := 0; i < b.N; i++ {
				cfg.Seed = uint64(i)
				for st, err := range Stream(context.Background(), &patternDenoiser{vocab: 512, lift: 7, liftStep: 1.5}, c, [][]int{{5, 6, 7}}, cfg) {
					if err != nil {
						b.Fatal(err)
					}
					nfe, steps = st.NFE, st.Step+1
				}
			}
			b.ReportMetric(float64(nfe)/128, "nfe/token")
			b.ReportMetric(float64(steps), "steps")
		})
	}
}

func ExampleSamplerByName() {
	cfg := GenerateConfig{GenLength: 8, Steps: 8, Sampler: SamplerByName("fast-dllm-threshold")}
	cfg.Sampler.Threshold = 0.8
	fmt.Println(cfg.Validate() == nil, cfg.Sampler.Name, cfg.Sampler.Threshold)
	// Output: true fast-dllm-threshold 0.8
}

func ExampleSamplerNames() {
	fmt.Println(len(SamplerNames()), SamplerNames()[0])
	// Output: 17 dream-entropy
}
