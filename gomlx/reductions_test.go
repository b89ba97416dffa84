package gomlx

import (
	"context"
	"fmt"
	"testing"

	"github.com/llada-go/llada"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// logitsOnly hides the reductions capability: the same Denoiser then runs the step loop on its logits.
type logitsOnly struct{ llada.Denoiser }

// countingReducer counts the passes of each kind the step loop asks for.
type countingReducer struct {
	*Denoiser
	forwards, reductions int
}

func (c *countingReducer) Forward(ctx context.Context, in llada.Batch, logits []float32) error {
	c.forwards++
	return c.Denoiser.Forward(ctx, in, logits)
}

func (c *countingReducer) ForwardReductions(ctx context.Context, in llada.Batch, start, n int, out *llada.Reductions) error {
	c.reductions++
	return c.Denoiser.ForwardReductions(ctx, in, start, n, out)
}

// TestReductionsGenerationMatchesLogits: greedy generations on the GoMLX CPU backend are identical whether
// the step loop reads the in-graph confidence pass or the logits, on the tiny and the shipped model, for a
// probability, a threshold, a margin and an entropy sampler; the reductions path never asks for logits.
func TestReductionsGenerationMatchesLogits(t *testing.T) {
	for _, name := range []string{"tiny", "brown"} {
		d := gomlxModel(t, name)
		c, err := d.Contract()
		require.NoError(t, err)
		ex, ok := d.Reductions()
		require.True(t, ok)
		require.Equal(t, c.MaskID, ex)
		prompts := [][]int{{5, 6, 7}, {9, 10}}
		gen, block := 8, 4
		presets := []string{"llada-low-confidence", "fast-dllm-threshold", "dream-topk-margin", "dream-entropy"}
		if name == "brown" {
			presets = []string{"llada-low-confidence", "dream-entropy"} // the shipped model is slow on CPU GoMLX: two suffice in CI
		}
		for _, smp := range presets {
			t.Run(fmt.Sprintf("%s/%s", name, smp), func(t *testing.T) {
				cfg := llada.GenerateConfig{GenLength: gen, Steps: gen, BlockLength: block, Sampler: llada.SamplerByName(smp)}
				var want, got []llada.Step
				for st, err := range llada.Stream(t.Context(), logitsOnly{d}, c, prompts, cfg) {
					require.NoError(t, err)
					st.Canvas = append([]int(nil), st.Canvas...)
					want = append(want, st)
				}
				cr := &countingReducer{Denoiser: d}
				for st, err := range llada.Stream(t.Context(), cr, c, prompts, cfg) {
					require.NoError(t, err)
					st.Canvas = append([]int(nil), st.Canvas...)
					got = append(got, st)
				}
				require.Len(t, got, len(want))
				for i := range want {
					require.Equal(t, want[i].Canvas, got[i].Canvas, "step %d", i)
				}
				assert.Zero(t, cr.forwards, "the reductions path asks for no logits")
				assert.Equal(t, got[len(got)-1].NFE, cr.reductions)
			})
		}
	}
}

func TestForwardReductionsErrors(t *testing.T) {
	d := gomlxModel(t, "tiny")
	b := llada.Batch{Rows: 1, Seq: 2, IDs: []int64{1, 2}}
	out := &llada.Reductions{Token: make([]int64, 2), Prob: make([]float32, 2), Margin: make([]float32, 2), Entropy: make([]float32, 2)}
	require.ErrorContains(t, d.ForwardReductions(t.Context(), b, 1, 1, out), "whole canvases")
	require.ErrorContains(t, d.ForwardReductions(t.Context(), b, 0, 2, &llada.Reductions{}), "rows*seq=2")
	require.NoError(t, d.ForwardReductions(t.Context(), b, 0, 2, out))
}
