//go:build cgo

package eval

import (
	"context"
	"testing"

	"github.com/llada-go/llada"
	"github.com/llada-go/llada/onnx"
	"github.com/stretchr/testify/require"
)

// constDenoiser returns the same logits at every position: the network costs one memcpy, so a benchmark on it
// measures the estimator's own work (mask draws, canvases, log-sum-exp at masked positions).
type constDenoiser struct{ row []float32 }

func (d constDenoiser) VocabSize() int { return len(d.row) }

func (d constDenoiser) Forward(_ context.Context, in llada.Batch, logits []float32) error {
	for i := 0; i < in.Rows*in.Seq; i++ {
		copy(logits[i*len(d.row):], d.row)
	}
	return nil
}

func benchLikelihood(b *testing.B, den llada.Denoiser, c llada.Contract, seqs, length int) {
	items := make([]LikelihoodItem, seqs)
	for i := range items {
		t := make([]int, length)
		for j := range t {
			t[j] = 3 + (i*7+j)%(den.VocabSize()-4)
		}
		items[i] = LikelihoodItem{Target: t}
	}
	cfg := MCConfig{Samples: 32, Batch: 16, MaxRows: 64}
	copies := 0
	b.ResetTimer()
	for b.Loop() {
		res, err := LikelihoodBound(context.Background(), den, c, items, cfg)
		if err != nil {
			b.Fatal(err)
		}
		copies += res.Copies
	}
	b.ReportMetric(float64(copies)/b.Elapsed().Seconds(), "copies/s")
	b.ReportMetric(float64(copies*length)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkLikelihoodEstimator measures the Monte-Carlo estimator without a network, at the Brown model's
// vocabulary (4096) and window (64 tokens): the ceiling its bookkeeping puts on throughput.
func BenchmarkLikelihoodEstimator(b *testing.B) {
	row := make([]float32, 4096)
	for i := range row {
		row[i] = float32(i%17) / 4
	}
	c := testContract(4096, 0)
	benchLikelihood(b, constDenoiser{row}, c, 8, 64)
}

// BenchmarkLikelihoodTiny measures the estimator end to end through ONNX Runtime on the tiny test model
// (vocabulary 50, 32 positions).
func BenchmarkLikelihoodTiny(b *testing.B) {
	m := openTiny(b)
	benchLikelihood(b, m.Denoiser(), m.Contract(), 8, 32)
}

// BenchmarkLikelihoodBrown measures the estimator on the project's Brown model (vocabulary 4096) over held-out
// windows of 64 tokens, the default of llada eval: masked copies scored per second, network included.
func BenchmarkLikelihoodBrown(b *testing.B) {
	m, closer, err := OpenModel("../models/brown", onnx.WithThreadSpinning(false))
	require.NoError(b, err)
	defer closer.Close()
	sentences, err := LoadSentences(heldout)
	require.NoError(b, err)
	wins, err := TextWindows(m.Tokenizer(), sentences, 64, 8)
	require.NoError(b, err)
	items := make([]LikelihoodItem, len(wins))
	for i, w := range wins {
		items[i] = LikelihoodItem{Target: w}
	}
	copies := 0
	b.ResetTimer()
	for b.Loop() {
		res, err := LikelihoodBound(context.Background(), m.Denoiser(), m.Contract(), items, MCConfig{Samples: 32, Batch: 16, MaxRows: 64})
		require.NoError(b, err)
		copies += res.Copies
	}
	b.ReportMetric(float64(copies)/b.Elapsed().Seconds(), "copies/s")
	b.ReportMetric(float64(copies*64)/b.Elapsed().Seconds(), "tokens/s")
}
