package llada

import (
	"context"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// likeDenoiser prefers token 6 everywhere with logit 3 (others 0), and checks that scoring rows mask exactly
// one position.
func likeDenoiser(t *testing.T) *tableDenoiser {
	return &tableDenoiser{vocab: 16, fill: func(ids, att []int64, pos int, out []float32) {
		for v := range out {
			out[v] = 0
		}
		out[6] = 3
	}}
}

func TestTokenLogProbsByHand(t *testing.T) {
	c := testContract(16)
	den := likeDenoiser(t)
	lp, nfe, err := TokenLogProbs(context.Background(), den, c, []int{6, 9, 6}, 1, 1)
	require.NoError(t, err)
	z := math.Exp(3) + 15
	assert.InDeltaSlice(t, []float64{-math.Log(z), 3 - math.Log(z)}, lp, 1e-12)
	assert.Equal(t, 2, nfe, "batch 1: one pass per scored position")
	assert.Equal(t, []int64{6, 9, int64(c.MaskID)}, den.last.IDs, "only the scored position is masked")
	_, _, err = TokenLogProbs(context.Background(), den, c, []int{6}, 1, 0)
	assert.ErrorIs(t, err, ErrBadCanvas)
	bad := &tableDenoiser{vocab: 16, fill: func(ids, att []int64, pos int, out []float32) { out[3] = float32(math.NaN()) }}
	_, _, err = TokenLogProbs(context.Background(), bad, c, []int{6, 9}, 0, 0)
	assert.ErrorIs(t, err, ErrBadLogits)
}

func TestRepairRemasksTheLeastLikelyTokens(t *testing.T) {
	c := testContract(16)
	canvas := []int{9, 6, 6, 9, 6, 8, 6}
	res, err := Repair(context.Background(), likeDenoiser(t), c, canvas, RepairConfig{K: 1, Keep: 1, Rounds: 3})
	require.NoError(t, err)
	// Ties (positions 3 and 5 are equally unlikely) go to the lowest position; position 0 is kept.
	require.Len(t, res.Rounds, 3)
	assert.Equal(t, []int{3}, res.Rounds[0].Remasked)
	assert.Equal(t, []int{3}, res.Rounds[0].Changed)
	assert.Equal(t, []int{5}, res.Rounds[1].Remasked)
	assert.Equal(t, []int{9, 6, 6, 6, 6, 6, 6}, res.IDs)
	assert.Equal(t, 2, res.Changed)
	assert.Less(t, res.Rounds[0].MeanLogProb, res.FinalLogProb)
	assert.Empty(t, res.Rounds[2].Changed, "nothing left to fix: the round refills the same token")
	// A threshold picks every token under it at once.
	res, err = Repair(context.Background(), likeDenoiser(t), c, canvas, RepairConfig{Threshold: 0.5})
	require.NoError(t, err)
	assert.Equal(t, []int{0, 3, 5}, res.Rounds[0].Remasked)
	assert.Equal(t, []int{6, 6, 6, 6, 6, 6, 6}, res.IDs)
}

func TestRepairBadInput(t *testing.T) {
	c := testContract(16)
	den := likeDenoiser(t)
	for _, tc := range []struct {
		canvas []int
		cfg    RepairConfig
		want   string
	}{
		{[]int{}, RepairConfig{}, "canvas 0 is empty"},
		{[]int{6, c.MaskID}, RepairConfig{}, "mask id at position 1"},
		{[]int{6, 7}, RepairConfig{K: 1, Threshold: 0.5}, "both set"},
		{[]int{6, 7}, RepairConfig{Keep: 2}, "nothing to repair"},
		{[]int{6, 7}, RepairConfig{K: 3}, "more than the 2 editable"},
		{[]int{6, 7}, RepairConfig{Threshold: 2}, "probability"},
		{[]int{6, 7}, RepairConfig{Rounds: -1}, "rounds -1"},
	} {
		_, err := Repair(context.Background(), den, c, tc.canvas, tc.cfg)
		require.Error(t, err, tc.want)
		assert.Contains(t, err.Error(), tc.want)
	}
}
