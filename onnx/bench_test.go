//go:build cgo

package onnx

import (
	"context"
	"testing"
)

// BenchmarkForward measures one Forward on the tiny test transformer (vocab 50) in steady state: same shape and
// same logits buffer every call, as a sampler uses it. allocs/op is what the Go side allocates per call.
//
//	go test ./onnx -run '^$' -bench Forward -benchmem
func BenchmarkForward(b *testing.B) {
	s := shared(b, "tiny.onnx")
	cancellable, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, bc := range []struct {
		name      string
		ctx       context.Context
		rows, seq int
		mask      bool
	}{
		{"1x32", context.Background(), 1, 32, false},
		{"1x32/attention", context.Background(), 1, 32, true},
		{"1x32/cancellable-ctx", cancellable, 1, 32, false},
		{"2x32/attention", context.Background(), 2, 32, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			n := bc.rows * bc.seq
			ids := make([]int64, n)
			for i := range ids {
				ids[i] = int64(2 + i%40)
			}
			var att []int64
			if bc.mask {
				att = make([]int64, n)
				for i := range att {
					att[i] = 1
				}
				att[0] = 0
			}
			logits := make([]float32, n*s.VocabSize())
			if err := s.Forward(bc.ctx, ids, att, bc.rows, bc.seq, logits); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := s.Forward(bc.ctx, ids, att, bc.rows, bc.seq, logits); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/position")
		})
	}
}

// BenchmarkForwardDynamicVocab is the slower path for models whose vocab is only known after the run: ONNX
// Runtime allocates the output and Forward copies it.
func BenchmarkForwardDynamicVocab(b *testing.B) {
	s := shared(b, "gather_dynvocab.onnx")
	ids := make([]int64, 32)
	att := make([]int64, 32)
	for i := range ids {
		ids[i], att[i] = int64(i%10), 1
	}
	logits := make([]float32, 32*7)
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Forward(context.Background(), ids, att, 1, 32, logits); err != nil {
			b.Fatal(err)
		}
	}
}
