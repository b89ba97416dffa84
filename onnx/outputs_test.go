//go:build cgo

package onnx

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const judgePath = "../models/judge/model.onnx"

// The judge carries the hidden-state extension: ForwardOutputs reads it next to logits, and the logits it
// returns are the ones Forward computes.
func TestForwardOutputsHiddenStates(t *testing.T) {
	requireLibrary(t)
	s, err := Open(judgePath, WithIntraOpThreads(testThreads))
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	assert.Equal(t, "1", s.Metadata()[MetaHiddenStates])
	rows, seq := 2, 7
	ids := make([]int64, rows*seq)
	for i := range ids {
		ids[i] = int64(100 + 37*i)
	}
	want := make([]float32, rows*seq*s.VocabSize())
	require.NoError(t, s.Forward(context.Background(), ids, nil, rows, seq, want))
	out, err := s.ForwardOutputs(context.Background(), ids, nil, rows, seq, HiddenStates, Logits)
	require.NoError(t, err)
	require.Len(t, out, 2)
	assert.Equal(t, HiddenStates, out[0].Name)
	assert.Equal(t, []int64{2, 7, 160}, out[0].Shape)
	assert.Len(t, out[0].Data, rows*seq*160)
	assert.Equal(t, want, out[1].Data, "logits through the second session are bit-identical")

	// Causal features: position 0 of both rows depends on its own token only, so changing a later token
	// leaves it unchanged and changes the later positions.
	ids2 := append([]int64(nil), ids...)
	ids2[5] = 7
	out2, err := s.ForwardOutputs(context.Background(), ids2, nil, rows, seq, HiddenStates)
	require.NoError(t, err)
	assert.Equal(t, out[0].Data[:5*160], out2[0].Data[:5*160])
	assert.NotEqual(t, out[0].Data[5*160:6*160], out2[0].Data[5*160:6*160])
}

func TestForwardOutputsBadInput(t *testing.T) {
	requireLibrary(t)
	s, err := Open(judgePath, WithIntraOpThreads(testThreads))
	require.NoError(t, err)
	ids := []int64{1, 2, 3}
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		run   func() error
		error string
	}{
		{"no name", func() error { _, err := s.ForwardOutputs(ctx, ids, nil, 1, 3); return err }, "no output named"},
		{"unknown", func() error { _, err := s.ForwardOutputs(ctx, ids, nil, 1, 3, "pooled"); return err }, `no output "pooled"`},
		{"twice", func() error { _, err := s.ForwardOutputs(ctx, ids, nil, 1, 3, Logits, Logits); return err }, "named twice"},
		{"shape", func() error { _, err := s.ForwardOutputs(ctx, ids, nil, 2, 3, HiddenStates); return err }, "len(ids)=3"},
		{"attention", func() error {
			_, err := s.ForwardOutputs(ctx, ids, []int64{1, 2, 1}, 1, 3, HiddenStates)
			return err
		}, "attention[1]=2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.error)
		})
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = s.ForwardOutputs(cancelled, ids, nil, 1, 3, HiddenStates)
	require.ErrorIs(t, err, context.Canceled)

	require.NoError(t, s.Close())
	_, err = s.ForwardOutputs(ctx, ids, nil, 1, 3, HiddenStates)
	require.ErrorContains(t, err, "closed")

	// A contract-1 model with logits only has nothing more to give.
	tiny := shared(t, "tiny.onnx")
	_, err = tiny.ForwardOutputs(ctx, []int64{1, 2}, nil, 1, 2, Logits)
	require.ErrorContains(t, err, "no output but")
}
