package eval

import (
	"context"
	"fmt"
	"iter"
	"time"

	"github.com/llada-go/llada"
)

// SampleScore describes continuations sampled from prompts: judged quality and diversity.
type SampleScore struct {
	Samples  int
	GenPPL   float64 // generative perplexity of the continuations under the judge
	Entropy  float64 // UnigramEntropy of the continuations, nats
	Distinct [3]float64
	SelfBLEU float64 // SelfBLEU-4 of the continuations
	MeanNFE  float64
	Forwards int
	Seconds  float64 // sampling time (the judge's time excluded)
}

// streamer runs one generation and yields its steps: llada.Stream over a masked denoiser, or
// llada.Model.Stream, which serves both families.
type streamer func(ctx context.Context, prompts [][]int, cfg llada.GenerateConfig) iter.Seq2[llada.Step, error]

// Sample continues every prompt with genLen tokens using dec, batch prompts per generation (batch <= 0 means
// 32), and returns prompt+continuation per prompt with the forward passes per sample. It runs masked samplers;
// SampleModel runs either family.
func Sample(ctx context.Context, den llada.Denoiser, c llada.Contract, prompts [][]int, genLen int, dec Decoding, batch int, seed uint64) ([][]int, FillResult, error) {
	if dec.Continuous() {
		return nil, FillResult{}, fmt.Errorf("%w: %s is a continuous-family sampler; use SampleModel with a continuous model", ErrBadConfig, dec.Sampler)
	}
	return sample(ctx, func(ctx context.Context, p [][]int, cfg llada.GenerateConfig) iter.Seq2[llada.Step, error] {
		return llada.Stream(ctx, den, c, p, cfg)
	}, prompts, genLen, dec, batch, seed)
}

// SampleModel is Sample through m.Stream, so that it runs the samplers of m's family: a continuous model
// (llada.family = continuous) with its ddim, ddpm, dpm-solver++, euler and heun, a masked model with the
// masked samplers. A sampler of the other family is an error naming the model's samplers.
func SampleModel(ctx context.Context, m *llada.Model, prompts [][]int, genLen int, dec Decoding, batch int, seed uint64) ([][]int, FillResult, error) {
	return sample(ctx, m.Stream, prompts, genLen, dec, batch, seed)
}

func sample(ctx context.Context, stream streamer, prompts [][]int, genLen int, dec Decoding, batch int, seed uint64) ([][]int, FillResult, error) {
	start := time.Now()
	if len(prompts) == 0 {
		return nil, FillResult{}, fmt.Errorf("%w: no prompts", ErrEmptyDataset)
	}
	if batch <= 0 {
		batch = 32
	}
	cfg, err := dec.config(genLen, seed)
	if err != nil {
		return nil, FillResult{}, err
	}
	res := FillResult{NFE: make([]int, len(prompts))}
	out := make([][]int, len(prompts))
	for lo, b := 0, 0; lo < len(prompts); lo, b = lo+batch, b+1 {
		hi := min(lo+batch, len(prompts))
		cfg.Seed = seed + uint64(b)*0x9e3779b97f4a7c15
		var last llada.Step
		for st, err := range stream(ctx, prompts[lo:hi], cfg) {
			if err != nil {
				return nil, FillResult{}, err
			}
			last = st
		}
		for r := lo; r < hi; r++ {
			row := last.Canvas[(r-lo)*last.Seq : (r-lo+1)*last.Seq]
			out[r] = append([]int(nil), row[last.PromptLen-len(prompts[r]):]...)
			res.NFE[r] = last.NFE
		}
		res.Forwards += last.NFE
	}
	res.Filled, res.Elapsed = out, time.Since(start)
	return out, res, nil
}

// ScoreSamples measures continuations (seqs[i] after its first from[i] tokens) with the judge and the
// diversity metrics.
func ScoreSamples(ctx context.Context, judge *Judge, seqs [][]int, from []int, batch int) (SampleScore, error) {
	ppl, err := judge.GenPPL(ctx, seqs, from, batch)
	if err != nil {
		return SampleScore{}, err
	}
	gens := make([][]int, len(seqs))
	for i, s := range seqs {
		gens[i] = s[from[i]:]
	}
	s := SampleScore{Samples: len(seqs), GenPPL: ppl.Value(), Entropy: UnigramEntropy(gens), SelfBLEU: SelfBLEU(gens, 4)}
	for n := 1; n <= 3; n++ {
		s.Distinct[n-1] = DistinctN(gens, n)
	}
	return s, nil
}
