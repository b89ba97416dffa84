package llada

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"
)

// logitsOnlyContinuous returns fixed random logits without recording anything: a network of zero cost, so a
// benchmark of the step loop measures the Go side alone (x0 estimate, solver, rounding).
type logitsOnlyContinuous struct {
	vocab int
	table []float32
}

func (d *logitsOnlyContinuous) VocabSize() int { return d.vocab }

func (d *logitsOnlyContinuous) ForwardContinuous(_ context.Context, in ContinuousBatch, logits []float32) error {
	for k := 0; k < in.Rows*in.Seq; k++ {
		copy(logits[k*d.vocab:(k+1)*d.vocab], d.table[(k%7)*d.vocab:])
	}
	return nil
}

// BenchmarkContinuousStepGoSide is one solver step of the Go side at the shipped model's sizes (vocab 4096,
// D 64, 8 prompt + 32 generated positions, self-conditioning on): score interpolation over V x D at every
// position (twice with self-conditioning's unguided estimate), the solver update and the nearest-row rounding.
// It reports ns/step; allocations are per generation (worker pool and scratch at the start), none per step
// (TestContinuousStepLoopAllocatesNothing).
func BenchmarkContinuousStepGoSide(b *testing.B) {
	const vocab, dim = 4096, 64
	rng := rand.New(rand.NewPCG(1, 2))
	emb := &Embeddings{Vocab: vocab, Dim: dim, Data: make([]float32, vocab*dim)}
	for i := range emb.Data {
		emb.Data[i] = float32(rng.NormFloat64())
	}
	den := &logitsOnlyContinuous{vocab: vocab, table: make([]float32, 8*vocab)}
	for i := range den.table {
		den.table[i] = float32(3 * rng.NormFloat64())
	}
	c := Contract{Version: 1, Family: FamilyContinuous, MaskID: -1, EOSID: 1, PadID: 1, EOTID: -1, BOSID: -1,
		VocabSize: vocab, MaxSeqLen: 128, Continuous: &ContinuousContract{EmbedDim: dim, Prediction: "logits",
			Process: "ve", Time: "sigma", SigmaMax: 40, SelfConditioning: true,
			Schedule: NoiseSchedule{Kind: NoiseEDM, SigmaMin: 0.05, SigmaMax: 40}}}
	m, err := NewContinuous(den, emb, tokLimit{nil, vocab}, c)
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{SamplerDPMSolverPP, SamplerDDPM} {
		b.Run(name, func(b *testing.B) {
			prompt := []int{5, 6, 7, 8, 9, 10, 11, 12}
			steps := b.N
			g, err := newContGen(m.cont, c, [][]int{prompt}, GenerateConfig{GenLength: 32, Steps: steps + 1, Sampler: SamplerByName(name)})
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			b.ReportAllocs()
			b.ResetTimer()
			g.run(context.Background(), func(st Step, err error) bool {
				if err != nil {
					b.Fatal(err)
				}
				n++
				return n < steps
			})
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(steps), "ns/step")
		})
	}
}

// timedContinuous measures the time spent inside the network.
type timedContinuous struct {
	ContinuousDenoiser
	inside time.Duration
}

func (d *timedContinuous) ForwardContinuous(ctx context.Context, in ContinuousBatch, logits []float32) error {
	t0 := time.Now()
	err := d.ContinuousDenoiser.ForwardContinuous(ctx, in, logits)
	d.inside += time.Since(t0)
	return err
}

// BenchmarkContinuousGenerateShippedModel runs models/continuous (8 prompt + 32 generated tokens, 16
// dpm-solver++ steps, one ORT thread) and reports the time per step and the share of it spent in Go (everything
// but the forward pass: building the inputs, checking logits, score interpolation over V x D, the solver, rounding).
func BenchmarkContinuousGenerateShippedModel(b *testing.B) {
	m, err := Open("models/continuous", WithIntraOpThreads(1))
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	td := &timedContinuous{ContinuousDenoiser: m.cont.den}
	m.cont.den = td
	prompt := []int{492, 502, 1138, 553, 260, 275, 287, 260}
	cfg := GenerateConfig{GenLength: 32, Steps: 16, Sampler: SamplerByName(SamplerDPMSolverPP)}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := m.GenerateIDs(context.Background(), [][]int{prompt}, cfg); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	total := b.Elapsed()
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N*cfg.Steps), "ns/step")
	b.ReportMetric(100*(1-float64(td.inside)/float64(total)), "go-%")
}
