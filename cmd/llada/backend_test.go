package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBackendFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown backend", []string{"generate", "--model", tinyDir, "--prompt", "w5", "--backend", "tpu"}, `--backend "tpu": want ort or gomlx`},
		{"ort device", []string{"generate", "--model", tinyDir, "--prompt", "w5", "--device", "metal"}, `--device "metal": with --backend ort, want cpu, cuda or cuda:N`},
		{"ort gpu index", []string{"info", "--model", tinyDir, "--device", "cuda:x"}, `--device "cuda:x": want cuda:N`},
		{"info unknown backend", []string{"info", "--model", tinyDir, "--backend", "tpu"}, `--backend "tpu"`},
		// --device cuda reaches ONNX Runtime's CUDA provider, which the installed CPU build lacks.
		{"ort cuda", []string{"generate", "--model", tinyDir, "--prompt", "w5", "--device", "cuda:0"}, "CUDA execution provider unavailable"},
		{"info ort cuda", []string{"info", "--model", tinyDir, "--device", "cuda"}, "CUDA execution provider unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errs, code := runCLI(t, "", tc.args...)
			require.Equal(t, 1, code)
			assert.Contains(t, errs, tc.want)
		})
	}
}

func TestInfoShowsBackendAndDevice(t *testing.T) {
	out, errs, code := runCLI(t, "", "info", "--model", tinyDir)
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, "backend onnxruntime, device cpu")
	out, errs, code = runCLI(t, "", "info", "--model", tinyDir, "--format", "json", "--backend", "ort")
	require.Equal(t, 0, code, errs)
	var got infoOutput
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	assert.Equal(t, "onnxruntime", got.Backend)
	assert.Equal(t, "cpu", got.Device)
	assert.NotEmpty(t, got.Library)
}

// TestStrayArgumentsFail: every subcommand takes flags only (parseFlags), so a positional argument, such as a
// flag written without its dashes, is an error before anything runs (info and genppl used to ignore it).
func TestStrayArgumentsFail(t *testing.T) {
	for _, args := range [][]string{
		{"info", "--model", tinyDir, "format", "json"},
		{"genppl", "--model", tinyDir, "extra"},
		{"generate", "--model", tinyDir, "--prompt", "w5", "extra"},
		{"bench", "--cases", "-", "extra"},
		{"install-onnxruntime", "now"},
		{"infill", "--model", tinyDir, "extra"},
	} {
		t.Run(args[0], func(t *testing.T) {
			_, errs, code := runCLI(t, "", args...)
			require.Equal(t, 1, code)
			assert.Contains(t, errs, "unexpected arguments")
		})
	}
}
