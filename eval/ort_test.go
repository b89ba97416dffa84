//go:build cgo

package eval

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/llada-go/llada"
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
