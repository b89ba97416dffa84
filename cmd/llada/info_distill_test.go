package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/llada-go/llada"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const distillFixtures = "../../testdata/distill"

// TestInfoDistilled opens the distilled-student fixtures of testdata/distill (make.py: tiny models carrying the
// llada.distill.* keys) and checks that `llada info` shows the provenance and the recommended sampler and steps,
// in text and JSON; a model without the keys shows none, and malformed keys are warnings, not errors.
func TestInfoDistilled(t *testing.T) {
	// The teacher key holds the first 16 hex digits of the SHA-256 of the file the fixture was made from.
	sha16 := func(path string) string {
		raw, err := os.ReadFile(path)
		require.NoError(t, err)
		sum := sha256.Sum256(raw)
		return hex.EncodeToString(sum[:])[:16]
	}
	tinySHA := sha16(filepath.Join(tinyDir, "model.onnx"))
	contSHA := sha16(filepath.Join("..", "..", "testdata", "continuous-tiny", "model.onnx"))
	for _, tc := range []struct {
		name, dir string
		lines     []string
		want      *llada.Distill
	}{
		{"masked sdtt student", "masked", []string{
			"distilled sdtt from model.onnx sha256:" + tinySHA + " (2 rounds, seed 7)\n",
			"recommended --sampler llada-low-confidence --steps 4 (trained for --gen-length 8)\n"},
			&llada.Distill{Method: "sdtt", Teacher: "model.onnx sha256:" + tinySHA, Sampler: "llada-low-confidence",
				Steps: 4, GenLength: 8, Seed: "7", Rounds: 2}},
		{"continuous progressive student", "continuous", []string{
			"family continuous,",
			"distilled progressive from model.onnx sha256:" + contSHA + " (2 rounds, seed 3)\n",
			"recommended --sampler ddim --steps 2 (trained for --gen-length 8)\n"},
			&llada.Distill{Method: "progressive", Teacher: "model.onnx sha256:" + contSHA, Sampler: "ddim",
				Steps: 2, GenLength: 8, Seed: "3", Rounds: 2}},
		{"malformed keys warn", "bad", []string{
			"recommended --sampler fastest\n",
			"distill warning: llada.distill.sampler = \"fastest\" is not a sampler this build knows\n",
			"distill warning: llada.distill.steps = \"four\" is not a positive integer\n"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(distillFixtures, tc.dir)
			out, errs, code := runCLI(t, "", "info", "--model", dir)
			require.Equal(t, 0, code, errs)
			for _, l := range tc.lines {
				assert.Contains(t, out, l)
			}
			out, errs, code = runCLI(t, "", "info", "--model", dir, "--format", "json")
			require.Equal(t, 0, code, errs)
			var got infoOutput
			require.NoError(t, json.Unmarshal([]byte(out), &got))
			require.NotNil(t, got.Distill)
			if tc.want != nil {
				assert.Equal(t, *tc.want, *got.Distill)
			} else {
				assert.Len(t, got.Distill.Problems, 2)
			}
		})
	}
	out, errs, code := runCLI(t, "", "info", "--model", tinyDir)
	require.Equal(t, 0, code, errs)
	assert.NotContains(t, out, "distilled")
	assert.NotContains(t, out, "recommended")
	out, errs, code = runCLI(t, "", "info", "--model", tinyDir, "--format", "json")
	require.Equal(t, 0, code, errs)
	assert.NotContains(t, out, `"distill"`)
}
