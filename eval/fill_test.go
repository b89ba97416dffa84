package eval

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func maskAt(s []int, pos ...int) []int {
	cv := append([]int(nil), s...)
	for _, p := range pos {
		cv[p] = arithMask
	}
	return cv
}

func TestFillRecoversMasksAnywhere(t *testing.T) {
	c := testContract(arithVocab, arithMask)
	truth := [][]int{arithSeq(0, 12), arithSeq(7, 12), arithSeq(4, 12), arithSeq(11, 9), arithSeq(2, 12)}
	canvases := [][]int{
		maskAt(truth[0], 0, 1, 2),       // prefix
		maskAt(truth[1], 3, 7, 11),      // scattered, same length and count as the first: one batch
		maskAt(truth[2], 5, 6),          // middle span
		maskAt(truth[3], 8),             // suffix of a shorter sequence
		append([]int(nil), truth[4]...), // nothing to fill
	}
	for _, tc := range []struct {
		name  string
		shift bool
	}{{"plain", false}, {"logits shift", true}} {
		t.Run(tc.name, func(t *testing.T) {
			c := c
			c.LogitsShift = tc.shift
			if tc.shift {
				canvases[0] = maskAt(truth[0], 1, 2, 3) // a shifted model cannot predict position 0
			}
			for _, k := range []int{1, 2, 3} {
				den := arithDenoiser(tc.shift)
				res, err := Fill(context.Background(), den, c, canvases, Decoding{Sampler: "llada-low-confidence", TokensPerStep: k}, 2, 1)
				require.NoError(t, err)
				for i := range truth {
					assert.Equal(t, truth[i], res.Filled[i], "k=%d canvas %d", k, i)
				}
				// 3 masks at k tokens per step: ceil(3/k) passes; 2 masks: ceil(2/k); 1 mask: 1.
				want := []int{(3 + k - 1) / k, (3 + k - 1) / k, (2 + k - 1) / k, 1, 0}
				assert.Equal(t, want, res.NFE, "k=%d", k)
				assert.Equal(t, want[0]+want[2]+want[3], res.Forwards, "the first two canvases share a batch")
				assert.Equal(t, res.Forwards, den.calls)
			}
		})
	}
	assert.Equal(t, arithMask, canvases[1][3], "Fill leaves its input alone")
}

func TestFillBatchesByShapeAndSize(t *testing.T) {
	c := testContract(arithVocab, arithMask)
	var canvases [][]int
	for a := 0; a < 7; a++ {
		canvases = append(canvases, maskAt(arithSeq(a, 10), 2, 5))
	}
	den := arithDenoiser(false)
	res, err := Fill(context.Background(), den, c, canvases, Decoding{Sampler: "llada-random"}, 3, 9)
	require.NoError(t, err)
	assert.Equal(t, 3*2, den.calls, "7 rows in batches of 3 = 3 generations of 2 steps")
	for a, f := range res.Filled {
		assert.Equal(t, arithSeq(a, 10), f)
	}
	assert.InDelta(t, 2.0, res.MeanNFE(), 1e-12)
}

func TestFillBadInput(t *testing.T) {
	c := testContract(arithVocab, arithMask)
	den := arithDenoiser(false)
	ok := maskAt(arithSeq(0, 6), 1)
	for _, tc := range []struct {
		name     string
		canvases [][]int
		dec      Decoding
		want     error
		msg      string
	}{
		{"no canvases", nil, Decoding{Sampler: "llada-random"}, ErrEmptyDataset, "no canvases"},
		{"empty canvas", [][]int{ok, {}}, Decoding{Sampler: "llada-random"}, ErrEmptyDataset, "canvas 1 is empty"},
		{"id outside vocab", [][]int{{3, 99, arithMask}}, Decoding{Sampler: "llada-random"}, ErrBadConfig, "id 99 outside"},
		{"unknown sampler", [][]int{ok}, Decoding{Sampler: "nope"}, ErrUnknownSampler, `"nope"`},
		{"negative budget", [][]int{ok}, Decoding{Sampler: "llada-random", TokensPerStep: -1}, ErrBadConfig, "tokens per step"},
		{"too long", [][]int{make([]int, 600)}, Decoding{Sampler: "llada-random"}, ErrBadConfig, "max_seq_len"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Fill(context.Background(), den, c, tc.canvases, tc.dec, 4, 0)
			require.ErrorIs(t, err, tc.want)
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
}

func TestDecodingConfig(t *testing.T) {
	for _, tc := range []struct {
		dec            Decoding
		masked         int
		steps, blockLn int
	}{
		{Decoding{Sampler: "llada-random"}, 10, 10, 0},
		{Decoding{Sampler: "llada-random", TokensPerStep: 4}, 10, 3, 0},
		{Decoding{Sampler: "llada-random", TokensPerStep: 4, BlockLength: 5}, 10, 4, 5}, // 3 steps rounded up to 2 blocks
		{Decoding{Sampler: "llada-random", TokensPerStep: 100}, 10, 1, 0},
	} {
		cfg, err := tc.dec.config(tc.masked, 0)
		require.NoError(t, err)
		assert.Equal(t, tc.steps, cfg.Steps, "%+v", tc.dec)
		assert.Equal(t, tc.blockLn, cfg.BlockLength)
		assert.Equal(t, tc.masked, cfg.GenLength)
	}
	_, err := Decoding{Sampler: "llada-random", BlockLength: 3}.config(10, 0)
	require.ErrorIs(t, err, ErrBadConfig)
	assert.Equal(t, "llada-random k=1", Decoding{Sampler: "llada-random"}.Label())
}

func TestDecodingsSweepAdaptiveSamplers(t *testing.T) {
	decs, err := decodings([]string{"llada-random", "fast-dllm-threshold", "fast-dllm-factor", "eb", "first-hitting", "llada2-edit"}, []int{1, 2, 4}, 0.5)
	require.NoError(t, err)
	var labels []string
	for _, d := range decs {
		labels = append(labels, d.Label())
		assert.Equal(t, 0.5, d.Temperature)
	}
	assert.Equal(t, []string{"llada-random k=1", "llada-random k=2", "llada-random k=4",
		"fast-dllm-threshold τ=0.9", "fast-dllm-threshold τ=0.5", "fast-dllm-threshold τ=0.2",
		"fast-dllm-factor f=1", "fast-dllm-factor f=2", "fast-dllm-factor f=4",
		"eb γ=0.1", "eb γ=4", "eb γ=16",
		"first-hitting auto",
		"llada2-edit τ=0.95", "llada2-edit τ=0.5", "llada2-edit τ=0.2"}, labels)
	cfg, err := decs[4].config(10, 0)
	require.NoError(t, err)
	assert.Equal(t, 0.5, cfg.Sampler.Threshold, "the knob reaches the engine")
	_, err = Decoding{Sampler: "first-hitting", Knob: 2}.config(10, 0)
	require.ErrorIs(t, err, ErrBadConfig)
	_, err = decodings([]string{"nope"}, []int{1}, 0)
	require.ErrorIs(t, err, ErrUnknownSampler)
	assert.Subset(t, SamplerNames(), PresetNames())
	assert.Contains(t, SamplerNames(), "llada-margin")
}
