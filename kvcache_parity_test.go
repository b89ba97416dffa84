package llada

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llada-go/llada/onnx"
)

// Parity of the KV caches with the independent Python reference of Fast-dLLM's cached decoding
// (export/reference/kvcache_ref.py, the semantics of NVlabs/Fast-dLLM llada/generate.py
// generate_with_prefix_cache and generate_with_dual_cache) on the same weights: testdata/kvcache/golden.json,
// written by export/make_kvcache_testdata.py. As in parity_test.go, cases whose closest decision is within
// min_margin were left out by the generator (listed under "skipped"), so a mismatch here is a semantic
// difference, not float32 noise.

var kvDir = filepath.Join("testdata", "kvcache")

type kvGolden struct {
	ModelSHA256 string  `json:"model_sha256"`
	MinMargin   float64 `json:"min_margin"`
	PassCheck   struct {
		IDs         [][]int64 `json:"ids"`
		ChangedIDs  [][]int64 `json:"changed_ids"`
		Attention   [][]int64 `json:"attention"`
		BlockLength int       `json:"block_length"`
		Start       int       `json:"start"`
		Refresh     kvPoints  `json:"refresh"`
		Prefix      kvPoints  `json:"prefix"`
		Dual        kvPoints  `json:"dual"`
	} `json:"pass_check"`
	Cases []struct {
		Name    string  `json:"name"`
		Mode    string  `json:"mode"`
		Prompts [][]int `json:"prompts"`
		Config  struct {
			GenLength   int      `json:"gen_length"`
			BlockLength int      `json:"block_length"`
			Steps       int      `json:"steps"`
			Remasking   string   `json:"remasking"`
			Temperature float64  `json:"temperature"`
			Threshold   *float64 `json:"threshold"`
		} `json:"config"`
		Canvas    [][]int  `json:"canvas"`
		NFE       int      `json:"nfe"`
		NFENeeded int      `json:"nfe_needed"`
		Margin    *float64 `json:"margin"`
		Uncached  struct {
			Canvas [][]int `json:"canvas"`
			NFE    int     `json:"nfe"`
		} `json:"uncached"`
	} `json:"cases"`
	Skipped []struct {
		Name   string  `json:"name"`
		Margin float64 `json:"margin"`
		Reason string  `json:"reason"`
	} `json:"skipped"`
}

type kvPoints struct {
	Start  int `json:"start"`
	Q      int `json:"q"`
	Points []struct {
		Row    int       `json:"row"`
		Pos    int       `json:"pos"`
		Logits []float64 `json:"logits"`
	} `json:"points"`
}

func loadKVGolden(t *testing.T) kvGolden {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(kvDir, "golden.json"))
	require.NoError(t, err)
	var g kvGolden
	require.NoError(t, json.Unmarshal(data, &g))
	model, err := os.ReadFile(filepath.Join(kvDir, ModelFile))
	require.NoError(t, err)
	sum := sha256.Sum256(model)
	require.Equal(t, g.ModelSHA256, hex.EncodeToString(sum[:]), "golden.json was made on another model.onnx")
	require.NotEmpty(t, g.Cases)
	return g
}

// TestKVCachePassParity: one refresh, one prefix pass and one dual pass through ONNX Runtime give torch's
// logits (the cached passes on the refresh's cache after the block's ids changed, so the cache is stale).
func TestKVCachePassParity(t *testing.T) {
	g := loadKVGolden(t)
	s := paritySession(t, filepath.Join(kvDir, ModelFile))
	pc := g.PassCheck
	rows, seq := len(pc.IDs), len(pc.IDs[0])
	flat := func(m [][]int64) []int64 {
		var out []int64
		for _, r := range m {
			out = append(out, r...)
		}
		return out
	}
	ids, changed, att := flat(pc.IDs), flat(pc.ChangedIDs), flat(pc.Attention)
	V := s.VocabSize()
	check := func(name string, logits []float32, want kvPoints) {
		for _, p := range want.Points {
			got := logits[(p.Row*seq+p.Pos)*V : (p.Row*seq+p.Pos+1)*V]
			scale := 0.0
			for _, w := range p.Logits {
				scale = math.Max(scale, math.Abs(w))
			}
			for v, w := range p.Logits {
				require.InDelta(t, w, float64(got[v]), 1e-4*max(scale, 1), "%s row %d pos %d id %d", name, p.Row, p.Pos, v)
			}
		}
	}
	for _, mode := range []struct {
		name string
		want kvPoints
	}{{"prefix", pc.Prefix}, {"dual", pc.Dual}} {
		c, err := s.NewKVCache(rows, seq)
		require.NoError(t, err)
		logits := make([]float32, rows*seq*V)
		require.NoError(t, s.ForwardCached(context.Background(), c, ids, att, 0, seq, logits))
		check("refresh", logits, pc.Refresh)
		require.NoError(t, s.ForwardCached(context.Background(), c, changed, att, mode.want.Start, mode.want.Q, logits))
		check(mode.name, logits, mode.want)
		require.NoError(t, c.Close())
	}
}

// TestKVCacheGoldenParity replays every admitted golden case through llada.Open on the cached model: the
// cached decoding token for token, its forward passes (the reference's nfe_needed: the step loop does not run
// Fast-dLLM's extra cached pass after a refresh that filled the block, which commits nothing), and the uncached
// decoding of the same file (a plain pass on it is a refresh) against the reference's generate().
func TestKVCacheGoldenParity(t *testing.T) {
	g := loadKVGolden(t)
	_, err := onnx.LibraryPath("")
	require.NoError(t, err, "parity tests need ONNX Runtime %s", onnx.RuntimeVersion)
	m, err := Open(kvDir, WithIntraOpThreads(1))
	require.NoError(t, err)
	defer m.Close()
	for _, sk := range g.Skipped {
		t.Logf("skipped by the generator: %s (margin %.3g: %s)", sk.Name, sk.Margin, sk.Reason)
	}
	run := func(t *testing.T, prompts [][]int, cfg GenerateConfig) ([][]int, int) {
		var last Step
		for st, err := range m.Stream(context.Background(), prompts, cfg) {
			require.NoError(t, err)
			last = st
		}
		canvas := make([][]int, last.Rows)
		for r := range canvas {
			canvas[r] = last.Canvas[r*last.Seq : (r+1)*last.Seq]
		}
		return canvas, last.NFE
	}
	for _, tc := range g.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			if tc.Margin != nil {
				require.Greater(t, *tc.Margin, g.MinMargin, "golden admitted a near-tie")
			}
			require.Equal(t, "low_confidence", tc.Config.Remasking)
			require.Zero(t, tc.Config.Temperature)
			mode, err := ParseCacheMode(tc.Mode)
			require.NoError(t, err)
			cfg := GenerateConfig{GenLength: tc.Config.GenLength, BlockLength: tc.Config.BlockLength, Steps: tc.Config.Steps, Cache: mode}
			if tc.Config.Threshold != nil {
				cfg.Sampler = SamplerByName("fast-dllm-threshold")
				cfg.Sampler.Threshold = *tc.Config.Threshold
			}
			canvas, nfe := run(t, tc.Prompts, cfg)
			assert.Equal(t, tc.Canvas, canvas, "cached canvas")
			assert.Equal(t, tc.NFENeeded, nfe, "forward passes (Fast-dLLM counts %d with its empty cached passes)", tc.NFE)

			cfg.Cache = CacheNone
			canvas, nfe = run(t, tc.Prompts, cfg)
			assert.Equal(t, tc.Uncached.Canvas, canvas, "uncached canvas on the cached file")
			assert.Equal(t, tc.Uncached.NFE, nfe, "uncached forward passes")
		})
	}
}
