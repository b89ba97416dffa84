package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const brownDir = "../../models/brown"

func TestGenerateRegexFlag(t *testing.T) {
	out, errs, code := runCLI(t, "", "generate", "--model", brownDir, "--prompt", "The", "--gen-length", "12",
		"--regex", `\d{3}-\d{4}`, "--sampler", "fast-dllm-threshold", "--format", "json")
	require.Equal(t, 0, code, errs)
	var got generateOutput
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	assert.Regexp(t, regexp.MustCompile(`^\d{3}-\d{4}$`), strings.TrimSpace(got.Text))
}

func TestGenerateJSONSchemaFlag(t *testing.T) {
	file := filepath.Join(t.TempDir(), "schema.json")
	require.NoError(t, os.WriteFile(file, []byte(`{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]}`), 0o644))
	out, errs, code := runCLI(t, "", "generate", "--model", brownDir, "--prompt", "The", "--gen-length", "12", "--json-schema", file)
	require.Equal(t, 0, code, errs)
	var v struct {
		N *int `json:"n"`
	}
	require.NoError(t, json.Unmarshal([]byte(strings.TrimSpace(out)), &v), out)
	assert.NotNil(t, v.N)
}

func TestGenerateConstraintFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--regex", "a", "--json-schema", "x.json"}, "not both"},
		{[]string{"--regex", "("}, "--regex"},
		{[]string{"--regex", `a{40}`, "--gen-length", "4"}, "cannot be satisfied"},
		{[]string{"--json-schema", "missing.json"}, "--json-schema"},
		{[]string{"--regex", "x", "--model", tinyDir}, "ByteLevel"},
	} {
		args := append([]string{"generate", "--model", brownDir, "--prompt", "The"}, tc.args...)
		_, errs, code := runCLI(t, "", args...)
		assert.NotEqual(t, 0, code, tc.args)
		assert.Contains(t, errs, tc.want, tc.args)
	}
}
