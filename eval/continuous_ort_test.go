//go:build cgo

package eval

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/llada-go/llada"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// continuousTinyData is Run's input with the continuous samplers: testdata/continuous-tiny (random weights,
// vocabulary 64, WordLevel tokenizer over w0..w60, mask 63) beside a masked test double that shares its
// tokenizer, and a next-token judge over the same 64 ids.
func continuousTinyData(t *testing.T) Data {
	t.Helper()
	dir := filepath.Join("..", "testdata", "continuous-tiny")
	cm, err := llada.Open(dir, llada.WithIntraOpThreads(1))
	require.NoError(t, err, "the eval tests need ONNX Runtime: bash scripts/install-onnxruntime.sh")
	t.Cleanup(func() { require.NoError(t, cm.Close()) })
	require.Equal(t, llada.FamilyContinuous, cm.Contract().Family)
	// The masked double predicts w((p*7) mod 61) at position p, confidently.
	masked := &funcDenoiser{vocab: 64, fill: func(_ []int64, p int, out []float32) {
		for i := range out {
			out[i] = 0
		}
		out[(p*7)%61] = 6
	}}
	text, err := llada.New(masked, cm.Tokenizer(), testContract(64, 63))
	require.NoError(t, err)
	var shapes [][2]int
	var sentences []string
	for a := 0; a < 10; a++ {
		var words []string
		for p := 0; p < 16; p++ {
			words = append(words, fmt.Sprintf("w%d", (a*5+p*3)%61))
		}
		sentences = append(sentences, strings.Join(words, " "))
	}
	return Data{Text: text, Continuous: cm, Judge: nextTokenJudge(t, 64, 0.9, &shapes), Sentences: sentences}
}

func continuousConfig() Config {
	return Config{Tasks: []string{TaskInfill, TaskGenPPL}, Samplers: []string{"llada-low-confidence"}, TokensPerStep: []int{1},
		ContinuousSteps: []int{2, 4}, ContinuousInfillSteps: []int{2, 4}, Seed: 3, InfillSentences: 4, InfillLength: 12, InfillSpans: []int{1, 3},
		GenPrompts: 6, PromptLength: 4, GenLength: 8}
}

// TestRunContinuousSamplers runs infill and genppl with every continuous sampler on the tiny continuous model and
// checks that their rows follow the masked ones with finite scores, the right forward-pass counts, the given
// tokens of every infill canvas held, and the family marked in the report.
func TestRunContinuousSamplers(t *testing.T) {
	data := continuousTinyData(t)
	cfg := continuousConfig()
	rep, err := Run(context.Background(), cfg, data, nil)
	require.NoError(t, err)

	samplers := llada.ContinuousSamplerNames()
	want := len(samplers) * len(cfg.ContinuousSteps)
	require.Len(t, rep.Samples, 1+want, "one masked row, then every continuous sampler at every step count")
	require.Len(t, rep.Infill, 1+want)
	assert.False(t, rep.Samples[0].Decoding.Continuous())
	nfe := func(d Decoding) float64 {
		if d.Sampler == llada.SamplerHeun {
			return float64(2*d.Steps - 1) // Heun's second pass is skipped on the last step, to sigma 0
		}
		return float64(d.Steps)
	}
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	i := 1
	for _, s := range samplers {
		for _, n := range cfg.ContinuousSteps {
			row := rep.Samples[i]
			d := row.Decoding
			require.Equal(t, s, d.Sampler)
			require.Equal(t, n, d.Steps)
			assert.True(t, d.Continuous(), d.Label())
			assert.Equal(t, s+" (continuous)", d.Name())
			assert.Equal(t, fmt.Sprintf("steps=%d", n), d.Setting())
			assert.Equal(t, cfg.GenPrompts, row.Samples, d.Label())
			assert.Equal(t, nfe(d), row.MeanNFE, d.Label())
			assert.True(t, finite(row.GenPPL) && row.GenPPL >= 1, "%s gen PPL %v", d.Label(), row.GenPPL)
			assert.True(t, finite(row.SelfBLEU) && finite(row.Entropy), d.Label())
			for k, v := range row.Distinct {
				assert.True(t, v > 0 && v <= 1, "%s distinct-%d %v", d.Label(), k+1, v)
			}
			assert.Nil(t, row.Semantic, "no MAUVE for the continuous rows")

			in := rep.Infill[i]
			require.Equal(t, d, in.Decoding)
			assert.True(t, finite(in.TokenAcc) && in.TokenAcc >= 0 && in.TokenAcc <= 1, "%s token acc %v", d.Label(), in.TokenAcc)
			assert.Equal(t, nfe(d), in.MeanNFE, d.Label())
			assert.Equal(t, 4*2*3, in.Items, "4 sentences x 2 span lengths x 3 positions")
			require.Len(t, in.filled, in.Items)
			i++
		}
	}
	// Every canvas keeps its given tokens and has its span decoded to real tokens.
	seqs, err := SentencePrefixes(data.Text.Tokenizer(), data.Sentences, cfg.InfillLength, cfg.InfillSentences)
	require.NoError(t, err)
	items := InfillItems(seqs, cfg.InfillSpans)
	for _, row := range rep.Infill[1:] {
		for k, it := range items {
			f := row.filled[k]
			require.Len(t, f, len(it.Tokens))
			for j := range f {
				if j < it.Start || j >= it.Start+it.Len {
					require.Equal(t, it.Tokens[j], f[j], "%s item %d position %d: a given token moved", row.Decoding.Label(), k, j)
				} else {
					require.NotEqual(t, 63, f[j], "%s item %d position %d left masked", row.Decoding.Label(), k, j)
				}
			}
		}
	}
	// DDIM with eta 0 and Euler take the same steps on the same grid from the same seeded start.
	byLabel := map[string]SampleRow{}
	for _, row := range rep.Samples {
		byLabel[row.Decoding.Label()] = row
	}
	assert.Equal(t, byLabel["ddim steps=4"].GenPPL, byLabel["euler steps=4"].GenPPL)

	var md, sum bytes.Buffer
	require.NoError(t, rep.WriteMarkdown(&md, MarkdownOptions{}))
	require.NoError(t, rep.WriteSummary(&sum, MarkdownOptions{}, "docs/eval"))
	for _, out := range []string{md.String(), sum.String()} {
		assert.Contains(t, out, "| dpm-solver++ (continuous) | steps=4 |")
		assert.Contains(t, out, "Rows marked (continuous)")
	}

	// The same run is reproducible: seeded noise, seeded batches.
	again, err := Run(context.Background(), cfg, data, nil)
	require.NoError(t, err)
	for k := range rep.Samples {
		assert.Equal(t, rep.Samples[k].GenPPL, again.Samples[k].GenPPL, rep.Samples[k].Decoding.Label())
	}
}

// TestRunContinuousBadInput checks that a sampler of the wrong family or a model that is not continuous fails
// before any generation.
func TestRunContinuousBadInput(t *testing.T) {
	data := continuousTinyData(t)
	ctx := context.Background()

	cfg := continuousConfig()
	cfg.ContinuousSamplers = []string{"llada-random"}
	_, err := Run(ctx, cfg, data, nil)
	require.ErrorIs(t, err, ErrUnknownSampler)
	assert.Contains(t, err.Error(), "dpm-solver++", "the error lists the continuous samplers")

	cfg = continuousConfig()
	cfg.ContinuousSteps = []int{-2}
	_, err = Run(ctx, cfg, data, nil)
	require.ErrorIs(t, err, ErrBadConfig)

	notCont := data
	notCont.Continuous = data.Text
	_, err = Run(ctx, continuousConfig(), notCont, nil)
	require.ErrorIs(t, err, ErrBadConfig)
	assert.Contains(t, err.Error(), "llada.family")

	// The masked entry points refuse a continuous sampler instead of running it on the masked model.
	dec := Decoding{Sampler: llada.SamplerDDIM, Steps: 2}
	_, _, err = Sample(ctx, data.Text.Denoiser(), data.Text.Contract(), [][]int{{1, 2}}, 4, dec, 0, 1)
	require.ErrorIs(t, err, ErrBadConfig)
	_, err = InfillModel(ctx, data.Continuous, []InfillItem{{Tokens: []int{1, 2, 3}, Start: 1, Len: 1}},
		Decoding{Sampler: "llada-random", TokensPerStep: 1}, 0, 1)
	require.ErrorIs(t, err, ErrBadConfig)
	assert.Contains(t, err.Error(), "heun")
}
