package eval

import (
	"context"
	"math"
	"sort"
	"testing"

	"github.com/llada-go/llada"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStratifiedCountsMatchReference(t *testing.T) {
	// torch.round(torch.linspace(5, 5 + 15*24/16, 16)) = 5, 6(6.5), 8, 10(9.5), 11, 12(12.5), 14, 16(15.5), 17, 18(18.5),
	// 20, 22(21.5), 23, 24(24.5), 26, 28(27.5); then ((x-1) % 24) + 1.
	assert.Equal(t, []int{5, 6, 8, 10, 11, 12, 14, 16, 17, 18, 20, 22, 23, 24, 2, 4}, stratifiedCounts(5, 24, 16))
	// batch = L: every count exactly once.
	c := stratifiedCounts(7, 10, 10)
	sort.Ints(c)
	assert.Equal(t, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, c)
	assert.Equal(t, []int{3}, stratifiedCounts(3, 5, 1))
}

func TestDrawMasksPlacesCountsUniformly(t *testing.T) {
	rng := newRand(1)
	hits := make([]int, 8)
	for it := 0; it < 2000; it++ {
		masks, counts := drawMasks(rng, 8, 4)
		for b, m := range masks {
			n := 0
			for j, x := range m {
				if x {
					n++
					hits[j]++
				}
			}
			require.Equal(t, counts[b], n)
			require.True(t, n >= 1 && n <= 8)
		}
	}
	// Mean count is (L+1)/2 = 4.5 of 8 positions: every position is masked 2000*4*4.5/8 = 4500 times on average.
	for j, h := range hits {
		assert.InDelta(t, 4500, h, 300, "position %d", j)
	}
}

func TestLikelihoodBoundExactCases(t *testing.T) {
	const V = 16
	c := testContract(V, 0)
	uniform := &funcDenoiser{vocab: V, fill: func(_ []int64, _ int, out []float32) {
		for i := range out {
			out[i] = 0.25
		}
	}}
	items := []LikelihoodItem{{Target: []int{3, 4, 5, 6, 7, 8}}, {Prompt: []int{9, 9}, Target: []int{3, 4, 5}}, {Target: []int{5, 5, 5, 5, 5, 5}}}
	b, err := LikelihoodBound(context.Background(), uniform, c, items, MCConfig{Samples: 32, Batch: 8, Seed: 3})
	require.NoError(t, err)
	// With uniform predictions each copy scores L/l * l * log V = L log V whatever the masks.
	assert.InDelta(t, 15*math.Log(V), b.NLL, 1e-9)
	assert.InDelta(t, math.Log(V), b.PerToken(), 1e-12)
	assert.InDelta(t, 0, b.SE, 1e-9)
	assert.Equal(t, 15, b.Tokens)
	assert.Equal(t, 3*32, b.Copies)
	assert.InDelta(t, V, b.Perplexity(), 1e-9)

	// A model that is right with probability q on unmasked context but guesses uniformly when a neighbour is
	// masked: the bound now depends on the masks, so the draws differ and the standard error is positive.
	q := 0.9
	ctxAware := &funcDenoiser{vocab: V, fill: func(row []int64, p int, out []float32) {
		left := p > 0 && row[p-1] == 0
		for i := range out {
			out[i] = 0
		}
		if left {
			return
		}
		// logits: log(q*(V-1)/(1-q)) on token 5, 0 elsewhere => p(5) = q.
		out[5] = float32(math.Log(q * (V - 1) / (1 - q)))
	}}
	b2, err := LikelihoodBound(context.Background(), ctxAware, c, items[2:], MCConfig{Samples: 64, Batch: 8, Seed: 3})
	require.NoError(t, err)
	assert.Greater(t, b2.SE, 0.0)
	assert.Greater(t, b2.PerToken(), -math.Log(q)-1e-9, "guessing after a mask can only cost")
	assert.Less(t, b2.PerToken(), math.Log(V))
	again, err := LikelihoodBound(context.Background(), ctxAware, c, items[2:], MCConfig{Samples: 64, Batch: 8, Seed: 3})
	require.NoError(t, err)
	assert.Equal(t, b2.NLL, again.NLL, "same seed, same estimate")
	// Packing several items per forward pass must not change anything: items draw from their own streams.
	packed, err := LikelihoodBound(context.Background(), ctxAware, c, []LikelihoodItem{items[2], items[2]}, MCConfig{Samples: 64, Batch: 8, Seed: 3, MaxRows: 64})
	require.NoError(t, err)
	single, err := LikelihoodBound(context.Background(), ctxAware, c, []LikelihoodItem{items[2], items[2]}, MCConfig{Samples: 64, Batch: 8, Seed: 3, MaxRows: 8})
	require.NoError(t, err)
	assert.InDelta(t, single.NLL, packed.NLL, 1e-9)
	assert.Less(t, packed.Forwards, single.Forwards)

	one, err := LikelihoodBound(context.Background(), uniform, c, items[:1], MCConfig{Samples: 8, Batch: 8})
	require.NoError(t, err)
	assert.True(t, math.IsNaN(one.SE), "one draw has no standard error")
}

func TestLikelihoodBoundRejectsBadLogits(t *testing.T) {
	c := testContract(8, 0)
	nan := &funcDenoiser{vocab: 8, fill: func(_ []int64, p int, out []float32) {
		for i := range out {
			out[i] = 0
		}
		if p == 2 {
			out[3] = float32(math.NaN())
		}
	}}
	// Every position is masked in some copy of a 16-copy draw over 4 tokens.
	_, err := LikelihoodBound(context.Background(), nan, c, []LikelihoodItem{{Target: []int{3, 4, 5, 6}}}, MCConfig{Samples: 16, Batch: 16})
	require.ErrorIs(t, err, llada.ErrBadLogits)
	assert.Contains(t, err.Error(), "position 2")
}

func TestLikelihoodBoundBadInput(t *testing.T) {
	c := testContract(16, 0)
	den := &funcDenoiser{vocab: 16, fill: func(_ []int64, _ int, out []float32) {}}
	for _, tc := range []struct {
		name  string
		items []LikelihoodItem
		cfg   MCConfig
		want  error
	}{
		{"no items", nil, MCConfig{}, ErrEmptyDataset},
		{"empty target", []LikelihoodItem{{Prompt: []int{3}}}, MCConfig{}, ErrEmptyDataset},
		{"mask in target", []LikelihoodItem{{Target: []int{3, 0}}}, MCConfig{}, ErrBadConfig},
		{"id outside vocab", []LikelihoodItem{{Target: []int{3, 16}}}, MCConfig{}, ErrBadConfig},
		{"samples not a multiple", []LikelihoodItem{{Target: []int{3}}}, MCConfig{Samples: 10, Batch: 4}, ErrBadConfig},
		{"too long", []LikelihoodItem{{Target: make([]int, 513)}}, MCConfig{}, ErrBadConfig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LikelihoodBound(context.Background(), den, c, tc.items, tc.cfg)
			require.ErrorIs(t, err, tc.want)
		})
	}
}
