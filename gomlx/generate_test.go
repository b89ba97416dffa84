package gomlx

import (
	"path/filepath"
	"testing"

	"github.com/llada-go/llada"
	"github.com/stretchr/testify/require"
)

// TestGreedyGenerationMatchesONNXRuntime decodes the brown model greedily with several samplers on both
// backends and requires the same tokens. Greedy decoding only differs where two candidates' scores are
// within the logits' float32 noise (TestLogitsMatchONNXRuntime bounds it by 1e-4); on these prompts and
// settings no decision is that close, so the outputs must be identical.
func TestGreedyGenerationMatchesONNXRuntime(t *testing.T) {
	dir := filepath.Join("..", "models", "brown")
	gm, d, err := OpenModel(dir)
	require.NoError(t, err)
	defer d.Close()
	om, err := llada.Open(dir, llada.WithIntraOpThreads(1))
	require.NoError(t, err)
	defer om.Close()
	require.Equal(t, om.Contract(), gm.Contract())

	prompts := []string{"The jury said", "It was a long day in the city, and"}
	for _, smp := range []string{"llada-low-confidence", "fast-dllm-threshold", "dream-topk-margin", "dream-entropy"} {
		t.Run(smp, func(t *testing.T) {
			cfg := llada.GenerateConfig{GenLength: 16, Steps: 8, BlockLength: 8, Sampler: llada.SamplerByName(smp)}
			want, err := om.GenerateBatch(t.Context(), prompts, cfg)
			require.NoError(t, err)
			got, err := gm.GenerateBatch(t.Context(), prompts, cfg)
			require.NoError(t, err)
			require.Len(t, got.Sequences, len(prompts))
			for i := range prompts {
				require.Equal(t, want.Sequences[i].IDs, got.Sequences[i].IDs, "prompt %q", prompts[i])
				require.NotEmpty(t, got.Sequences[i].Text)
			}
		})
	}
}

func TestOpenModelErrors(t *testing.T) {
	_, _, err := OpenModel(filepath.Join("testdata", "missing"))
	require.ErrorContains(t, err, "open model directory")
	// testdata holds sigmoid.onnx, not model.onnx + tokenizer.json.
	_, _, err = OpenModel("testdata")
	require.ErrorContains(t, err, "model.onnx")
}
