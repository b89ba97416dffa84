package gomlx

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/llada-go/llada"
	"github.com/stretchr/testify/require"
)

// BenchmarkForward compares one forward pass of the brown model on GoMLX's pure-Go backend with ONNX Runtime
// (one intra-op thread, like the rest of the test suite) at B=1/8 and L=64/128:
//
//	go test -run '^$' -bench BenchmarkForward -benchtime 3x ./gomlx
//
// The first (compiling) call of each shape runs before the timer.
func BenchmarkForward(b *testing.B) {
	d := gomlxModel(b, "brown")
	s := ortModel(b, "brown")
	vocab := d.VocabSize()
	for _, rows := range []int{1, 8} {
		for _, seq := range []int{64, 128} {
			rng := rand.New(rand.NewPCG(uint64(rows), uint64(seq)))
			batch := randomBatch(rng, rows, seq, vocab, 0)
			logits := make([]float32, rows*seq*vocab)
			for _, backend := range []string{"ort", "gomlx"} {
				fwd := func() error { return d.Forward(b.Context(), batch, logits) }
				if backend == "ort" {
					fwd = func() error {
						return s.Forward(b.Context(), batch.IDs, batch.Attention, batch.Rows, batch.Seq, logits)
					}
				}
				b.Run(fmt.Sprintf("%s/B=%d/L=%d", backend, rows, seq), func(b *testing.B) {
					require.NoError(b, fwd())
					b.ResetTimer()
					for range b.N {
						if err := fwd(); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/forward")
				})
			}
		}
	}
}

// BenchmarkConfidence measures the in-graph confidence pass against Forward followed by the Go scorer on the
// host, brown model, B=1, L=128, pure-Go backend.
func BenchmarkConfidence(b *testing.B) {
	d := gomlxModel(b, "brown")
	c, err := d.Contract()
	require.NoError(b, err)
	rng := rand.New(rand.NewPCG(1, 128))
	batch := randomBatch(rng, 1, 128, d.VocabSize(), 0)
	b.Run("in-graph", func(b *testing.B) {
		var conf Confidences
		require.NoError(b, d.Confidence(b.Context(), batch, c.MaskID, &conf))
		b.ResetTimer()
		for range b.N {
			if err := d.Confidence(b.Context(), batch, c.MaskID, &conf); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/pass")
	})
	b.Run("host", func(b *testing.B) {
		logits := make([]float32, 128*d.VocabSize())
		require.NoError(b, d.Forward(b.Context(), batch, logits))
		b.ResetTimer()
		for range b.N {
			if err := d.Forward(b.Context(), batch, logits); err != nil {
				b.Fatal(err)
			}
			for p := range 128 {
				if _, err := llada.ScoreLogits(logits[p*d.VocabSize():(p+1)*d.VocabSize()], c.MaskID); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/pass")
	})
}
