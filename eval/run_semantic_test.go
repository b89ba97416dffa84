package eval

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// featureJudge is the next-token judge of fakeData with the embedding featurizer as its hidden states.
type featureJudge struct {
	Network
	*embedFeaturizer
}

func semanticData(t *testing.T) Data {
	d := fakeData(t)
	j, err := NewJudge(featureJudge{d.Judge.net, &embedFeaturizer{dim: 16}}, arithVocab, 64)
	require.NoError(t, err)
	d.Judge = j
	return d
}

func TestRunSemantics(t *testing.T) {
	cfg := smallConfig()
	cfg.Tasks = []string{TaskInfill, TaskGenPPL, TaskCalibration}
	cfg.MauvePrompts = 6
	cfg.ParaphrasePairs = 10
	rep, err := Run(context.Background(), cfg, semanticData(t), nil)
	require.NoError(t, err)

	require.NotNil(t, rep.Paraphrase)
	assert.Equal(t, 10, rep.Paraphrase.Pairs)
	require.Len(t, rep.MauveReferences, 3)
	for i, name := range []string{refSameDocs, refHeldOut, refUnigram} {
		assert.Equal(t, name, rep.MauveReferences[i].Name)
		assert.Greater(t, rep.MauveReferences[i].GenPPL, 1.0, name)
	}
	assert.Greater(t, rep.MauveHumanGenPPL, 1.0)
	// The fake judge predicts x+1 after x: the unigram draws are far less likely than held-out text.
	assert.Greater(t, rep.MauveReferences[2].GenPPL, 2*rep.MauveHumanGenPPL)
	for _, row := range rep.Infill {
		require.NotNil(t, row.Semantic, row.Decoding.Label())
		if row.ExactMatch == 1 {
			assert.InDelta(t, 1, row.Semantic.F1, 1e-6, "a perfect infill is its reference")
		}
	}
	for _, row := range rep.Samples {
		require.NotNil(t, row.Semantic, row.Decoding.Label())
		assert.Equal(t, 6, row.Semantic.MauveSamples)
		assert.Equal(t, 2, row.Semantic.Mauve.Buckets)
		assert.Greater(t, row.Semantic.Words.Distinct[0], 0.0)
	}
	require.NotNil(t, rep.Calibration)
	assert.Greater(t, rep.Calibration.Tokens, 0)

	// The plot files are drawn and tested in package eval/plots; here only their names reach the markdown.
	plots := map[string]string{TaskGenPPL: "genppl.png", TaskInfill: "infill.png", PlotMauve: "mauve.png", PlotCalibration: "calibration.png"}
	var md, sum bytes.Buffer
	require.NoError(t, rep.WriteMarkdown(&md, MarkdownOptions{Plots: plots}))
	for _, want := range []string{"## Semantic fidelity and mode coverage", "### MAUVE and word-level diversity", "| *unigram samples* |",
		"### Semantic similarity of infills", "### Calibration of the denoiser", "(mauve.png)", "(calibration.png)", "Spearman ρ"} {
		assert.Contains(t, md.String(), want)
	}
	require.NoError(t, rep.WriteSummary(&sum, MarkdownOptions{Plots: plots}, "docs/eval"))
	for _, want := range []string{"**Semantic fidelity and mode coverage.**", "(docs/eval/mauve.png)", "**Calibration.**", "Infill, BERTScore-style F1"} {
		assert.Contains(t, sum.String(), want)
	}

	again, err := Run(context.Background(), cfg, semanticData(t), nil)
	require.NoError(t, err)
	for i := range rep.Samples {
		assert.Equal(t, rep.Samples[i].Semantic.Mauve, again.Samples[i].Semantic.Mauve, "seeded")
	}

	// Without features the semantic parts are absent, not an error.
	plain, err := Run(context.Background(), cfg, fakeData(t), nil)
	require.NoError(t, err)
	assert.Nil(t, plain.Paraphrase)
	assert.Nil(t, plain.Samples[0].Semantic)
	assert.NotNil(t, plain.Calibration)

	cfg.MauvePrompts = 40
	_, err = Run(context.Background(), cfg, semanticData(t), nil)
	require.ErrorIs(t, err, ErrEmptyDataset)
	require.ErrorContains(t, err, "MAUVE needs 80 held-out sentences")
}

// The notes read the reference rows and the rankings rather than assuming them.
func TestReferenceAndRankingNotes(t *testing.T) {
	ref := func(name string, m float64) MauveReference {
		return MauveReference{Name: name, Mauve: MauveResult{Mauve: m}, GenPPL: 100}
	}
	r := &Report{Config: Config{MauvePrompts: 48}, MauveHumanGenPPL: 100,
		MauveReferences: []MauveReference{ref(refSameDocs, 0.95), ref(refHeldOut, 0.8), ref(refUnigram, 0.01)}}
	assert.Contains(t, r.referenceNote(), "the expected orderings hold")
	r.MauveReferences[2].Mauve.Mauve = 0.3
	assert.Contains(t, r.referenceNote(), "do NOT hold")
	r.MauveReferences = r.MauveReferences[1:]
	assert.Empty(t, r.referenceNote(), "a missing reference row gives no note")

	// gen PPL 10, 100, 1000 against human 100: MAUVE 0.2, 0.9, 0.1 follows closeness to 100 exactly (ρ = 1) and
	// not the one-sided order (ρ = 0.5).
	var rows []SampleRow
	for i, c := range []struct{ ppl, mauve float64 }{{10, 0.2}, {100, 0.9}, {1000, 0.1}} {
		rows = append(rows, SampleRow{Decoding: Decoding{Sampler: fmt.Sprintf("s%d", i)}, SampleScore: SampleScore{GenPPL: c.ppl},
			Semantic: &SampleSemantics{Mauve: MauveResult{Mauve: c.mauve}}})
	}
	note := rankingNote(rows, 100)
	assert.Contains(t, note, "by MAUVE (higher first) is 0.50")
	assert.Contains(t, note, "(|ln gen PPL − ln 100.0|, smaller first), 1.00")
	assert.NotContains(t, rankingNote(rows, 0), "closeness")
	// Places by gen PPL 1, 2, 3 and by MAUVE 2, 1, 3: the first two move by one place, the third not at all.
	assert.Contains(t, note, "moves most between the two orders: s0 ")
	assert.Contains(t, note, "(gen PPL 10.0, place 1; MAUVE 0.200, place 2); s1 ")
	assert.Contains(t, note, "(gen PPL 100.0, place 2; MAUVE 0.900, place 1).")
	assert.NotContains(t, note, "gen PPL 1000.0, place")
}
