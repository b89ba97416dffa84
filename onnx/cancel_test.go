//go:build cgo

package onnx

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// slowInput sizes a slow.onnx run (300 MatMul+Tanh nodes over [rows*seq,128]): one thread takes a few hundred
// milliseconds on it, long enough to cancel mid-run.
func slowInput() (ids []int64, rows, seq int, logits []float32) {
	rows, seq = 4, 512
	ids = make([]int64, rows*seq)
	for i := range ids {
		ids[i] = int64(i % 16)
	}
	return ids, rows, seq, make([]float32, rows*seq*16)
}

func TestCancelBeforeRun(t *testing.T) {
	s := shared(t, "slow.onnx")
	ids, rows, seq, logits := slowInput()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Forward(ctx, ids, nil, rows, seq, logits)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "forward not started")
}

// TestCancelDuringRun cancels while ONNX Runtime is executing and checks that the run stops early (via the
// terminate flag, not by waiting for the graph to finish), that the error wraps the context's, and that the
// session still works afterwards (the flag was cleared).
func TestCancelDuringRun(t *testing.T) {
	s := shared(t, "slow.onnx")
	ids, rows, seq, logits := slowInput()
	start := time.Now()
	require.NoError(t, s.Forward(context.Background(), ids, nil, rows, seq, logits))
	full := time.Since(start)
	t.Logf("uncancelled run: %v", full)
	require.Greater(t, full, 100*time.Millisecond, "slow.onnx must run long enough to be cancelled mid-run")

	for _, kind := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), full/10)
		}, context.DeadlineExceeded},
		{"cancel", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(full/10, cancel)
			return ctx, cancel
		}, context.Canceled},
	} {
		t.Run(kind.name, func(t *testing.T) {
			ctx, cancel := kind.ctx()
			defer cancel()
			start := time.Now()
			err := s.Forward(ctx, ids, nil, rows, seq, logits)
			took := time.Since(start)
			require.Error(t, err)
			assert.ErrorIs(t, err, kind.want)
			assert.Contains(t, err.Error(), "forward interrupted", "the run itself was stopped, not the pre-check")
			assert.Less(t, took, full*6/10, "cancellation must cut the run short (full run %v)", full)
		})
	}

	want := make([]float32, len(logits))
	require.NoError(t, s.Forward(context.Background(), ids, nil, rows, seq, want), "session usable after a terminated run")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	require.NoError(t, s.Forward(ctx, ids, nil, rows, seq, logits), "a live cancellable ctx does not terminate")
	assert.Equal(t, want, logits)
	assert.False(t, errors.Is(ctx.Err(), context.Canceled))
}
