package llada_test

import (
	"context"
	"testing"
	"time"

	"github.com/llada-go/llada"
)

// BenchmarkPresetsOnModel runs every preset on the embedded Brown model at gen_length 128 (blocks of 32,
// 128 steps) and reports forward passes per token, tokens/s, and forward and sampler milliseconds per step.
// Presets whose reference samples tokens (the ancestral ones) run at temperature 1, the others greedily.
//
//	go test -run '^$' -bench BenchmarkPresetsOnModel -benchtime 2x .
func BenchmarkPresetsOnModel(b *testing.B) {
	m := defaultModel(b)
	prompt, err := m.Tokenizer().Encode("The jury said that the city", true)
	if err != nil {
		b.Fatal(err)
	}
	type variant struct {
		name string
		s    llada.Sampler
	}
	var cases []variant
	for _, name := range llada.SamplerNames() {
		cases = append(cases, variant{name, llada.SamplerByName(name)})
	}
	// Looser knobs for the accelerated samplers: a model this small is rarely 90% sure of a token.
	th := llada.SamplerByName("fast-dllm-threshold")
	th.Threshold = 0.5
	fa := llada.SamplerByName("fast-dllm-factor")
	fa.Factor = 4
	eb := llada.SamplerByName("eb")
	eb.Gamma = 2
	cases = append(cases, variant{"fast-dllm-threshold/tau=0.5", th}, variant{"fast-dllm-factor/f=4", fa}, variant{"eb/gamma=2", eb})
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			s := tc.s
			cfg := llada.GenerateConfig{GenLength: 128, BlockLength: 32, Steps: 128, Sampler: s}
			if s.Transfer == llada.TransferBernoulli || s.Transfer == llada.TransferFirstHitting {
				cfg.Temperature = 1
			}
			clock := &timedDenoiser{Denoiser: m.Denoiser()}
			steps, nfe := 0, 0
			start := time.Now()
			for i := 0; i < b.N; i++ {
				cfg.Seed = uint64(i)
				for st, err := range llada.Stream(context.Background(), clock, m.Contract(), [][]int{prompt}, cfg) {
					if err != nil {
						b.Fatal(err)
					}
					steps++
					if i == 0 {
						nfe = st.NFE
					}
				}
			}
			total := time.Since(start)
			b.ReportMetric(float64(nfe)/128, "nfe/token")
			b.ReportMetric(float64(128*b.N)/total.Seconds(), "tokens/s")
			b.ReportMetric(clock.d.Seconds()*1000/float64(steps), "forward-ms/step")
			b.ReportMetric((total-clock.d).Seconds()*1000/float64(steps), "sampler-ms/step")
		})
	}
}
