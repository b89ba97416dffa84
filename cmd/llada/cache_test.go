package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const kvDir = "../../testdata/kvcache"

// kvCase is one single-prompt low-confidence case of testdata/kvcache/golden.json (the Fast-dLLM reference).
type kvCase struct {
	Mode    string  `json:"mode"`
	Prompts [][]int `json:"prompts"`
	Config  struct {
		GenLength   int      `json:"gen_length"`
		BlockLength int      `json:"block_length"`
		Steps       int      `json:"steps"`
		Threshold   *float64 `json:"threshold"`
	} `json:"config"`
	Canvas    [][]int `json:"canvas"`
	NFENeeded int     `json:"nfe_needed"`
}

func kvGoldenCase(t *testing.T, mode string) kvCase {
	t.Helper()
	data, err := os.ReadFile(kvDir + "/golden.json")
	require.NoError(t, err)
	var g struct{ Cases []kvCase }
	require.NoError(t, json.Unmarshal(data, &g))
	for _, c := range g.Cases {
		if c.Mode == mode && len(c.Prompts) == 1 && c.Config.Threshold == nil {
			return c
		}
	}
	t.Fatalf("no single-prompt low-confidence %s case in golden.json", mode)
	return kvCase{}
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ",")
}

// TestGenerateCache: `llada generate --cache prefix|dual` decodes as the Fast-dLLM reference, and `llada bench`
// with the "cache" key gives the same ids and forward passes.
func TestGenerateCache(t *testing.T) {
	for _, mode := range []string{"prefix", "dual"} {
		t.Run(mode, func(t *testing.T) {
			c := kvGoldenCase(t, mode)
			settings := []string{"--gen-length", fmt.Sprint(c.Config.GenLength), "--block-length", fmt.Sprint(c.Config.BlockLength),
				"--steps", fmt.Sprint(c.Config.Steps)}
			out, errs, code := runCLI(t, "", append([]string{"generate", "--model", kvDir, "--prompt-ids", joinInts(c.Prompts[0]),
				"--cache", mode, "--format", "json"}, settings...)...)
			require.Equal(t, 0, code, errs)
			var g generateOutput
			require.NoError(t, json.Unmarshal([]byte(out), &g))
			assert.Equal(t, c.Canvas[0], g.IDs)
			assert.Equal(t, c.NFENeeded, g.NFE)

			line := fmt.Sprintf(`{"prompt_ids":[%s],"gen_length":%d,"block_length":%d,"steps":%d,"cache":%q}`,
				joinInts(c.Prompts[0]), c.Config.GenLength, c.Config.BlockLength, c.Config.Steps, mode)
			out, errs, code = runCLI(t, "", "bench", "--model", kvDir, "--cases", writeCases(t, line), "--format", "json", "--warmup", "0")
			require.Equal(t, 0, code, errs)
			var b benchOutput
			require.NoError(t, json.Unmarshal([]byte(out), &b))
			require.Len(t, b.Cases, 1)
			assert.Equal(t, mode, b.Cases[0].Cache)
			assert.Equal(t, g.IDs[g.PromptLen:], b.Cases[0].IDs)
			assert.Equal(t, g.NFE, b.Cases[0].NFE)
		})
	}
}

func TestCacheFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown mode", []string{"--model", kvDir, "--cache", "both"}, `cache "both" is unknown`},
		{"plain model", []string{"--model", tinyDir, "--cache", "prefix"}, "the model has no KV cache"},
		{"guidance", []string{"--model", kvDir, "--cache", "dual", "--cfg-scale", "1"}, "classifier-free guidance"},
		{"ancestral sampler", []string{"--model", kvDir, "--cache", "dual", "--sampler", "mdlm"}, "not a block-wise confidence rule"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errs, code := runCLI(t, "", append([]string{"generate", "--prompt-ids", "5,6", "--gen-length", "8"}, tc.args...)...)
			assert.Equal(t, 1, code)
			assert.Contains(t, errs, tc.want)
		})
	}
	_, errs, code := runCLI(t, "", "bench", "--model", kvDir, "--cases", writeCases(t, `{"prompt_ids":[5],"cache":"triple"}`))
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, `cache "triple" is unknown`)
}

func TestInfoKVCache(t *testing.T) {
	out, errs, code := runCLI(t, "", "info", "--model", kvDir)
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, "kv_cache prefix,dual (layers 2, kv_heads 2, head_dim 12): --cache prefix or dual")
	out, errs, code = runCLI(t, "", "info", "--model", kvDir, "--format", "json")
	require.Equal(t, 0, code, errs)
	var got struct {
		KVCache *struct {
			Modes   []string `json:"modes"`
			Layers  int      `json:"layers"`
			KVHeads int      `json:"kv_heads"`
			HeadDim int      `json:"head_dim"`
		} `json:"kv_cache"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.NotNil(t, got.KVCache)
	assert.Equal(t, []string{"prefix", "dual"}, got.KVCache.Modes)
	assert.Equal(t, []int{2, 2, 12}, []int{got.KVCache.Layers, got.KVCache.KVHeads, got.KVCache.HeadDim})

	out, errs, code = runCLI(t, "", "info", "--model", tinyDir)
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, "kv_cache none")
	out, errs, code = runCLI(t, "", "info", "--model", tinyDir, "--format", "json")
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, `"kv_cache": null`)
}
