package gomlx

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/llada-go/llada"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// confidenceTolerance: the graph reduces in float32, the Go scorer in float64 (relative for the entropy,
// which reaches log(vocab)).
const confidenceTolerance = 1e-5

// requireMatchesScorer compares each position of conf with llada.ScoreLogits on the same logits.
func requireMatchesScorer(t *testing.T, logits []float32, vocab, never int, conf Confidences) {
	t.Helper()
	for p := range conf.Rows * conf.Seq {
		row := logits[p*vocab : (p+1)*vocab]
		want, err := llada.ScoreLogits(row, never)
		if err != nil {
			require.False(t, conf.OK[p], "position %d: the scorer rejects its logits (%v)", p, err)
			continue
		}
		require.True(t, conf.OK[p], "position %d", p)
		require.Equal(t, want.Token, int(conf.Token[p]), "position %d token", p)
		require.InDelta(t, want.Prob, conf.Prob[p], confidenceTolerance, "position %d prob", p)
		require.InDelta(t, want.Margin, conf.Margin[p], confidenceTolerance, "position %d margin", p)
		require.InDelta(t, want.Entropy, conf.Entropy[p], confidenceTolerance*(1+want.Entropy), "position %d entropy", p)
	}
}

// TestConfidenceGraphCases runs the in-graph reduction on hand-made logits: ties, the never-proposed id on
// top, NaN, +Inf, -Inf, and rows where only the never id is finite.
func TestConfidenceGraphCases(t *testing.T) {
	inf := float32(math.Inf(1))
	nan := float32(math.NaN())
	const vocab = 5
	logits := []float32{
		0, 1, 2, 3, 4, // plain, top at the end
		4, 4, 1, 0, 0, // tie: lowest id wins, margin 0
		1, 2, 9, 3, 0, // the never id (2) on top: proposal is id 3, margin reads the never id's top
		1, nan, 2, 0, 0, // NaN: not ok
		1, inf, 2, 0, 0, // +Inf: not ok
		-inf, 3, -inf, 1, -inf, // -Inf entries are harmless
		-inf, -inf, 5, -inf, -inf, // only the never id is finite: not ok
		-20, 30, -5, 29.5, 0, // large spread
	}
	const never = 2
	rows, seq := 2, 4
	b, err := simplego.New(simpleGoConfig) // the Denoiser's configuration (sequential ops, see device.go)
	require.NoError(t, err)
	defer b.Finalize()
	e, err := graph.NewExec(b, func(x, nv *graph.Node) []*graph.Node { return confidenceGraph(x, nv) })
	require.NoError(t, err)
	outs, err := e.Exec(tensors.FromFlatDataAndDimensions(logits, rows, seq, vocab), tensors.FromScalar(int32(never)))
	require.NoError(t, err)
	conf := Confidences{Rows: rows, Seq: seq}
	conf.Token = tensors.MustCopyFlatData[int32](outs[0])
	conf.Prob = tensors.MustCopyFlatData[float32](outs[1])
	conf.Margin = tensors.MustCopyFlatData[float32](outs[2])
	conf.Entropy = tensors.MustCopyFlatData[float32](outs[3])
	conf.OK = tensors.MustCopyFlatData[bool](outs[4])
	assert.Equal(t, []bool{true, true, true, false, false, true, false, true}, conf.OK)
	assert.Equal(t, int32(0), conf.Token[1], "ties go to the lowest id")
	assert.Equal(t, float32(0), conf.Margin[1])
	assert.Equal(t, int32(3), conf.Token[2], "the never-proposed id is skipped")
	requireMatchesScorer(t, logits, vocab, never, conf)
}

// TestConfidenceMatchesScorer: the in-graph pass on a real model agrees with the Go scorer applied to the
// same model's logits, for a mask id and for no never-proposed id.
func TestConfidenceMatchesScorer(t *testing.T) {
	for _, name := range []string{"tiny", "brown"} {
		d := gomlxModel(t, name)
		c, err := d.Contract()
		require.NoError(t, err)
		for _, never := range []int{c.MaskID, -1} {
			t.Run(fmt.Sprintf("%s/never%d", name, never), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(7, uint64(never+2)))
				b := randomBatch(rng, 2, 12, d.VocabSize(), 3)
				for i := range b.IDs {
					if rng.IntN(2) == 0 {
						b.IDs[i] = int64(c.MaskID) // a canvas half masked, as during generation
					}
				}
				logits := make([]float32, 2*12*d.VocabSize())
				require.NoError(t, d.Forward(t.Context(), b, logits))
				var conf Confidences
				require.NoError(t, d.Confidence(t.Context(), b, never, &conf))
				require.Equal(t, 2, conf.Rows)
				require.Len(t, conf.Token, 24)
				requireMatchesScorer(t, logits, d.VocabSize(), never, conf)
				// A second call reuses the caller's slices.
				tok := &conf.Token[0]
				require.NoError(t, d.Confidence(t.Context(), b, never, &conf))
				require.Same(t, tok, &conf.Token[0])
			})
		}
	}
}

func TestConfidenceBadInput(t *testing.T) {
	d := gomlxModel(t, "tiny")
	b := llada.Batch{Rows: 1, Seq: 2, IDs: []int64{1, 2}}
	var conf Confidences
	require.ErrorContains(t, d.Confidence(t.Context(), b, 50, &conf), "never-proposed id 50")
	require.ErrorContains(t, d.Confidence(t.Context(), b, -2, &conf), "never-proposed id -2")
	require.ErrorContains(t, d.Confidence(t.Context(), b, 1, nil), "nil output")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.ErrorIs(t, d.Confidence(ctx, b, 1, &conf), context.Canceled)
}
