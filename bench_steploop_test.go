package llada

import (
	"context"
	"testing"
)

// BenchmarkStepLoopAllocs reports the Go heap allocations of the step loop per denoising step, with a plain
// and with a cancellable context (as every server request has), on the allocation-free pattern denoiser:
// allocs/step is (allocations of a 32-step generation - those of a 4-step one) / 28, so the per-generation
// setup cancels out. b.ReportAllocs gives the per-generation total.
//
//	go test -run '^$' -bench StepLoopAllocs -benchtime 3x .
func BenchmarkStepLoopAllocs(b *testing.B) {
	cancellable, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, bc := range []struct {
		name string
		ctx  context.Context
	}{{"background", context.Background()}, {"cancellable", cancellable}} {
		b.Run(bc.name, func(b *testing.B) {
			c := testContract(2048)
			den := &patternDenoiser{vocab: 2048}
			run := func(steps int) {
				cfg := GenerateConfig{GenLength: 32, Steps: steps, BlockLength: 32, Temperature: 0.5, CFGScale: 0.5}
				for _, err := range Stream(bc.ctx, den, c, [][]int{{5, 6}, {7}}, cfg) {
					if err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportAllocs()
			var few, many float64
			for b.Loop() {
				few = testing.AllocsPerRun(1, func() { run(4) })
				many = testing.AllocsPerRun(1, func() { run(32) })
			}
			b.ReportMetric((many-few)/28, "allocs/step")
		})
	}
}
