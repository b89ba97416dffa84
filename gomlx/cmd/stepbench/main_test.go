package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestStepbenchCPU runs the benchmark program on the tiny test model at toy sizes: every shape yields its
// compile/forward/confidence lines and each batch a generate line with the tokens it produced.
func TestStepbenchCPU(t *testing.T) {
	var out bytes.Buffer
	dir := filepath.Join("..", "..", "..", "testdata", "tiny")
	err := run(t.Context(), []string{"--model", dir, "--lengths", "8,12", "--batches", "1,2", "--reps", "2",
		"--gen", "8", "--steps", "4", "--prompt", "4"}, &out)
	require.NoError(t, err)
	count := map[string]int{}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var r record
		require.NoError(t, json.Unmarshal(sc.Bytes(), &r), sc.Text())
		count[r.What]++
		require.Equal(t, "cpu", r.Device)
		require.Greater(t, r.MS, 0.0, sc.Text())
		if r.What == "generate" {
			require.Equal(t, 4, r.Steps)
			require.Equal(t, 8*r.Batch, r.Tokens)
			require.Equal(t, 12, r.Seq)
			require.Greater(t, r.TokPerS, 0.0)
		}
	}
	require.Equal(t, map[string]int{"open": 1, "compile": 4, "forward": 4, "confidence": 4, "generate": 2}, count)
}

func TestStepbenchBadFlags(t *testing.T) {
	var out bytes.Buffer
	require.ErrorContains(t, run(t.Context(), nil, &out), "--model is required")
	require.ErrorContains(t, run(t.Context(), []string{"--model", "x", "--lengths", "0"}, &out), "--lengths")
	require.ErrorContains(t, run(t.Context(), []string{"--model", "x", "--reps", "0"}, &out), "--reps")
}
