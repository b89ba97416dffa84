package llada

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// causalDouble predicts, at every position, the token after the one there (mod 16, skipping 0..3), with the
// mask id 0 as its favourite wherever the current token is 9, so a drafter that proposed it would show.
func causalDouble() *tableDenoiser {
	return &tableDenoiser{vocab: 16, fill: func(ids, att []int64, pos int, out []float32) {
		for v := range out {
			out[v] = 0
		}
		next := 4 + (ids[pos]-4+1)%12
		out[next] = 5
		if ids[pos] == 9 {
			out[0] = 8
		}
	}}
}

func TestDraftGreedyAndSeeded(t *testing.T) {
	d, err := NewDrafter(causalDouble(), DrafterSpec{MaxSeqLen: 10, NeverID: 0, EOSID: 1})
	require.NoError(t, err)
	got, err := d.Draft(context.Background(), []int{7}, DraftConfig{Tokens: 5})
	require.NoError(t, err)
	assert.Equal(t, []int{7, 8, 9, 10, 11, 12}, got, "the mask id is never drafted")
	a, err := d.Draft(context.Background(), []int{7}, DraftConfig{Tokens: 5, Temperature: 3, Seed: 9})
	require.NoError(t, err)
	b, err := d.Draft(context.Background(), []int{7}, DraftConfig{Tokens: 5, Temperature: 3, Seed: 9})
	require.NoError(t, err)
	assert.Equal(t, a, b, "equal seeds, equal drafts")
	assert.NotContains(t, a[1:], 0)
	_, err = d.Draft(context.Background(), []int{7}, DraftConfig{Tokens: 10})
	assert.ErrorContains(t, err, "exceed the drafter's max_seq_len 10")
	_, err = d.Draft(context.Background(), nil, DraftConfig{})
	assert.ErrorIs(t, err, ErrBadCanvas)
	_, err = d.Draft(context.Background(), []int{99}, DraftConfig{Tokens: 1})
	assert.ErrorContains(t, err, "id 99 outside the drafter's vocabulary")
}

func TestDraftStopsAtEOS(t *testing.T) {
	d, err := NewDrafter(causalDouble(), DrafterSpec{NeverID: 0, EOSID: 9})
	require.NoError(t, err)
	got, err := d.Draft(context.Background(), []int{7}, DraftConfig{Tokens: 5, StopAtEOS: true})
	require.NoError(t, err)
	assert.Equal(t, []int{7, 8, 9}, got)
}

func TestRefineNeedsAnAutoregressiveDrafter(t *testing.T) {
	_, err := OpenDrafter(filepath.Join(t.TempDir(), "judge.onnx"))
	require.ErrorIs(t, err, ErrNoDrafter)
	assert.ErrorContains(t, err, "models/judge/model.onnx")
	_, err = OpenDrafter(filepath.Join(tinyModelDir(t), ModelFile))
	require.ErrorIs(t, err, ErrNoDrafter)
	assert.ErrorContains(t, err, `llada.family is "masked"`)

	m := openTiny(t)
	defer m.Close()
	_, err = m.Refine(context.Background(), nil, []int{5}, RefineConfig{})
	require.ErrorIs(t, err, ErrNoDrafter)
	d, err := NewDrafter(causalDouble(), DrafterSpec{NeverID: 0, EOSID: -1})
	require.NoError(t, err)
	_, err = m.Refine(context.Background(), d, []int{5}, RefineConfig{})
	assert.ErrorContains(t, err, "the drafter has 16 tokens but the model 50")
}

func TestRefineRepairsOnlyTheContinuation(t *testing.T) {
	m := openTiny(t)
	defer m.Close()
	d, err := NewDrafter(&tableDenoiser{vocab: 50, fill: func(ids, att []int64, pos int, out []float32) {
		for v := range out {
			out[v] = 0
		}
		out[5+int(ids[pos])%40] = 4
	}}, DrafterSpec{NeverID: 49, EOSID: -1})
	require.NoError(t, err)
	res, err := m.Refine(context.Background(), d, []int{5, 6}, RefineConfig{Draft: DraftConfig{Tokens: 6}, Repair: RepairConfig{K: 2, Rounds: 2}})
	require.NoError(t, err)
	require.Len(t, res.Draft, 8)
	assert.Equal(t, []int{5, 6}, res.Repair.IDs[:2], "the prompt is kept")
	for _, r := range res.Repair.Rounds {
		for _, p := range r.Remasked {
			assert.GreaterOrEqual(t, p, 2)
		}
	}
	changed := 0
	for p := range res.Draft {
		if res.Draft[p] != res.Repair.IDs[p] {
			changed++
		}
	}
	assert.Equal(t, res.Repair.Changed, changed)
	assert.InDelta(t, float64(changed)/6, res.ChangedShare, 1e-12)
}
