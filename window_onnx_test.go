package llada

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llada-go/llada/onnx"
)

// The window parity models: testdata/window/model.onnx (with the logits_window input) and full.onnx (the same
// seeded weights without it), written by export/test_export_window.py.
func openWindowPair(t *testing.T) (win, full *onnx.Session) {
	t.Helper()
	win, err := onnx.Open(filepath.Join("testdata", "window", "model.onnx"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, win.Close()) })
	full, err = onnx.Open(filepath.Join("testdata", "window", "full.onnx"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, full.Close()) })
	return win, full
}

func TestONNXWindowLogitsEqualFull(t *testing.T) {
	win, full := openWindowPair(t)
	require.True(t, win.HasLogitsWindow())
	require.False(t, full.HasLogitsWindow())
	assert.Equal(t, "1", win.Metadata()["llada.logits_window"])
	const rows, seq, v = 2, 12, 64
	rng := rand.New(rand.NewPCG(1, 1))
	ids := make([]int64, rows*seq)
	att := make([]int64, rows*seq)
	for i := range ids {
		ids[i], att[i] = int64(rng.IntN(64)), 1
	}
	att[seq], att[seq+1] = 0, 0 // the second row is left-padded
	ids[seq], ids[seq+1] = 62, 62
	want := make([]float32, rows*seq*v)
	require.NoError(t, full.Forward(context.Background(), ids, att, rows, seq, want))
	// The window model's plain Forward is the window over every position.
	got := make([]float32, rows*seq*v)
	require.NoError(t, win.Forward(context.Background(), ids, att, rows, seq, got))
	assert.InDeltaSlice(t, want, got, 1e-5)
	for _, w := range [][2]int{{0, seq}, {3, 4}, {seq - 1, 1}} {
		out := make([]float32, rows*w[1]*v)
		require.NoError(t, win.ForwardWindow(context.Background(), ids, att, rows, seq, w[0], w[1], out))
		for r := range rows {
			assert.InDeltaSlice(t, want[(r*seq+w[0])*v:(r*seq+w[0]+w[1])*v], out[r*w[1]*v:(r+1)*w[1]*v], 1e-5, "window %v row %d", w, r)
		}
	}
	// Errors name the problem.
	err := full.ForwardWindow(context.Background(), ids, att, rows, seq, 0, 4, make([]float32, rows*4*v))
	require.ErrorContains(t, err, "logits_window")
	err = win.ForwardWindow(context.Background(), ids, att, rows, seq, 10, 4, make([]float32, rows*4*v))
	require.ErrorContains(t, err, "outside")
	err = win.ForwardWindow(context.Background(), ids, att, rows, seq, 0, 4, make([]float32, 5))
	require.ErrorContains(t, err, "len(logits)")
}

// TestONNXWindowGenerationsMatch generates with the window model (window passes) and with its full twin, one
// and two rows, with and without guidance, and requires the same canvases.
func TestONNXWindowGenerationsMatch(t *testing.T) {
	win, full := openWindowPair(t)
	c, err := ParseContract(full.Metadata())
	require.NoError(t, err)
	dw, df := newONNXDenoiser(win, c.VocabSize), newONNXDenoiser(full, c.VocabSize)
	_, isWin := dw.(WindowDenoiser)
	require.True(t, isWin, "the window model is detected at load")
	_, isWin = df.(WindowDenoiser)
	require.False(t, isWin)
	for _, tc := range []struct {
		prompts [][]int
		cfg     GenerateConfig
	}{
		{[][]int{{5, 6, 7}}, GenerateConfig{GenLength: 12, BlockLength: 4, Steps: 12}},
		{[][]int{{5, 6, 7}, {9}}, GenerateConfig{GenLength: 8, BlockLength: 4, Steps: 8, Sampler: SamplerByName("fast-dllm-threshold")}},
		{[][]int{{5, 6}}, GenerateConfig{GenLength: 8, BlockLength: 8, Steps: 8, CFGScale: 1, Temperature: 1, Seed: 3}},
	} {
		label := fmt.Sprintf("%v %+v", tc.prompts, tc.cfg)
		want := runAll(t, df, c, tc.prompts, tc.cfg)
		got := runAll(t, dw, c, tc.prompts, tc.cfg)
		require.Len(t, got, len(want), label)
		for i := range want {
			assert.Equal(t, want[i].Canvas, got[i].Canvas, "%s step %d", label, i)
		}
	}
}

// TestONNXWindowKeepsNoBuffer: a multi-row window pass through the ONNX denoiser equals the full pass in the
// window, and allocates (on a fresh denoiser, so no cached buffer could hide it) far less than the
// [rows, n, vocab] output: the window lands in the caller's logits, so nothing sized by the vocabulary is kept
// after the generation that owns logits ends.
func TestONNXWindowKeepsNoBuffer(t *testing.T) {
	win, full := openWindowPair(t)
	c, err := ParseContract(full.Metadata())
	require.NoError(t, err)
	const rows, seq, start, n = 8, 12, 0, 12
	v := c.VocabSize
	rng := rand.New(rand.NewPCG(2, 2))
	ids := make([]int64, rows*seq)
	att := make([]int64, rows*seq)
	for i := range ids {
		ids[i], att[i] = int64(rng.IntN(v)), 1
	}
	in := Batch{IDs: ids, Attention: att, Rows: rows, Seq: seq}
	want := make([]float32, rows*seq*v)
	require.NoError(t, newONNXDenoiser(full, v).Forward(context.Background(), in, want))
	for _, w := range [][2]int{{3, 4}, {start, n}} {
		dw := newONNXDenoiser(win, v).(WindowDenoiser)
		got := make([]float32, rows*seq*v)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		require.NoError(t, dw.ForwardWindow(context.Background(), in, w[0], w[1], got))
		runtime.ReadMemStats(&after)
		window := uint64(rows * w[1] * v * 4)
		assert.Less(t, after.TotalAlloc-before.TotalAlloc, window/2, "window %v: a pass allocated a buffer the size of its output (%d bytes)", w, window)
		for r := range rows {
			lo, hi := (r*seq+w[0])*v, (r*seq+w[0]+w[1])*v
			assert.InDeltaSlice(t, want[lo:hi], got[lo:hi], 1e-5, "window %v row %d", w, r)
		}
	}
}
