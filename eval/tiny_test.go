//go:build cgo

package eval

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/llada-go/llada"
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
