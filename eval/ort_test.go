//go:build cgo

package eval

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/llada-go/llada"
	"github.com/llada-go/llada/onnx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// openTiny opens testdata/tiny (random vocab-50 model, WordLevel tokenizer over w2..w48, mask 49) with one
// ONNX Runtime thread, polite on a shared machine.
func openTiny(t testing.TB) *llada.Model {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{llada.ModelFile, llada.TokenizerFile} {
		b, err := os.ReadFile(filepath.Join("..", "testdata", "tiny", f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), b, 0o644))
	}
	m, err := llada.Open(dir, llada.WithIntraOpThreads(1))
	require.NoError(t, err, "the eval tests need ONNX Runtime: bash scripts/install-onnxruntime.sh")
	t.Cleanup(func() { require.NoError(t, m.Close()) })
	return m
}

// BenchmarkLikelihoodTiny measures the estimator end to end through ONNX Runtime on the tiny test model
// (vocabulary 50, 32 positions).
func BenchmarkLikelihoodTiny(b *testing.B) {
	m := openTiny(b)
	benchLikelihood(b, m.Denoiser(), m.Contract(), 8, 32)
}

func TestFillIsReproducible(t *testing.T) {
	m := openTiny(t)
	var canvases [][]int
	for i := 0; i < 5; i++ {
		cv := []int{5 + i, 6, 7, 8, 9, 10, 11, 12}
		cv[2], cv[5], cv[6] = 49, 49, 49
		canvases = append(canvases, cv)
	}
	dec := Decoding{Sampler: "llada-random", TokensPerStep: 1, Temperature: 1}
	a, err := Fill(context.Background(), m.Denoiser(), m.Contract(), canvases, dec, 2, 42)
	require.NoError(t, err)
	b, err := Fill(context.Background(), m.Denoiser(), m.Contract(), canvases, dec, 2, 42)
	require.NoError(t, err)
	assert.Equal(t, a.Filled, b.Filled)
	for i, f := range a.Filled {
		assert.NotContains(t, f, 49, "row %d still masked", i)
		for _, p := range []int{0, 1, 3, 4, 7} {
			assert.Equal(t, canvases[i][p], f[p], "known token moved")
		}
	}
	other, err := Fill(context.Background(), m.Denoiser(), m.Contract(), canvases, dec, 2, 43)
	require.NoError(t, err)
	assert.NotEqual(t, a.Filled, other.Filled, "another seed samples other tokens")
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
