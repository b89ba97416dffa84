package gomlx

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"

	"github.com/llada-go/llada"
	lonnx "github.com/llada-go/llada/onnx"
	"github.com/stretchr/testify/require"
)

// Test models: the repository's shipped ones, by path (the models module is not a dependency of this one).
var testModels = map[string]string{
	"tiny":        filepath.Join("..", "testdata", "tiny", "model.onnx"),
	"tiny_nomask": filepath.Join("..", "testdata", "onnx", "tiny_nomask.onnx"),
	"brown":       filepath.Join("..", "models", "brown", "model.onnx"),
	"sudoku":      filepath.Join("..", "models", "sudoku", "model.onnx"),
}

var opened struct {
	sync.Mutex
	gomlx map[string]*Denoiser
	ort   map[string]*lonnx.Session
}

// gomlxModel opens each test model once per test binary on the CPU backend.
func gomlxModel(t testing.TB, name string) *Denoiser {
	t.Helper()
	opened.Lock()
	defer opened.Unlock()
	if d := opened.gomlx[name]; d != nil {
		return d
	}
	d, err := Open(testModels[name])
	require.NoError(t, err)
	if opened.gomlx == nil {
		opened.gomlx = map[string]*Denoiser{}
	}
	opened.gomlx[name] = d
	return d
}

// ortModel opens each test model once with ONNX Runtime (one thread: the machine is shared); a missing
// runtime fails the test with the installer hint.
func ortModel(t testing.TB, name string) *lonnx.Session {
	t.Helper()
	opened.Lock()
	defer opened.Unlock()
	if s := opened.ort[name]; s != nil {
		return s
	}
	s, err := lonnx.Open(testModels[name], lonnx.WithIntraOpThreads(1))
	require.NoError(t, err)
	if opened.ort == nil {
		opened.ort = map[string]*lonnx.Session{}
	}
	opened.ort[name] = s
	return s
}

// randomBatch draws ids below vocab (avoiding nothing: every id is a valid input) and, when pad > 0, left-pads
// the second half of the rows by pad positions.
func randomBatch(rng *rand.Rand, rows, seq, vocab, pad int) llada.Batch {
	b := llada.Batch{Rows: rows, Seq: seq, IDs: make([]int64, rows*seq)}
	for i := range b.IDs {
		b.IDs[i] = rng.Int64N(int64(vocab))
	}
	if pad > 0 {
		b.Attention = make([]int64, rows*seq)
		for r := 0; r < rows; r++ {
			for j := 0; j < seq; j++ {
				if r < rows/2 || j >= pad {
					b.Attention[r*seq+j] = 1
				}
			}
		}
	}
	return b
}

// maxAbsDiff returns the largest |a-b| and the largest |b| (for a relative reading).
func maxAbsDiff(a, b []float32) (diff, scale float64) {
	for i := range a {
		diff = math.Max(diff, math.Abs(float64(a[i])-float64(b[i])))
		scale = math.Max(scale, math.Abs(float64(b[i])))
	}
	return diff, scale
}

func ortForward(t testing.TB, s *lonnx.Session, b llada.Batch, vocab int) []float32 {
	t.Helper()
	out := make([]float32, b.Rows*b.Seq*vocab)
	require.NoError(t, s.Forward(context.Background(), b.IDs, b.Attention, b.Rows, b.Seq, out))
	return out
}
