//go:build cgo

package onnx

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReleaseBuffer: after ReleaseBuffer no cached binding refers to the caller's logits (for both the
// non-cancellable IoBinding path and the cancellable RunWithOptions path), and the buffer works again after.
func TestReleaseBuffer(t *testing.T) {
	requireLibrary(t)
	s, err := Open(modelPath("tiny.onnx"), WithIntraOpThreads(testThreads))
	require.NoError(t, err)
	defer s.Close()
	ids := []int64{2, 9, 14, 30}
	cancellable, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, ctx := range []context.Context{context.Background(), cancellable} {
		want := make([]float32, 4*s.VocabSize())
		require.NoError(t, s.Forward(ctx, ids, nil, 2, 2, want))
		logits := make([]float32, len(want))
		other := make([]float32, len(want))
		require.NoError(t, s.Forward(ctx, ids, nil, 2, 2, logits))
		require.NoError(t, s.Forward(ctx, ids, nil, 1, 4, other))
		require.True(t, s.holdsBuffer(logits), "the session caches the binding to the caller's buffer")
		s.ReleaseBuffer(logits)
		assert.False(t, s.holdsBuffer(logits))
		assert.True(t, s.holdsBuffer(other), "other buffers are untouched")
		s.ReleaseBuffer(other)
		assert.False(t, s.holdsBuffer(other))
		clear(logits)
		require.NoError(t, s.Forward(ctx, ids, nil, 2, 2, logits))
		assert.Equal(t, want, logits)
		s.ReleaseBuffer(logits)
		s.ReleaseBuffer(want)
		s.ReleaseBuffer(nil)
	}
}
