//go:build cgo

package onnx

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	ort "github.com/yalue/onnxruntime_go"
)

// reductionGolden is testdata/reductions/golden.json, written by export/test_add_reductions.py: numpy float64
// reductions of the torch logits of the toy LLaDA that testdata/window was exported from, and of hand-made logits.
type reductionGolden struct {
	IDs       [][]int64 `json:"ids"`
	Rows, Seq int
	ExcludeID int `json:"exclude_id"`
	Full      reductionValues
	Window    struct {
		Start, Length int
		reductionValues
	}
	Hand struct {
		Logits    [][][]string
		ExcludeID int `json:"exclude_id"`
		reductionValues
	}
}

type reductionValues struct {
	ArgmaxID   [][]int64   `json:"argmax_id"`
	ArgmaxProb [][]float64 `json:"argmax_prob"`
	Top2Margin [][]float64 `json:"top2_margin"`
	Entropy    [][]float64 `json:"entropy"`
}

func readReductionGolden(t *testing.T) reductionGolden {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", "reductions", "golden.json"))
	require.NoError(t, err)
	var g reductionGolden
	require.NoError(t, json.Unmarshal(data, &g))
	return g
}

// requireReductions compares ONNX Runtime's float32 outputs with the float64 oracle: the argmax exactly (ties
// to the lowest id), the rest within tol (ONNX Runtime's logits differ from torch's by ~1e-6).
func requireReductions(t *testing.T, want reductionValues, got Reductions, n int, tol float64) {
	t.Helper()
	for r, row := range want.ArgmaxID {
		for p := range row {
			i := r*n + p
			require.Equal(t, want.ArgmaxID[r][p], got.Token[i], "row %d position %d argmax", r, p)
			require.InDelta(t, want.ArgmaxProb[r][p], got.Prob[i], tol, "row %d position %d prob", r, p)
			require.InDelta(t, want.Top2Margin[r][p], got.Margin[i], tol, "row %d position %d margin", r, p)
			require.InDelta(t, want.Entropy[r][p], got.Entropy[i], tol*(1+want.Entropy[r][p]), "row %d position %d entropy", r, p)
		}
	}
}

func newReductions(n int) Reductions {
	return Reductions{Token: make([]int64, n), Prob: make([]float32, n), Margin: make([]float32, n), Entropy: make([]float32, n)}
}

func TestForwardReductionsMatchNumpy(t *testing.T) {
	requireLibrary(t)
	g := readReductionGolden(t)
	s, err := Open(filepath.Join("..", "testdata", "reductions", "window.onnx"), WithIntraOpThreads(testThreads))
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	ex, ok, err := s.Reductions()
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, g.ExcludeID, ex)
	var ids []int64
	for _, row := range g.IDs {
		ids = append(ids, row...)
	}
	full := newReductions(g.Rows * g.Seq)
	require.NoError(t, s.ForwardReductions(context.Background(), ids, nil, g.Rows, g.Seq, 0, g.Seq, &full))
	requireReductions(t, g.Full, full, g.Seq, 1e-5)
	win := newReductions(g.Rows * g.Window.Length)
	ctx, cancel := context.WithCancel(context.Background()) // the cancellable path too
	defer cancel()
	require.NoError(t, s.ForwardReductions(ctx, ids, nil, g.Rows, g.Seq, g.Window.Start, g.Window.Length, &win))
	requireReductions(t, g.Window.reductionValues, win, g.Window.Length, 1e-5)
	// A second call on the cached tensors gives the same values.
	again := newReductions(g.Rows * g.Seq)
	require.NoError(t, s.ForwardReductions(context.Background(), ids, nil, g.Rows, g.Seq, 0, g.Seq, &again))
	assert.Equal(t, full, again)

	// Errors name the problem.
	require.ErrorContains(t, s.ForwardReductions(context.Background(), ids, nil, g.Rows, g.Seq, 10, 4, &win), "outside")
	require.ErrorContains(t, s.ForwardReductions(context.Background(), ids, nil, g.Rows, g.Seq, 0, 3, &win), "rows*length")
	require.ErrorContains(t, s.ForwardReductions(context.Background(), ids, nil, g.Rows, g.Seq, 0, 4, nil), "nil output")
	cancel()
	require.ErrorIs(t, s.ForwardReductions(ctx, ids, nil, g.Rows, g.Seq, 0, 4, &win), context.Canceled)
}

func TestForwardReductionsNoWindowModel(t *testing.T) {
	requireLibrary(t)
	s, err := Open(filepath.Join("..", "testdata", "reductions", "model.onnx"), WithIntraOpThreads(testThreads))
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	ex, ok, err := s.Reductions()
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, 49, ex)
	const rows, seq, v = 2, 6, 50
	ids := []int64{3, 4, 49, 49, 5, 49, 7, 49, 49, 8, 9, 10}
	logits := make([]float32, rows*seq*v)
	require.NoError(t, s.Forward(context.Background(), ids, nil, rows, seq, logits))
	red := newReductions(rows * seq)
	require.NoError(t, s.ForwardReductions(context.Background(), ids, nil, rows, seq, 0, seq, &red))
	for i := range rows * seq {
		row := logits[i*v : (i+1)*v]
		best := -1
		for k, x := range row {
			if k != ex && (best < 0 || x > row[best]) {
				best = k
			}
		}
		require.Equal(t, int64(best), red.Token[i], "position %d", i)
	}
	require.ErrorContains(t, s.ForwardReductions(context.Background(), ids, nil, rows, seq, 1, 4, &red), "without the")

	plain := shared(t, "tiny.onnx")
	_, ok, err = plain.Reductions()
	require.NoError(t, err)
	require.False(t, ok, "an old model has none, and that is not an error")
	require.ErrorContains(t, plain.ForwardReductions(context.Background(), ids, nil, rows, seq, 0, seq, &red), MetaReductions)
}

// TestReductionGraphHandCases runs the subgraph of export/add_reductions.py over hand-made logits (ties, the
// excluded id on top, -Inf, NaN, +Inf) through ONNX Runtime: this is where the tie rule (ties to the lowest
// id: TopK orders equal values by the lower index; the first version used ArgMax with select_last_index=0 and
// passed the same cases) is checked in the runtime, not just in the file.
func TestReductionGraphHandCases(t *testing.T) {
	_, err := ensureEnvironment(requireLibrary(t))
	require.NoError(t, err)
	g := readReductionGolden(t)
	sess, err := ort.NewDynamicAdvancedSession(filepath.Join("..", "testdata", "reductions", "identity.onnx"),
		[]string{"x"}, reductionNames, nil)
	require.NoError(t, err)
	defer sess.Destroy()
	run := func(x []float32, n int) Reductions {
		in, err := ort.NewTensor(ort.NewShape(1, int64(n), 5), x)
		require.NoError(t, err)
		defer in.Destroy()
		outs := make([]ort.Value, 4)
		require.NoError(t, sess.Run([]ort.Value{in}, outs))
		defer func() {
			for _, o := range outs {
				o.Destroy()
			}
		}()
		r := Reductions{Token: append([]int64(nil), outs[0].(*ort.Tensor[int64]).GetData()...)}
		r.Prob = append([]float32(nil), outs[1].(*ort.Tensor[float32]).GetData()...)
		r.Margin = append([]float32(nil), outs[2].(*ort.Tensor[float32]).GetData()...)
		r.Entropy = append([]float32(nil), outs[3].(*ort.Tensor[float32]).GetData()...)
		return r
	}
	var x []float32
	for _, row := range g.Hand.Logits[0] {
		for _, v := range row {
			f, err := strconv.ParseFloat(v, 64)
			require.NoError(t, err)
			x = append(x, float32(f))
		}
	}
	n := len(g.Hand.Logits[0])
	got := run(x, n)
	requireReductions(t, g.Hand.reductionValues, got, n, 1e-6)
	assert.Equal(t, int64(0), got.Token[1], "a tie goes to the lowest id")
	assert.Equal(t, int64(0), got.Token[5], "all equal: the lowest id")
	assert.Equal(t, int64(3), got.Token[2], "the excluded id is never proposed")

	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	bad := run([]float32{1, nan, 2, 0, 0, 1, inf, 2, 0, 0, -inf, -inf, 5, -inf, -inf}, 3)
	for i := range 3 {
		assert.True(t, math.IsNaN(float64(bad.Prob[i])), "position %d: prob %v must be NaN (bad logits)", i, bad.Prob[i])
	}
}
