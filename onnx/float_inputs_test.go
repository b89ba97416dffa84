//go:build cgo

package onnx

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestContinuousSessionForward(t *testing.T) {
	requireLibrary(t)
	path := filepath.Join("..", "testdata", "continuous-tiny", "model.onnx")
	_, err := Open(path, WithIntraOpThreads(testThreads))
	require.ErrorIs(t, err, ErrContinuousModel, "contract v1 Open points at OpenContinuous")
	s, err := OpenContinuous(path, WithIntraOpThreads(testThreads))
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, 8, s.EmbedDim())
	assert.Equal(t, 2, s.TimestepRank())
	assert.True(t, s.HasSelfCond())
	assert.Equal(t, "continuous", s.Metadata()["llada.family"])

	rows, seq, dim, vocab := 2, 3, 8, 64
	in := ContinuousInput{X: make([]float32, rows*seq*dim), Timestep: make([]float32, rows*seq), Rows: rows, Seq: seq}
	for i := range in.X {
		in.X[i] = float32(i%7) - 3
	}
	logits := make([]float32, rows*seq*vocab)
	require.NoError(t, s.Forward(context.Background(), in, dim, logits))
	nonzero := false
	for _, v := range logits {
		require.False(t, math.IsNaN(float64(v)))
		nonzero = nonzero || v != 0
	}
	assert.True(t, nonzero)

	bad := in
	bad.X = in.X[:5]
	assert.ErrorContains(t, s.Forward(context.Background(), bad, dim, logits), "len(x_t)=5")
	bad = in
	bad.Timestep = []float32{0, 0, 0, 0, 0, float32(math.NaN())}
	assert.ErrorContains(t, s.Forward(context.Background(), bad, dim, logits), "timestep[5] = NaN")
	assert.ErrorContains(t, s.Forward(context.Background(), in, 4, logits), "dim 4, the graph's x_t has dim 8")
	assert.ErrorContains(t, s.Forward(context.Background(), in, dim, logits[:10]), "len(logits)=10")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, s.Forward(ctx, in, dim, logits), context.Canceled)
	require.NoError(t, s.Close())
	assert.ErrorContains(t, s.Forward(context.Background(), in, dim, logits), "closed")
}
