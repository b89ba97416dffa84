package llada

import (
	"context"
	"fmt"
	"path/filepath"
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

// BenchmarkCacheStepLoopAllocs is BenchmarkStepLoopAllocs for the KV-cache path (greedy, blocks of 8, no
// guidance, which the cache rejects): allocs/step of the step loop on the allocation-free cached test double
// and on ONNX Runtime with testdata/kvcache (cache tensors, bindings and the glue included), per mode.
// allocs/step compares 16- and 32-step generations, which both run cached passes in every block, so the
// tensors made once per window shape (under prefix, one shape per block) cancel out: it is the steady state.
//
//	go test -run '^$' -bench CacheStepLoopAllocs -benchtime 3x .
func BenchmarkCacheStepLoopAllocs(b *testing.B) {
	m, err := Open(filepath.Join("testdata", "kvcache"), WithIntraOpThreads(1))
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	for _, mode := range []CacheMode{CachePrefix, CacheDual} {
		for _, be := range []struct {
			name string
			den  Denoiser
			c    Contract
			p    [][]int
		}{
			{"double", &kvDouble{kvToy: kvToy{vocab: 24}, modes: []CacheMode{mode}, quiet: true}, testContract(24), [][]int{{5, 6}, {7}}},
			{"onnx", m.Denoiser(), m.Contract(), [][]int{{5, 6}, {7}}},
		} {
			b.Run(fmt.Sprintf("%s/%s", be.name, mode), func(b *testing.B) {
				run := func(steps int) {
					cfg := GenerateConfig{GenLength: 32, Steps: steps, BlockLength: 8, Cache: mode}
					for _, err := range Stream(context.Background(), be.den, be.c, be.p, cfg) {
						if err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportAllocs()
				var few, many float64
				for b.Loop() {
					few = testing.AllocsPerRun(1, func() { run(16) })
					many = testing.AllocsPerRun(1, func() { run(32) })
				}
				b.ReportMetric((many-few)/16, "allocs/step")
			})
		}
	}
}
