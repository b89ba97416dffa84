//go:build gomlx

package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// With -tags gomlx, --backend gomlx decodes the same tokens as ONNX Runtime (greedy; see the gomlx package's
// parity tests for the tolerance this rests on), on a model directory and on the embedded default model.
func TestGenerateGoMLXMatchesORT(t *testing.T) {
	for _, model := range [][]string{{"--model", tinyDir}, nil} {
		args := append([]string{"generate", "--prompt-ids", "5,6,7", "--gen-length", "8", "--steps", "4", "--format", "json"}, model...)
		ort, errs, code := runCLI(t, "", args...)
		require.Equal(t, 0, code, errs)
		gx, errs, code := runCLI(t, "", append(args, "--backend", "gomlx")...)
		require.Equal(t, 0, code, errs)
		var a, b generateOutput
		require.NoError(t, json.Unmarshal([]byte(ort), &a))
		require.NoError(t, json.Unmarshal([]byte(gx), &b))
		require.Len(t, b.IDs, 11)
		assert.Equal(t, a.IDs, b.IDs)
		assert.Equal(t, a.Text, b.Text)
	}
}

func TestInfoGoMLX(t *testing.T) {
	out, errs, code := runCLI(t, "", "info", "--model", tinyDir, "--backend", "gomlx")
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, "family masked, contract v1, vocab 50")
	assert.Contains(t, out, "input  input_ids int64 [?,?]")
	assert.Contains(t, out, "output logits float32 [?,?,50]")
	assert.Contains(t, out, "backend gomlx (SimpleGo (go)")
	assert.Contains(t, out, "device cpu")
	assert.NotContains(t, out, "onnxruntime /", "no ONNX Runtime library is involved")

	_, errs, code = runCLI(t, "", "info", "--model", tinyDir, "--backend", "gomlx", "--device", "cuda")
	require.Equal(t, 1, code)
	assert.Contains(t, errs, "LLADA_PJRT_PLUGIN")
}
