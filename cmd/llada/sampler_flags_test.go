package main

import (
	"flag"
	"io"
	"testing"

	"github.com/llada-go/llada"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// parseSampler parses args with the sampler flags plus a --remasking flag like generate's, then applies them.
func parseSampler(t *testing.T, args ...string) (llada.GenerateConfig, error) {
	t.Helper()
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	remasking := fs.String("remasking", string(llada.RemaskLowConfidence), "")
	apply := addSamplerFlags(fs)
	if err := fs.Parse(args); err != nil {
		return llada.GenerateConfig{}, err
	}
	cfg := llada.GenerateConfig{Remasking: llada.Remasking(*remasking)}
	if err := apply(&cfg); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

func TestSamplerFlags(t *testing.T) {
	cfg, err := parseSampler(t)
	require.NoError(t, err)
	assert.Equal(t, llada.Sampler{}, cfg.Sampler, "no sampler flag leaves the config alone")
	assert.Equal(t, llada.RemaskLowConfidence, cfg.Remasking)

	cfg, err = parseSampler(t, "--sampler", "fast-dllm-threshold", "--threshold", "0.8")
	require.NoError(t, err)
	assert.Equal(t, "fast-dllm-threshold", cfg.Sampler.Name)
	assert.Equal(t, 0.8, cfg.Sampler.Threshold)
	assert.Empty(t, cfg.Remasking, "the sampler replaces --remasking's default")

	cfg, err = parseSampler(t, "--sampler", "dream-entropy", "--top-p", "0.95", "--top-k", "20", "--alg-temp", "0.1", "--eps", "0.01", "--stop-at-eos")
	require.NoError(t, err)
	s := cfg.Sampler
	assert.Equal(t, []any{0.95, 20, 0.1, 0.01, true}, []any{s.TopP, s.TopK, s.AlgTemp, s.Eps, s.StopAtEOS})

	cfg, err = parseSampler(t, "--sampler", "remdm-loop", "--eta", "0.05", "--t-on", "0.6", "--t-off", "0.1", "--alpha-on", "0.8", "--schedule", "linear", "--grid", "cosine")
	require.NoError(t, err)
	assert.Equal(t, []float64{0.05, 0.6, 0.1, 0.8}, []float64{cfg.Sampler.Eta, cfg.Sampler.TOn, cfg.Sampler.TOff, cfg.Sampler.AlphaOn})

	cfg, err = parseSampler(t, "--sampler", "llada2", "--edit-threshold", "0.9", "--max-post-steps", "4", "--quota", "1")
	require.NoError(t, err)
	assert.Equal(t, 0.9, cfg.Sampler.EditThreshold)

	cfg, err = parseSampler(t, "--sampler", "fast-dllm-factor", "--factor", "2", "--factor-off-by-one")
	require.NoError(t, err)
	assert.True(t, cfg.Sampler.FactorOffByOne)

	cfg, err = parseSampler(t, "--sampler", "eb", "--gamma", "0.5", "--logits-shift", "off")
	require.NoError(t, err)
	assert.Equal(t, llada.ShiftOff, cfg.Sampler.LogitsShift)

	// An explicit 0 means 0, not the preset's value.
	cfg, err = parseSampler(t, "--sampler", "remdm-cap", "--eta", "0")
	require.NoError(t, err)
	assert.Equal(t, 0.0, cfg.Sampler.Eta)
	assert.Equal(t, llada.KnobEta, cfg.Sampler.Zero)
	cfg, err = parseSampler(t, "--sampler", "eb", "--gamma", "0")
	require.NoError(t, err)
	assert.Equal(t, llada.KnobGamma, cfg.Sampler.Zero)
	cfg, err = parseSampler(t, "--sampler", "eb", "--gamma", "0.3")
	require.NoError(t, err)
	assert.Zero(t, cfg.Sampler.Zero)

	// Knobs without --sampler apply to the LLaDA preset --remasking picks.
	cfg, err = parseSampler(t, "--remasking", "random", "--stop-at-eos")
	require.NoError(t, err)
	assert.Equal(t, "llada-random", cfg.Sampler.Name)
	assert.True(t, cfg.Sampler.StopAtEOS)
}

func TestSamplerFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--sampler", "sideways"}, `unknown sampler "sideways"`},
		{[]string{"--sampler", "fast-dllm-threshold", "--threshold", "1.5"}, "threshold (tau) 1.5"},
		{[]string{"--sampler", "fast-dllm-threshold", "--threshold", "0"}, "threshold (tau) 0 must be in (0,1]"},
		{[]string{"--sampler", "remdm-loop", "--t-off", "0"}, "0 < t_off (0)"},
		{[]string{"--sampler", "dream-entropy", "--top-p", "2"}, "top_p 2"},
		{[]string{"--sampler", "fast-dllm-threshold", "--gamma", "0.5"}, "--gamma does not apply to sampler fast-dllm-threshold"},
		{[]string{"--sampler", "llada-low-confidence", "--top-p", "0.9"}, "--top-p does not apply"},
		{[]string{"--sampler", "mdlm", "--remasking", "random"}, "both choose the sampler"},
		{[]string{"--sampler", "mdlm", "--logits-shift", "maybe"}, "logits shift"},
		{[]string{"--sampler", "mdlm", "--schedule", "sigmoid"}, "sigmoid"},
		{[]string{"--sampler", "dream-entropy", "--grid", "cosine"}, "--grid does not apply"},
		{[]string{"--threshold", "0.5"}, "--threshold does not apply to sampler llada-low-confidence"},
	} {
		_, err := parseSampler(t, tc.args...)
		require.Error(t, err, "%v", tc.args)
		assert.Contains(t, err.Error(), tc.want, "%v", tc.args)
	}
}
