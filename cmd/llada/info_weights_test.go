package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadWeights(t *testing.T) {
	for _, tc := range []struct {
		name string
		meta map[string]string
		want string
	}{
		{"no key is float32", map[string]string{}, "fp32"},
		{"explicit fp32", map[string]string{weightsKey: "fp32"}, "fp32"},
		{"int4", map[string]string{weightsKey: "int4", weightsBlockKey: "32", weightsAccuracyK: "4"},
			"int4 (MatMulNBits, block 32, accuracy_level 4)"},
		{"unknown", map[string]string{weightsKey: "nf4"}, "nf4 (unknown format: this build knows fp32, int8 and int4)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, readWeights(tc.meta).String())
		})
	}
}

// TestInfoQuantizedModel opens the int4 toy of testdata/quant (export/quantize.py) in ONNX Runtime and checks
// that `llada info` reports its weight format, in text and JSON; an older model reports fp32.
func TestInfoQuantizedModel(t *testing.T) {
	dir := t.TempDir()
	raw, err := os.ReadFile(filepath.Join("..", "..", "testdata", "quant", "int4.onnx"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "model.onnx"), raw, 0o644))

	out, errs, code := runCLI(t, "", "info", "--model", dir)
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, "weights int4 (MatMulNBits, block 32, accuracy_level 0)\n")

	out, errs, code = runCLI(t, "", "info", "--model", dir, "--format", "json")
	require.Equal(t, 0, code, errs)
	var got infoOutput
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	assert.Equal(t, weightsInfo{Format: "int4", BlockSize: "32", AccuracyLevel: "0"}, got.Weights)

	out, errs, code = runCLI(t, "", "info", "--model", tinyDir)
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, "weights fp32\n")
}
