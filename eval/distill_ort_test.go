//go:build cgo

package eval

import (
	"bytes"
	"context"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/llada-go/llada"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// withDistill returns a masked model over den carrying llada.distill.* keys in its contract's Extra, as
// ParseContract keeps them.
func withDistill(t *testing.T, den llada.Denoiser, tok llada.Tokenizer, c llada.Contract, keys map[string]string) *llada.Model {
	t.Helper()
	c.Extra = keys
	m, err := llada.New(den, tok, c)
	require.NoError(t, err)
	return m
}

// TestRunDistillStudents compares three students with their teachers: the tiny continuous model's copy with
// progressive keys (testdata/distill/continuous: ddim at 2 steps) against testdata/continuous-tiny, a masked
// double recommending fast-dllm-threshold (an adaptive sampler: its knob is swept, not the NFE) against the masked
// text double, and a Sudoku solver double against itself. It checks the rows (teacher first, with the student's
// sampler and budgets), the forward passes and tokens per pass, and the report's key lines.
func TestRunDistillStudents(t *testing.T) {
	data := continuousTinyData(t)
	pd, err := llada.Open(filepath.Join("..", "testdata", "distill", "continuous"), llada.WithIntraOpThreads(1))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, pd.Close()) })
	cf := withDistill(t, data.Text.Denoiser(), data.Text.Tokenizer(), data.Text.Contract(), map[string]string{
		llada.DistillMethodKey: llada.DistillCertaintyForcing, llada.DistillSamplerKey: "fast-dllm-threshold"})
	sc := testContract(13, sudokuMask)
	sc.MaxSeqLen = 81
	sudoku := withDistill(t, sudokuSolverDenoiser(), sudokuTokenizer(), sc, map[string]string{
		llada.DistillMethodKey: llada.DistillSDTT, llada.DistillSamplerKey: "llada-low-confidence", llada.DistillStepsKey: "12"})
	teacherSudoku, err := llada.New(sudokuSolverDenoiser(), sudokuTokenizer(), sc)
	require.NoError(t, err)
	data.Sudoku, data.Puzzles = teacherSudoku, loadTestPuzzles(t)[:6]
	sd := withDistill(t, data.Text.Denoiser(), data.Text.Tokenizer(), data.Text.Contract(), map[string]string{
		llada.DistillMethodKey: llada.DistillSDTT, llada.DistillSamplerKey: "llada-low-confidence", llada.DistillStepsKey: "4"})
	data.Students = []Student{{Label: "pd", Model: pd}, {Label: "cf", Model: cf}, {Label: "sd", Model: sd}, {Label: "sud", Model: sudoku}}

	cfg := continuousConfig()
	cfg.Tasks = []string{TaskDistill}
	cfg.DistillNFE = []int{4, 8}
	cfg.SudokuPuzzles = 6
	rep, err := Run(context.Background(), cfg, data, nil)
	require.NoError(t, err)

	type key struct{ task, model, setting string }
	rows := map[key]DistillRow{}
	var order []string
	for _, r := range rep.Distill {
		rows[key{r.Task, r.Model, r.Decoding.Setting()}] = r
		if len(order) == 0 || order[len(order)-1] != r.Family+"/"+r.Model {
			order = append(order, r.Family+"/"+r.Model)
		}
	}
	// The masked teacher runs both masked students' samplers, then the students follow in the given order.
	assert.Equal(t, []string{"masked/teacher", "masked/cf", "masked/sd", "continuous/teacher", "continuous/pd", "sudoku/teacher", "sudoku/sud"}, order)
	// Continuous: ddim at 8, 4 and the recommended 2 solver steps, one pass each, for teacher and student.
	for _, m := range []string{TeacherLabel, "pd"} {
		for _, n := range []int{8, 4, 2} {
			r, ok := rows[key{TaskGenPPL, m, "steps=" + strconv.Itoa(n)}]
			require.True(t, ok, "%s steps=%d", m, n)
			assert.Equal(t, llada.SamplerDDIM, r.Decoding.Sampler)
			assert.Equal(t, float64(n), r.NFE)
			assert.InDelta(t, float64(cfg.GenLength)/float64(n), r.TokensPerPass, 1e-9)
			_, ok = rows[key{TaskInfill, m, "steps=" + strconv.Itoa(n)}]
			assert.True(t, ok)
		}
	}
	assert.Equal(t, 2, rows[key{TaskGenPPL, "pd", "steps=2"}].Recommended)
	// Adaptive: the threshold swept (first two values, one per NFE budget), passes decided by the sampler.
	for _, m := range []string{TeacherLabel, "cf"} {
		for _, s := range []string{"τ=0.9", "τ=0.5"} {
			r, ok := rows[key{TaskGenPPL, m, s}]
			require.True(t, ok, "%s %s", m, s)
			assert.Greater(t, r.NFE, 0.0)
			assert.InDelta(t, float64(cfg.GenLength)/r.NFE, r.TokensPerPass, 1e-9)
		}
	}
	// Sudoku: ceil(blanks/n) cells per pass for n = 8, 4 and the recommended 12.
	var sud []DistillRow
	for _, r := range rep.Distill {
		if r.Task == TaskSudoku && r.Model == "sud" {
			sud = append(sud, r)
		}
	}
	require.Len(t, sud, 3)
	for _, r := range sud {
		assert.Greater(t, r.Sudoku.SolvedRate(), 0.0, r.Decoding.Label())
		// cells per pass x passes = the mean blanks, whatever the budget
		assert.InDelta(t, sud[0].TokensPerPass*sud[0].NFE, r.TokensPerPass*r.NFE, 1e-9)
	}
	assert.Greater(t, sud[0].NFE, sud[2].NFE, "the largest budget (the recommended 12) first: fewer cells per pass, more passes")

	var md bytes.Buffer
	require.NoError(t, rep.WriteMarkdown(&md, MarkdownOptions{}))
	for _, want := range []string{"## Distillation: teachers vs students", "| continuous | pd (progressive) | ddim | steps=2 | 2.0 | 4.00 |",
		"**pd** (progressive, ddim) at 2.0 NFE: gen PPL", "**cf** (certainty-forcing, fast-dllm-threshold) vs teacher: τ=0.9:",
		"**sud** (sdtt, llada-low-confidence) at", "| sud (sdtt) | llada-low-confidence |",
		"The teacher at one token per pass (llada-low-confidence k=1, 8 NFE): gen PPL", "**sd** (sdtt, llada-low-confidence) at 4.0 NFE"} {
		assert.Contains(t, md.String(), want)
	}
	assert.Len(t, rep.distillKeyLines(), 4, "one key line per student")
}

// TestDistillValidation: students that cannot be compared are errors before anything runs.
func TestDistillValidation(t *testing.T) {
	data := continuousTinyData(t)
	masked := func(keys map[string]string) *llada.Model {
		return withDistill(t, data.Text.Denoiser(), data.Text.Tokenizer(), data.Text.Contract(), keys)
	}
	cfg := continuousConfig()
	cfg.Tasks = []string{TaskDistill}
	for _, tc := range []struct {
		name     string
		students []Student
		cont     bool
		want     string
	}{
		{"none", nil, true, "needs at least one student"},
		{"teacher label", []Student{{Label: TeacherLabel, Model: masked(nil)}}, true, `label "teacher"`},
		{"duplicate label", []Student{{Label: "a", Model: masked(nil)}, {Label: "a", Model: masked(nil)}}, true, `label "a"`},
		{"masked student, continuous sampler", []Student{{Label: "a", Model: masked(map[string]string{llada.DistillSamplerKey: "ddim"})}}, true,
			`masked student a recommends the continuous sampler "ddim"`},
		{"continuous student without its teacher", []Student{{Label: "pd", Model: data.Continuous}}, false, "needs its teacher"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := data
			d.Students = tc.students
			if !tc.cont {
				d.Students = []Student{{Label: "pd", Model: data.Continuous}}
				d.Continuous = nil
			}
			_, err := Run(context.Background(), cfg, d, nil)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrBadConfig)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}
