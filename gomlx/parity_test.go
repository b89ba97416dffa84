package gomlx

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// logitsTolerance is the largest absolute logit difference accepted against ONNX Runtime. Both run float32
// with different summation orders (and Sigmoid is lowered to 1/(1+exp(-x))); measured on these models and
// shapes: at most 3e-5, on logits of magnitude up to 20.
const logitsTolerance = 1e-4

// TestLogitsMatchONNXRuntime runs every shipped model on the pure-Go backend and on ONNX Runtime, with and
// without left padding, at several shapes (each shape compiles its own graph).
func TestLogitsMatchONNXRuntime(t *testing.T) {
	for _, tc := range []struct {
		model          string
		rows, seq, pad int
	}{
		{"tiny", 1, 8, 0}, {"tiny", 3, 32, 5},
		{"tiny_nomask", 2, 12, 0},
		{"sudoku", 2, 81, 4},
		{"brown", 1, 16, 0}, {"brown", 2, 24, 6},
	} {
		t.Run(fmt.Sprintf("%s/%dx%d/pad%d", tc.model, tc.rows, tc.seq, tc.pad), func(t *testing.T) {
			d := gomlxModel(t, tc.model)
			s := ortModel(t, tc.model)
			require.Equal(t, s.VocabSize(), d.VocabSize())
			require.Equal(t, s.HasAttentionMask(), d.HasAttentionMask())
			rng := rand.New(rand.NewPCG(uint64(tc.rows), uint64(tc.seq)))
			b := randomBatch(rng, tc.rows, tc.seq, d.VocabSize(), tc.pad)
			got := make([]float32, tc.rows*tc.seq*d.VocabSize())
			require.NoError(t, d.Forward(t.Context(), b, got))
			want := ortForward(t, s, b, d.VocabSize())
			diff, scale := maxAbsDiff(got, want)
			require.Greater(t, scale, 1.0, "degenerate logits would make the comparison vacuous")
			require.LessOrEqual(t, diff, logitsTolerance, "max |gomlx - ort| over %d logits (max |logit| %.2f)", len(got), scale)
		})
	}
}

// TestSigmoidIsLowered pins why the shipped LLaDA-architecture models need the rewrite: their SwiGLU uses
// Sigmoid, which onnx-gomlx v0.3.4 does not convert.
func TestSigmoidIsLowered(t *testing.T) {
	require.Equal(t, 4, gomlxModel(t, "brown").Lowered(), "brown has one Sigmoid per layer (4 layers)")
	require.Equal(t, 6, gomlxModel(t, "sudoku").Lowered())
	require.Equal(t, 0, gomlxModel(t, "tiny").Lowered())
}
