package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func writeCases(t *testing.T, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "cases.jsonl")
	require.NoError(t, os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644))
	return p
}

func TestBenchJSONMatchesGenerate(t *testing.T) {
	cases := writeCases(t,
		`# a comment line and a blank line are skipped`,
		``,
		`{"name":"greedy","prompt":"w5 w6","gen_length":6,"steps":4,"block_length":3}`,
		`{"prompt_ids":[5,6],"gen-length":4,"sampler":"fast-dllm-threshold","threshold":0.9,"repeat":2}`)
	out, errs, code := runCLI(t, "", "bench", "--model", tinyDir, "--cases", cases, "--format", "json", "--warmup", "2")
	require.Equal(t, 0, code, errs)
	var got benchOutput
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.Len(t, got.Cases, 3, "case 2 repeats twice")
	assert.Equal(t, []int{1, 2, 2}, []int{got.Cases[0].Case, got.Cases[1].Case, got.Cases[2].Case})
	assert.Equal(t, []int{1, 1, 2}, []int{got.Cases[0].Run, got.Cases[1].Run, got.Cases[2].Run})
	assert.Equal(t, "greedy", got.Cases[0].Name)

	// The same settings through `llada generate` give the same ids and forward passes.
	for i, args := range [][]string{
		{"--prompt", "w5 w6", "--gen-length", "6", "--steps", "4", "--block-length", "3"},
		{"--prompt-ids", "5,6", "--gen-length", "4", "--sampler", "fast-dllm-threshold", "--threshold", "0.9"},
	} {
		gout, gerrs, gcode := runCLI(t, "", append(append([]string{"generate", "--model", tinyDir}, args...), "--format", "json")...)
		require.Equal(t, 0, gcode, gerrs)
		var g generateOutput
		require.NoError(t, json.Unmarshal([]byte(gout), &g))
		r := got.Cases[min(i, 1)]
		assert.Equal(t, g.IDs[g.PromptLen:], r.IDs, "case %d", i+1)
		assert.Equal(t, g.NFE, r.NFE, "case %d", i+1)
	}
	assert.Equal(t, got.Cases[1].IDs, got.Cases[2].IDs, "greedy repeats are identical")

	s := got.Summary
	assert.Equal(t, 3, s.Runs)
	assert.Equal(t, 6+4+4, s.Tokens)
	assert.Greater(t, s.ElapsedMS, 0.0)
	assert.InDelta(t, float64(s.Tokens)/(s.ElapsedMS/1000), s.TokensPerSec, 1e-6*s.TokensPerSec)
	assert.Greater(t, s.WarmupMS, 0.0)
	assert.True(t, slices.IsSorted([]float64{0, s.StepP50MS, s.StepP90MS, s.StepP99MS, s.StepMaxMS}), "%+v", s)
	assert.Positive(t, s.StepP50MS)
}

func TestBenchText(t *testing.T) {
	cases := writeCases(t, `{"prompt":"w5","gen_length":4}`)
	out, errs, code := runCLI(t, "", "bench", "--model", tinyDir, "--cases", cases, "--repeat", "3", "--warmup", "0")
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, "case  run  cache  nfe  steps  elapsed_ms  ids")
	assert.Equal(t, 3, strings.Count(out, "\n1     "), out)
	assert.Contains(t, out, "3 runs, 12 tokens")
	assert.Contains(t, out, "tokens/s")
	assert.Contains(t, out, "step ms: p50")
}

func TestBenchStdin(t *testing.T) {
	out, errs, code := runCLI(t, `{"prompt_ids":[5],"gen_length":2}`, "bench", "--model", tinyDir, "--cases", "-", "--format", "json")
	require.Equal(t, 0, code, errs)
	var got benchOutput
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.Len(t, got.Cases, 1)
	assert.Len(t, got.Cases[0].IDs, 2)
}

func TestBenchErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lines []string
		args  []string
		want  string
	}{
		{"malformed line", []string{`{"prompt":"w5"}`, `{"prompt":`}, nil, "line 2: not a JSON object"},
		{"unknown setting", []string{`{"prompt":"w5","gen_lenght":4}`}, nil, `unknown setting "gen_lenght"`},
		{"bad value", []string{`{"prompt":"w5","steps":"many"}`}, nil, "steps"},
		{"object value", []string{`{"prompt":"w5","seed":{}}`}, nil, "want a string, number or boolean"},
		{"no prompt", []string{`{"gen_length":4}`}, nil, "no prompt"},
		{"both prompts", []string{`{"prompt":"w5","prompt_ids":[5]}`}, nil, "not both"},
		{"empty ids", []string{`{"prompt_ids":[]}`}, nil, "prompt_ids: empty"},
		{"bad repeat", []string{`{"prompt":"w5","repeat":0}`}, nil, "repeat"},
		{"invalid config", []string{`{"prompt":"w5","temperature":-1}`}, nil, "temperature"},
		{"knob of another sampler", []string{`{"prompt":"w5","threshold":0.5}`}, nil, "threshold"},
		{"no cases", []string{`# nothing`}, nil, "no cases"},
		{"too long", []string{`{"prompt":"w5","gen_length":64}`}, nil, "max_seq_len"},
		{"bad format", []string{`{"prompt":"w5"}`}, []string{"--format", "xml"}, "--format"},
		{"bad repeat flag", []string{`{"prompt":"w5"}`}, []string{"--repeat", "0"}, "--repeat"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"bench", "--model", tinyDir, "--cases", writeCases(t, tc.lines...)}, tc.args...)
			_, errs, code := runCLI(t, "", args...)
			assert.Equal(t, 1, code)
			assert.Contains(t, errs, tc.want)
		})
	}
	_, errs, code := runCLI(t, "", "bench", "--model", tinyDir)
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, "--cases")
	_, errs, code = runCLI(t, "", "bench", "--model", tinyDir, "--cases", "/nonexistent.jsonl")
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, "/nonexistent.jsonl")
}
