package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const tinyDir = "../../testdata/tiny"

func runCLI(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

func TestGenerateJSON(t *testing.T) {
	out, errs, code := runCLI(t, "", "generate", "--model", tinyDir, "--prompt", "w5 w6", "--gen-length", "6",
		"--steps", "4", "--block-length", "3", "--format", "json")
	require.Equal(t, 0, code, errs)
	var got generateOutput
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	assert.Len(t, got.IDs, 8)
	assert.Equal(t, []int{5, 6}, got.IDs[:2])
	assert.Equal(t, 2, got.PromptLen)
	assert.Equal(t, 4, got.NFE)
	assert.NotEmpty(t, got.Text)
	assert.Greater(t, got.ElapsedMS, 0.0)
}

func TestGeneratePromptIDsAndStdin(t *testing.T) {
	a, errs, code := runCLI(t, "", "generate", "--model", tinyDir, "--prompt-ids", "5,6", "--gen-length", "4", "--format", "json")
	require.Equal(t, 0, code, errs)
	b, errs, code := runCLI(t, "w5 w6\n", "generate", "--model", tinyDir, "--gen-length", "4", "--format", "json")
	require.Equal(t, 0, code, errs)
	var ga, gb generateOutput
	require.NoError(t, json.Unmarshal([]byte(a), &ga))
	require.NoError(t, json.Unmarshal([]byte(b), &gb))
	assert.Equal(t, ga.IDs, gb.IDs, "the same prompt by ids and by text gives the same canvas")
}

func TestGenerateLiveCanvas(t *testing.T) {
	out, errs, code := runCLI(t, "", "generate", "--model", tinyDir, "--prompt", "w5", "--gen-length", "4", "--live", "on")
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, "░", "masked positions are drawn")
	assert.Contains(t, out, "[step 4, nfe 4]")
}

func TestGenerateErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"zero length", []string{"--gen-length", "0", "--prompt", "w5"}, "--gen-length 0"},
		{"bad blocks", []string{"--gen-length", "6", "--block-length", "4", "--prompt", "w5"}, "block_length"},
		{"bad ids", []string{"--prompt-ids", "5,x"}, "not a token id"},
		{"both prompts", []string{"--prompt-ids", "5", "--prompt", "w5"}, "not both"},
		{"bad format", []string{"--prompt", "w5", "--format", "xml"}, "--format"},
		{"bad remasking", []string{"--prompt", "w5", "--remasking", "sideways"}, "remasking"},
		{"too long", []string{"--prompt", "w5", "--gen-length", "64"}, "max_seq_len"},
		{"negative temperature", []string{"--prompt", "w5", "--temperature", "-1"}, "temperature"},
		{"invalid utf-8", []string{"--prompt", "w5 \xff"}, "UTF-8"},
		{"missing model", []string{"--model", "/nonexistent", "--prompt", "w5"}, "/nonexistent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"generate", "--model", tinyDir}, tc.args...)
			_, errs, code := runCLI(t, "", args...)
			assert.Equal(t, 1, code)
			assert.Contains(t, errs, tc.want)
		})
	}
}

func TestInfo(t *testing.T) {
	out, errs, code := runCLI(t, "", "info", "--model", tinyDir)
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, "family masked, contract v1, vocab 50")
	assert.Contains(t, out, "input  input_ids int64 [?,?]")
	assert.Contains(t, out, "output logits float32 [?,?,50]")

	out, errs, code = runCLI(t, "", "info", "--model", tinyDir, "--format", "json")
	require.Equal(t, 0, code, errs)
	var got infoOutput
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	assert.Equal(t, 49, got.Contract.MaskID)
	assert.Len(t, got.Inputs, 2)
}

func TestUnknownCommand(t *testing.T) {
	_, errs, code := runCLI(t, "", "transmogrify")
	assert.Equal(t, 2, code)
	assert.Contains(t, errs, `unknown command "transmogrify"`)
}

func TestGenerateWithSamplerPreset(t *testing.T) {
	out, errs, code := runCLI(t, "", "generate", "--model", tinyDir, "--prompt", "w5 w6", "--gen-length", "8",
		"--block-length", "4", "--sampler", "fast-dllm-threshold", "--threshold", "0.5", "--format", "json")
	require.Equal(t, 0, code, errs)
	var got generateOutput
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	assert.Len(t, got.IDs, 10)
	assert.GreaterOrEqual(t, got.NFE, 2, "at least one pass per block")
	assert.LessOrEqual(t, got.NFE, 8, "never more passes than tokens")

	_, errs, code = runCLI(t, "", "generate", "--model", tinyDir, "--prompt", "w5", "--sampler", "no-such-sampler")
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, "no-such-sampler")
}

func TestGenerateChatNeedsTemplate(t *testing.T) {
	_, errs, code := runCLI(t, "", "generate", "--model", tinyDir, "--prompt", "w5", "--chat")
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, "no llada.chat_template")
}
