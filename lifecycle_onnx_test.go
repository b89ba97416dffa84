//go:build cgo

package llada

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCloseFailsGenerationsONNX: with the ONNX Runtime backend, closing the model between two steps makes the
// generation end with ErrClosed, and a generation after Close fails the same way.
func TestCloseFailsGenerationsONNX(t *testing.T) {
	m, err := Open("testdata/tiny", WithIntraOpThreads(1))
	require.NoError(t, err)
	prompt, err := m.Tokenizer().Encode("the", true)
	require.NoError(t, err)
	cfg := GenerateConfig{GenLength: 8, Steps: 8}
	steps := 0
	var last error
	for _, err := range m.Stream(context.Background(), [][]int{prompt}, cfg) {
		if err != nil {
			last = err
			break
		}
		steps++
		if steps == 2 {
			require.NoError(t, m.Close())
		}
	}
	assert.Equal(t, 2, steps)
	require.ErrorIs(t, last, ErrClosed)
	_, err = m.Generate(context.Background(), "the", cfg)
	require.ErrorIs(t, err, ErrClosed)

	// The backend's own error maps to ErrClosed too (a generation that checked the flag just before Close).
	d := m.Denoiser()
	err = d.Forward(context.Background(), Batch{IDs: []int64{5}, Rows: 1, Seq: 1}, make([]float32, d.VocabSize()))
	require.ErrorIs(t, err, ErrClosed)
}
