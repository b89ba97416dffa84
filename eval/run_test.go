package eval

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/llada-go/llada"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeData builds every input of Run from test doubles: an arithmetic-sequence text model (perfect at infill
// from context), the rule-following Sudoku solver and a next-token judge over the text model's vocabulary.
func fakeData(t *testing.T) Data {
	names := make([]string, arithVocab)
	for i := range names {
		names[i] = fmt.Sprintf("t%d", i)
	}
	text, err := llada.New(arithDenoiser(false), wordTokenizer{names: names}, testContract(arithVocab, arithMask))
	require.NoError(t, err)
	sc := testContract(13, sudokuMask)
	sc.MaxSeqLen = 81
	sudoku, err := llada.New(sudokuSolverDenoiser(), sudokuTokenizer(), sc)
	require.NoError(t, err)
	var shapes [][2]int
	judge := nextTokenJudge(t, arithVocab, 0.9, &shapes)
	var sentences []string
	for a := 0; a < 12; a++ {
		var words []string
		for _, id := range arithSeq(a, 20) {
			words = append(words, names[id])
		}
		sentences = append(sentences, strings.Join(words, " "))
	}
	return Data{Text: text, Sudoku: sudoku, Judge: judge, Sentences: sentences, Puzzles: loadTestPuzzles(t)}
}

func smallConfig() Config {
	return Config{Samplers: []string{"llada-low-confidence", "llada-random", "fast-dllm-threshold"}, TokensPerStep: []int{1, 4},
		SudokuSamplers: []string{"llada-random", "llada-low-confidence", "llada-margin"}, SudokuTokensPerStep: []int{1, 4}, Seed: 7,
		InfillSentences: 6, InfillLength: 12, InfillSpans: []int{1, 4}, SudokuPuzzles: 12,
		GenPrompts: 6, PromptLength: 4, GenLength: 8, LikelihoodSeqs: 4, LikelihoodLength: 16,
		MC: MCConfig{Samples: 16, Batch: 8}}
}

func TestRunAllTasks(t *testing.T) {
	var progress bytes.Buffer
	rep, err := Run(context.Background(), smallConfig(), fakeData(t), &progress)
	require.NoError(t, err)

	require.Len(t, rep.Infill, 6, "2 budgets for each step-count sampler, 2 thresholds for fast-dllm-threshold")
	assert.Equal(t, "fast-dllm-threshold τ=0.5", rep.Infill[5].Decoding.Label())
	for _, row := range rep.Infill {
		if row.Decoding.Sampler != "llada-random" {
			assert.Equal(t, 1.0, row.ExactMatch, "the arithmetic model infills perfectly from context (%s)", row.Decoding.Label())
		}
		assert.Equal(t, 6*2*3, row.Items)
	}
	assert.InDelta(t, (1+4)/2.0, rep.Infill[0].MeanNFE, 1e-12, "k=1: spans of 1 and 4 take 1 and 4 passes")
	assert.InDelta(t, 1, rep.Infill[1].MeanNFE, 1e-12, "k=4: one pass each")

	require.Len(t, rep.Sudoku, 6)
	solved := map[string]int{}
	for _, row := range rep.Sudoku {
		if row.Decoding.TokensPerStep == 1 {
			solved[row.Decoding.Sampler] = row.Solved
		}
	}
	assert.Greater(t, solved["llada-low-confidence"], solved["llada-random"])
	assert.Greater(t, solved["llada-margin"], solved["llada-random"])

	require.Len(t, rep.Samples, 6)
	for _, row := range rep.Samples {
		assert.Equal(t, 6, row.Samples)
		if row.Decoding.Sampler == "fast-dllm-threshold" {
			// The arithmetic model is confident everywhere once it sees a token: one pass decodes all 8.
			assert.InDelta(t, 1, row.MeanNFE, 1e-12)
			continue
		}
		assert.InDelta(t, float64(8/row.Decoding.TokensPerStep), row.MeanNFE, 1e-12)
		assert.False(t, math.IsNaN(row.GenPPL) || row.GenPPL < 1, "gen ppl %v", row.GenPPL)
		assert.Equal(t, 1.0, row.Decoding.Temperature)
	}
	// With context, the arithmetic model continues each sequence exactly; the judge (next = previous+1 with
	// p=0.9) agrees except where the sequence wraps around, so greedy-quality samples score near 1/0.9.
	for _, row := range rep.Samples {
		if row.Decoding.Sampler == "llada-low-confidence" && row.Decoding.TokensPerStep == 1 {
			assert.Less(t, row.GenPPL, 3.0)
		}
	}

	require.NotNil(t, rep.Likelihood)
	assert.Equal(t, 4*16, rep.Likelihood.Bound.Copies)
	assert.Greater(t, rep.Likelihood.Bound.PerToken(), 0.0)
	assert.Less(t, rep.Likelihood.Bound.PerToken(), math.Log(arithVocab))

	assert.Contains(t, progress.String(), "19/20 likelihood")
	assert.Contains(t, progress.String(), "20/20 calibration")

	var md bytes.Buffer
	// The figures themselves are drawn and tested in package eval/plots.
	plots := map[string]string{TaskGenPPL: "genppl.png", TaskInfill: "infill.png", TaskSudoku: "sudoku.png", TaskCalibration: "calibration.png"}
	require.NoError(t, rep.WriteMarkdown(&md, MarkdownOptions{Command: "llada eval", Plots: plots}))
	for _, want := range []string{"## Samples", "## Infill", "## Sudoku", "## Likelihood bound", "| llada-random | k=4 |", "(sudoku.png)"} {
		assert.Contains(t, md.String(), want)
	}
	var sum bytes.Buffer
	require.NoError(t, rep.WriteSummary(&sum, MarkdownOptions{Command: "llada eval", Plots: plots}, "docs/eval"))
	for _, want := range []string{"`llada eval`", "| llada-low-confidence | k=1 | 8.0 |", "| 2.50 | 1.000 |", "(docs/eval/genppl.png)",
		"(docs/eval/sudoku.png)", "**Likelihood.**", "Solved at one cell per forward pass: llada-random 0.0% (0/12), llada-low-confidence 100.0% (12/12)", "| llada-random | k=4 | 11."} {
		assert.Contains(t, sum.String(), want)
	}

	again, err := Run(context.Background(), smallConfig(), fakeData(t), nil)
	require.NoError(t, err)
	assert.Equal(t, rep.Likelihood.Bound.NLL, again.Likelihood.Bound.NLL)
	for i := range rep.Samples {
		assert.Equal(t, rep.Samples[i].GenPPL, again.Samples[i].GenPPL, "seeded sampling is reproducible")
	}
}

func TestRunBadInput(t *testing.T) {
	good := fakeData(t)
	words := wordTokenizer{names: []string{"<mask>", "a", "b", "c"}}
	notSudoku, err := llada.New(arithDenoiser(false), words, testContract(arithVocab, arithMask))
	require.NoError(t, err)
	var shapes [][2]int
	otherJudge := nextTokenJudge(t, 4096, 0.5, &shapes)
	for _, tc := range []struct {
		name string
		cfg  func(*Config)
		data func(*Data)
		want error
		msg  string
	}{
		{"unknown task", func(c *Config) { c.Tasks = []string{"infill", "rouge"} }, nil, ErrUnknownTask, `"rouge"`},
		{"unknown sampler", func(c *Config) { c.Samplers = []string{"beam-search"} }, nil, ErrUnknownSampler, `"beam-search"`},
		{"unknown sudoku sampler", func(c *Config) { c.SudokuSamplers = []string{"x"} }, nil, ErrUnknownSampler, `"x"`},
		{"no sentences", nil, func(d *Data) { d.Sentences = nil }, ErrEmptyDataset, "no held-out sentences"},
		{"no puzzles", nil, func(d *Data) { d.Puzzles = nil }, ErrEmptyDataset, "no puzzles"},
		{"judge vocabulary", nil, func(d *Data) { d.Judge = otherJudge }, ErrVocabMismatch, "the model has 40 tokens but the judge has 4096"},
		{"no judge", func(c *Config) { c.Tasks = []string{TaskGenPPL} }, func(d *Data) { d.Judge = nil }, ErrBadConfig, "judge"},
		{"text model for sudoku", nil, func(d *Data) { d.Sudoku = notSudoku }, ErrNotSudokuModel, "digit 1"},
		{"no text model", func(c *Config) { c.Tasks = []string{TaskLikelihood} }, func(d *Data) { d.Text = nil }, ErrBadConfig, "text model"},
		{"zero budget", func(c *Config) { c.TokensPerStep = []int{0} }, nil, ErrBadConfig, "tokens per step"},
		{"zero sudoku budget", func(c *Config) { c.SudokuTokensPerStep = []int{2, -1} }, nil, ErrBadConfig, "tokens per step -1"},
		{"span too long", func(c *Config) { c.InfillSpans = []int{40} }, nil, ErrBadConfig, "infill span 40"},
		{"sentences too short", func(c *Config) { c.Tasks = []string{TaskInfill}; c.InfillLength = 30; c.InfillSpans = []int{1} }, nil, ErrEmptyDataset, "no sentence has 30 tokens"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, data := smallConfig(), good
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			if tc.data != nil {
				tc.data(&data)
			}
			_, err := Run(context.Background(), cfg, data, nil)
			require.ErrorIs(t, err, tc.want)
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
}
