package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const continuousTinyDir = "../../testdata/continuous-tiny"

func TestGenerateContinuousSamplers(t *testing.T) {
	for _, tc := range []struct {
		args []string
		nfe  int
	}{
		{[]string{"--sampler", "heun"}, 5},
		{[]string{"--sampler", "ddim", "--eta", "0.5"}, 3},
		{[]string{"--sampler", "euler", "--x0", "clamp", "--no-self-cond", "--noise-schedule", "edm"}, 3},
		{[]string{"--noise-schedule", "cosine"}, 3}, // the family's default sampler
		{nil, 3},
	} {
		args := append([]string{"generate", "--model", continuousTinyDir, "--prompt", "w5 w6", "--gen-length", "4",
			"--steps", "3", "--format", "json"}, tc.args...)
		out, errs, code := runCLI(t, "", args...)
		require.Equal(t, 0, code, "%v: %s", tc.args, errs)
		var got generateOutput
		require.NoError(t, json.Unmarshal([]byte(out), &got))
		assert.Equal(t, []int{5, 6}, got.IDs[:2])
		assert.Len(t, got.IDs, 6)
		assert.Equal(t, tc.nfe, got.NFE, "%v", tc.args)
		assert.Equal(t, 3, got.Steps)
	}
}

func TestGenerateContinuousWrongSampler(t *testing.T) {
	_, errs, code := runCLI(t, "", "generate", "--model", continuousTinyDir, "--prompt", "w5", "--gen-length", "4",
		"--sampler", "fast-dllm-threshold")
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errs, "this continuous model supports ddim, ddpm, dpm-solver++, euler, heun")

	_, errs, code = runCLI(t, "", "generate", "--model", tinyDir, "--prompt", "w5", "--gen-length", "4", "--sampler", "ddim")
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errs, "continuous-diffusion sampler; this masked model supports")

	_, errs, code = runCLI(t, "", "generate", "--model", continuousTinyDir, "--prompt", "w5", "--gen-length", "4",
		"--sampler", "euler", "--eta", "0.3")
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errs, "--eta does not apply to sampler euler")

	_, errs, code = runCLI(t, "", "generate", "--model", tinyDir, "--prompt", "w5", "--gen-length", "4",
		"--sampler", "mdlm", "--x0", "clamp")
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errs, "apply to the continuous samplers")
}

func TestInfoContinuousModel(t *testing.T) {
	out, errs, code := runCLI(t, "", "info", "--model", continuousTinyDir)
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, "family continuous")
	assert.Contains(t, out, "input  x_t float32 [?,?,8]")
	assert.Contains(t, out, "llada.continuous.schedule = \"tabulated\"")
}
