package eval

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// netFunc adapts a function to Network.
type netFunc func(ids []int64, rows, seq int, logits []float32) error

func (f netFunc) Forward(_ context.Context, ids, _ []int64, rows, seq int, logits []float32) error {
	return f(ids, rows, seq, logits)
}

// nextTokenJudge predicts token x+1 after x with probability q, uniformly otherwise; it records its batches.
func nextTokenJudge(t *testing.T, vocab int, q float64, shapes *[][2]int) *Judge {
	j, err := NewJudge(netFunc(func(ids []int64, rows, seq int, logits []float32) error {
		*shapes = append(*shapes, [2]int{rows, seq})
		for i, id := range ids {
			out := logits[i*vocab : (i+1)*vocab]
			for k := range out {
				out[k] = 0
			}
			out[(int(id)+1)%vocab] = float32(math.Log(q * float64(vocab-1) / (1 - q)))
		}
		return nil
	}), vocab, 64)
	require.NoError(t, err)
	return j
}

func TestGenPPL(t *testing.T) {
	var shapes [][2]int
	j := nextTokenJudge(t, 10, 0.8, &shapes)
	seqs := [][]int{{1, 2, 3, 4}, {5, 6, 7, 8}, {1, 2, 9, 9, 9}}
	ppl, err := j.GenPPL(context.Background(), seqs, []int{2, 1, 2}, 2)
	require.NoError(t, err)
	// Scored: 3,4 and 6,7,8 follow their predecessor (q each); the three 9s do not ((1-q)/9 each).
	nll := -5*math.Log(0.8) - 3*math.Log(0.2/9)
	assert.Equal(t, 8, ppl.Tokens)
	assert.InDelta(t, nll, ppl.NLL, 1e-5)
	assert.InDelta(t, math.Exp(nll/8), ppl.Value(), 1e-4)
	assert.Equal(t, [][2]int{{2, 4}, {1, 5}}, shapes, "equal lengths share a pass")

	_, err = j.GenPPL(context.Background(), nil, nil, 2)
	require.ErrorIs(t, err, ErrEmptyDataset)
	_, err = j.GenPPL(context.Background(), seqs, []int{0, 1, 1}, 2)
	require.ErrorIs(t, err, ErrBadConfig, "the first token has no context")
	_, err = j.GenPPL(context.Background(), [][]int{{1, 12}}, []int{1}, 2)
	require.ErrorIs(t, err, ErrVocabMismatch)
	_, err = j.GenPPL(context.Background(), [][]int{make([]int, 65)}, []int{1}, 2)
	require.ErrorIs(t, err, ErrBadConfig)
}

func TestJudgeVocab(t *testing.T) {
	var shapes [][2]int
	j := nextTokenJudge(t, 10, 0.5, &shapes)
	require.NoError(t, j.CheckVocab(10))
	err := j.CheckVocab(4096)
	require.ErrorIs(t, err, ErrVocabMismatch)
	assert.Contains(t, err.Error(), "4096")
	_, err = NewJudge(nil, 10, 0)
	require.ErrorIs(t, err, ErrBadConfig)
	failing, err := NewJudge(netFunc(func([]int64, int, int, []float32) error { return fmt.Errorf("boom") }), 10, 0)
	require.NoError(t, err)
	_, err = failing.GenPPL(context.Background(), [][]int{{1, 2}}, []int{1}, 1)
	require.ErrorContains(t, err, "boom")
}

func TestMeanLogProbs(t *testing.T) {
	var shapes [][2]int
	j := nextTokenJudge(t, 10, 0.8, &shapes)
	seqs := [][]int{{1, 2, 3, 4}, {5, 6, 7, 8}, {1, 2, 9, 9, 9}}
	from := []int{2, 1, 2}
	lp, err := j.MeanLogProbs(context.Background(), seqs, from, 2)
	require.NoError(t, err)
	// Sequence 0 scores 3,4 (both predicted, q each); sequence 1 scores 6,7,8 (q each); sequence 2 scores its
	// three 9s, none predicted ((1-q)/9 each).
	require.Len(t, lp, 3)
	assert.InDelta(t, math.Log(0.8), lp[0], 1e-5)
	assert.InDelta(t, math.Log(0.8), lp[1], 1e-5)
	assert.InDelta(t, math.Log(0.2/9), lp[2], 1e-5)
	// The per-sequence means weighted by token counts give GenPPL's total.
	ppl, err := j.GenPPL(context.Background(), seqs, from, 2)
	require.NoError(t, err)
	assert.InDelta(t, -ppl.NLL, 2*lp[0]+3*lp[1]+3*lp[2], 1e-5)

	_, err = j.MeanLogProbs(context.Background(), seqs, []int{2, 1}, 2)
	require.ErrorIs(t, err, ErrBadConfig)
	_, err = j.MeanLogProbs(context.Background(), [][]int{{1, 12}}, []int{1}, 2)
	require.ErrorIs(t, err, ErrVocabMismatch)
}
