package llada

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llada-go/llada/onnx"
)

// reducingDenoiser wraps a Denoiser with a Go reference of the in-graph reductions: it runs the inner Forward
// into its own buffer and reduces each position with ScoreLogits, rounded to float32 as a graph would. It
// counts how often the generation asked for logits (never, on the reductions path) and for reductions.
type reducingDenoiser struct {
	Denoiser
	exclude          int
	buf              []float32
	logitCalls, reds int
	poison           bool // write NaN probabilities, as a graph does for NaN logits
}

func (d *reducingDenoiser) Forward(ctx context.Context, in Batch, logits []float32) error {
	d.logitCalls++
	return d.Denoiser.Forward(ctx, in, logits)
}

func (d *reducingDenoiser) Deterministic() bool { return true }

func (d *reducingDenoiser) Reductions() (int, bool) { return d.exclude, true }

func (d *reducingDenoiser) ForwardReductions(ctx context.Context, in Batch, start, n int, out *Reductions) error {
	d.reds++
	v := d.VocabSize()
	if need := in.Rows * in.Seq * v; len(d.buf) != need {
		d.buf = make([]float32, need)
	}
	if err := d.Denoiser.Forward(ctx, in, d.buf); err != nil {
		return err
	}
	for r := range in.Rows {
		for p := range n {
			k := r*in.Seq + start + p
			s, err := ScoreLogits(d.buf[k*v:(k+1)*v], d.exclude)
			if err != nil {
				return err
			}
			i := r*n + p
			out.Token[i], out.Prob[i], out.Margin[i], out.Entropy[i] = int64(s.Token), float32(s.Prob), float32(s.Margin), float32(s.Entropy)
			if d.poison {
				out.Prob[i] = float32(math.NaN())
			}
		}
	}
	return nil
}

// TestReductionsQualify is the rule of ReductionDenoiser: which configurations read the reductions.
func TestReductionsQualify(t *testing.T) {
	c := testContract(64)
	red := &reducingDenoiser{Denoiser: &patternDenoiser{vocab: 64}, exclude: c.MaskID}
	base := GenerateConfig{GenLength: 8, BlockLength: 8, Steps: 8}
	with := func(f func(*GenerateConfig)) GenerateConfig { cfg := base; f(&cfg); return cfg }
	preset := func(name string) GenerateConfig {
		return with(func(g *GenerateConfig) { g.Sampler = SamplerByName(name) })
	}
	for _, tc := range []struct {
		name string
		den  Denoiser
		cfg  GenerateConfig
		want bool
	}{
		{"default greedy", red, base, true},
		{"llada-low-confidence", red, preset("llada-low-confidence"), true},
		{"llada-random", red, preset("llada-random"), true},
		{"fast-dllm-threshold", red, preset("fast-dllm-threshold"), true},
		{"fast-dllm-factor", red, preset("fast-dllm-factor"), true},
		{"dream-topk-margin (no top-k set)", red, preset("dream-topk-margin"), true},
		{"dream-entropy", red, preset("dream-entropy"), true},
		{"eb", red, preset("eb"), true},
		{"temperature", red, with(func(g *GenerateConfig) { g.Temperature = 0.7 }), false},
		{"top-k", red, with(func(g *GenerateConfig) { g.Sampler = SamplerByName("dream-topk-margin"); g.Sampler.TopK = 5 }), false},
		{"top-p", red, with(func(g *GenerateConfig) { g.Sampler = SamplerByName("dream-entropy"); g.Sampler.TopP = 0.9 }), false},
		{"suppress mask (mdlm)", red, preset("mdlm"), false},
		{"suppress EOS", red, with(func(g *GenerateConfig) { g.SuppressEOS = true }), false},
		{"defer EOS", red, with(func(g *GenerateConfig) { g.DeferEOS = true }), false},
		{"guidance", red, with(func(g *GenerateConfig) { g.CFGScale = 1 }), false},
		{"other exclude id", &reducingDenoiser{Denoiser: &patternDenoiser{vocab: 64}, exclude: 5}, base, false},
		{"no capability", &patternDenoiser{vocab: 64}, base, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := newGeneration(tc.den, c, [][]int{{5, 6}}, tc.cfg)
			require.NoError(t, err)
			assert.Equal(t, tc.want, g.red != nil)
			assert.Equal(t, tc.want, g.logits == nil, "the reductions path holds no logits buffer")
		})
	}
	// A constraint rescores the logits: no reductions (set on a built generation, since a constraint needs a
	// tokenizer to be built).
	g, err := newGeneration(red, c, [][]int{{5, 6}}, base)
	require.NoError(t, err)
	_, ok := g.reductionsQualify()
	require.True(t, ok)
	g.cfg.Constraint = &Constraint{}
	_, ok = g.reductionsQualify()
	require.False(t, ok)
}

// reductionPresets are the samplers the parity tests run on both paths.
var reductionPresets = []string{"llada-low-confidence", "fast-dllm-threshold", "fast-dllm-factor", "dream-topk-margin",
	"dream-entropy", "eb", "llada-random", "dream-origin", "dream-maskgit-plus", "llada2", "llada2-edit"}

// TestReductionsPresetList pins which presets run on the reductions at their defaults (docs/contract.md).
func TestReductionsPresetList(t *testing.T) {
	c := testContract(64)
	red := &reducingDenoiser{Denoiser: &patternDenoiser{vocab: 64}, exclude: c.MaskID}
	var got []string
	for _, n := range SamplerNames() {
		g, err := newGeneration(red, c, [][]int{{5, 6}}, GenerateConfig{GenLength: 8, BlockLength: 8, Steps: 8, Sampler: SamplerByName(n)})
		require.NoError(t, err, n)
		if g.red != nil {
			got = append(got, n)
		}
	}
	assert.ElementsMatch(t, reductionPresets, got)
}

// TestReductionsMatchLogitsPath: with the Go reference of the reductions (float32 like a graph), every
// qualifying preset commits the same tokens at every step, with the same NFE, as the logits path, and the
// generation never asks for logits.
func TestReductionsMatchLogitsPath(t *testing.T) {
	c := testContract(64)
	for _, name := range reductionPresets {
		for _, prompts := range [][][]int{{{5, 6, 7}}, {{5, 6, 7}, {9}}} {
			t.Run(fmt.Sprintf("%s/rows%d", name, len(prompts)), func(t *testing.T) {
				cfg := GenerateConfig{GenLength: 16, BlockLength: 8, Steps: 8, Sampler: SamplerByName(name), Seed: 11}
				want := runAll(t, &patternDenoiser{vocab: 64, liftStep: 0.7}, c, prompts, cfg)
				red := &reducingDenoiser{Denoiser: &patternDenoiser{vocab: 64, liftStep: 0.7}, exclude: c.MaskID}
				got := runAll(t, red, c, prompts, cfg)
				require.Len(t, got, len(want))
				for i := range want {
					require.Equal(t, want[i].Canvas, got[i].Canvas, "step %d", i)
					require.Equal(t, want[i].NFE, got[i].NFE, "step %d", i)
					require.Equal(t, want[i].Committed, got[i].Committed, "step %d", i)
				}
				assert.Zero(t, red.logitCalls, "no logits on the reductions path")
				assert.Equal(t, got[len(got)-1].NFE, red.reds)
			})
		}
	}
}

func TestReductionsBadValuesAreAnError(t *testing.T) {
	c := testContract(64)
	red := &reducingDenoiser{Denoiser: &patternDenoiser{vocab: 64}, exclude: c.MaskID, poison: true}
	var err error
	for _, e := range Stream(context.Background(), red, c, [][]int{{5}}, GenerateConfig{GenLength: 4, BlockLength: 4, Steps: 4}) {
		if e != nil {
			err = e
			break
		}
	}
	require.ErrorIs(t, err, ErrBadLogits)
	require.ErrorContains(t, err, "in-graph reductions")
}

// TestONNXReductionsGenerationsMatch runs ONNX Runtime on the models with the reduction outputs
// (testdata/reductions, export/add_reductions.py) and on the same graphs without them: identical canvases at
// every step for every qualifying preset, one and two rows, with and without the logits window.
func TestONNXReductionsGenerationsMatch(t *testing.T) {
	for _, pair := range []struct{ plain, red string }{
		{filepath.Join("testdata", "tiny", "model.onnx"), filepath.Join("testdata", "reductions", "model.onnx")},
		{filepath.Join("testdata", "window", "model.onnx"), filepath.Join("testdata", "reductions", "window.onnx")},
	} {
		ps, err := onnx.Open(pair.plain, onnx.WithIntraOpThreads(1))
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, ps.Close()) })
		rs, err := onnx.Open(pair.red, onnx.WithIntraOpThreads(1))
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, rs.Close()) })
		c, err := ParseContract(ps.Metadata())
		require.NoError(t, err)
		dp, dr := newONNXDenoiser(ps, c.VocabSize), newONNXDenoiser(rs, c.VocabSize)
		_, ok := dp.(ReductionDenoiser)
		require.False(t, ok, "an old model has no reductions")
		_, ok = dr.(ReductionDenoiser)
		require.True(t, ok, "the reductions are detected at load")
		_, pw := dp.(WindowDenoiser)
		_, rw := dr.(WindowDenoiser)
		require.Equal(t, pw, rw, "the window survives")
		for _, name := range reductionPresets {
			for _, prompts := range [][][]int{{{5, 6, 7}}, {{5, 6, 7}, {9}}} {
				label := fmt.Sprintf("%s %s rows %d", pair.red, name, len(prompts))
				cfg := GenerateConfig{GenLength: 16, BlockLength: 8, Steps: 16, Sampler: SamplerByName(name), Seed: 5}
				g, err := newGeneration(dr, c, prompts, cfg)
				require.NoError(t, err)
				require.NotNil(t, g.red, label)
				want := runAll(t, dp, c, prompts, cfg)
				got := runAll(t, dr, c, prompts, cfg)
				require.Len(t, got, len(want), label)
				for i := range want {
					require.Equal(t, want[i].Canvas, got[i].Canvas, "%s step %d", label, i)
					require.Equal(t, want[i].NFE, got[i].NFE, "%s step %d", label, i)
				}
			}
		}
		// A configuration that does not qualify runs on the logits of the same model.
		cfg := GenerateConfig{GenLength: 8, BlockLength: 8, Steps: 8, Temperature: 0.8, Seed: 2}
		assert.Equal(t, runAll(t, dp, c, [][]int{{5}}, cfg), runAll(t, dr, c, [][]int{{5}}, cfg))
	}
}
