package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/llada-go/llada"
	"github.com/stretchr/testify/require"
)

const cliTokenizer = "../../testdata/tokenizers/bpe-llama3.json"

func runTokenizeCLI(stdin string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestTokenizeCommand(t *testing.T) {
	tok, err := llada.LoadTokenizer(cliTokenizer)
	require.NoError(t, err)
	want, err := tok.Encode("Hello world<|eot_id|>", true)
	require.NoError(t, err)
	plain, err := tok.Encode("Hello world<|eot_id|>", false)
	require.NoError(t, err)
	require.NotEqual(t, want, plain)

	code, out, errOut := runTokenizeCLI("", "tokenize", "--tokenizer", cliTokenizer, "--text", "Hello world<|eot_id|>")
	require.Equal(t, 0, code, errOut)
	var got []int
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.Equal(t, want, got)

	code, out, errOut = runTokenizeCLI("Hello world<|eot_id|>", "tokenize", "--tokenizer", cliTokenizer, "--no-special")
	require.Equal(t, 0, code, errOut)
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.Equal(t, plain, got)

	ids := make([]string, len(want))
	for i, id := range want {
		ids[i] = strconv.Itoa(id)
	}
	code, out, errOut = runTokenizeCLI("", "tokenize", "--tokenizer", cliTokenizer, "--decode", strings.Join(ids, ","))
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "<|begin_of_text|>Hello world<|eot_id|>\n", out)

	code, out, errOut = runTokenizeCLI("", "tokenize", "--tokenizer", cliTokenizer, "--decode", strings.Join(ids, ", "), "--skip-special")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "Hello world\n", out)
}

func TestTokenizeCommandErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no tokenizer", []string{"tokenize", "--text", "x"}, "--tokenizer is required"},
		{"missing file", []string{"tokenize", "--tokenizer", "nope.json", "--text", "x"}, "nope.json"},
		{"bad id", []string{"tokenize", "--tokenizer", cliTokenizer, "--decode", "1,x"}, `item 2 "x" is not an integer id`},
		{"id out of range", []string{"tokenize", "--tokenizer", cliTokenizer, "--decode", "99999999"}, "not in the vocabulary"},
		{"both modes", []string{"tokenize", "--tokenizer", cliTokenizer, "--text", "a", "--decode", "1"}, "exclude each other"},
		{"stray argument", []string{"tokenize", "--tokenizer", cliTokenizer, "hello"}, `unexpected arguments ["hello"]`},
		{"invalid utf-8", []string{"tokenize", "--tokenizer", cliTokenizer, "--text", "a\xff"}, "byte offset 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runTokenizeCLI("", tt.args...)
			require.Equal(t, 1, code)
			require.Contains(t, errOut, tt.want)
		})
	}
}
