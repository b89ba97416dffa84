package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestInfillCommand(t *testing.T) {
	out, errs, code := runCLI(t, "", "infill", "--model", tinyDir, "--text", "w5 <|mask:2|> w7 <|mask:1|>", "--format", "json")
	require.Equal(t, 0, code, errs)
	var got infillOutput
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.Len(t, got.IDs, 5)
	assert.Equal(t, []int{1, 2, 4}, got.Holes)
	assert.Equal(t, []int{5, 7}, []int{got.IDs[0], got.IDs[3]})
	assert.NotContains(t, got.IDs, 49, "the tiny model's mask id is 49: nothing left masked")
	assert.Equal(t, 3, got.NFE)
	// The same canvas by ids, with the mask id for holes.
	out2, errs, code := runCLI(t, "", "infill", "--model", tinyDir, "--prompt-ids", "5,49,49,7,49", "--format", "json")
	require.Equal(t, 0, code, errs)
	var got2 infillOutput
	require.NoError(t, json.Unmarshal([]byte(out2), &got2))
	assert.Equal(t, got.IDs, got2.IDs)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--text", "w5 <|mask|> w7"}, "has no hole count"},
		{[]string{"--prompt-ids", "5,49,7", "--gen-length", "3"}, "flag provided but not defined"},
		{[]string{"--prompt-ids", "5,49,7", "--text", "w5"}, "not both"},
		{[]string{"--prompt-ids", strings.Repeat("5,", 32) + "49"}, "cannot see (max_seq_len 32)"},
		{[]string{"--prompt-ids", "5,49", "--format", "xml"}, "want text or json"},
	} {
		_, errs, code := runCLI(t, "", append([]string{"infill", "--model", tinyDir}, tc.args...)...)
		assert.Equal(t, 1, code, tc.want)
		assert.Contains(t, errs, tc.want)
	}
}

func TestEditCommand(t *testing.T) {
	out, errs, code := runCLI(t, "", "edit", "--model", tinyDir, "--prompt-ids", "5,6,7,8,9", "--spans", "1:3:1,4:5", "--format", "json")
	require.Equal(t, 0, code, errs)
	var got infillOutput
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.Len(t, got.IDs, 4)
	assert.Equal(t, []int{1, 3}, got.Holes)
	assert.Equal(t, []int{5, 8}, []int{got.IDs[0], got.IDs[2]})
	for _, tc := range []struct{ spans, want string }{
		{"1:3,2:4", "overlap"},
		{"3:9", "out of range"},
		{"1-3", "want START:END"},
	} {
		_, errs, code := runCLI(t, "", "edit", "--model", tinyDir, "--prompt-ids", "5,6,7,8,9", "--spans", tc.spans)
		assert.Equal(t, 1, code)
		assert.Contains(t, errs, tc.want)
	}
}

func TestRepairCommand(t *testing.T) {
	out, errs, code := runCLI(t, "", "repair", "--model", tinyDir, "--prompt-ids", "5,6,7,8,9,10", "--k", "2", "--rounds", "2", "--keep", "1", "--format", "json")
	require.Equal(t, 0, code, errs)
	var got repairOutput
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.Len(t, got.Rounds, 2)
	assert.Len(t, got.Rounds[0].Remasked, 2)
	assert.Equal(t, 5, got.IDs[0], "kept")
	_, errs, code = runCLI(t, "", "repair", "--model", tinyDir, "--prompt-ids", "5,6", "--k", "1", "--repair-threshold", "0.5")
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, "both set")
}

func TestRefineCommand(t *testing.T) {
	_, errs, code := runCLI(t, "", "refine", "--judge", filepath.Join(t.TempDir(), "none.onnx"), "--text", "The jury")
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, "no autoregressive drafter")
	_, errs, code = runCLI(t, "", "refine", "--judge", tinyDir+"/model.onnx", "--text", "The jury")
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, `llada.family is "masked"`)
	out, errs, code := runCLI(t, "", "refine", "--judge", "../../models/judge/model.onnx", "--text", "The jury said that",
		"--draft-tokens", "6", "--k", "2", "--format", "json")
	require.Equal(t, 0, code, errs)
	var got refineOutput
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	assert.Len(t, got.Draft, got.PromptLen+6)
	assert.Equal(t, got.Draft[:got.PromptLen], got.Repair.IDs[:got.PromptLen])
	assert.Len(t, got.Repair.Rounds[0].Remasked, 2)
}

func TestAugmentCommand(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.jsonl")
	require.NoError(t, os.WriteFile(in, []byte("w5 w6 w7 w8 w9 w10\n\nw11 w12 w13 w14\n"), 0o644))
	args := []string{"augment", "--model", tinyDir, "--in", in, "--out", out, "--mask-ratio", "0.5", "--variants", "3", "--seed", "4", "--temperature", "1"}
	stdout, errs, code := runCLI(t, "", args...)
	require.Equal(t, 0, code, errs)
	assert.Contains(t, stdout, "6 variants of 2 lines")
	assert.Empty(t, errs, "no progress bar when neither stream is a terminal")
	data, err := os.ReadFile(out)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	require.Len(t, lines, 6)
	var rec augmentRecord
	require.NoError(t, json.Unmarshal([]byte(lines[3]), &rec))
	assert.Equal(t, 3, rec.Line)
	assert.Equal(t, 0, rec.Variant)
	assert.Len(t, rec.Masked, 2, "round(0.5 * 4)")
	_, _, code = runCLI(t, "", args...)
	require.Equal(t, 0, code)
	again, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, string(data), string(again), "seeded")
	_, errs, code = runCLI(t, "", "augment", "--model", tinyDir, "--in", in, "--out", out, "--mask-ratio", "2")
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, "mask ratio 2 must be in (0, 1]")
	_, errs, code = runCLI(t, "", "augment", "--model", tinyDir, "--in", filepath.Join(dir, "missing"), "--out", out)
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, "--in")
}

func TestGenerateGuidanceFlags(t *testing.T) {
	out, errs, code := runCLI(t, "", "generate", "--model", tinyDir, "--prompt", "w5 w6", "--gen-length", "4",
		"--cfg-scale", "1.5", "--guidance-form", "weight", "--guidance-schedule", "interval", "--guidance-start", "0.5",
		"--guidance-end", "1", "--negative-prompt", "w9", "--format", "json")
	require.Equal(t, 0, code, errs)
	var got generateOutput
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	assert.Len(t, got.IDs, 6)
	_, errs, code = runCLI(t, "", "generate", "--model", tinyDir, "--prompt", "w5", "--cfg-scale", "1",
		"--guidance-schedule", "cosine")
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, `schedule "cosine" is unknown`)
}
