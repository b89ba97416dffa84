package eval

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/llada-go/llada"
)

// Task names.
const (
	TaskInfill     = "infill"
	TaskSudoku     = "sudoku"
	TaskGenPPL     = "genppl"
	TaskLikelihood = "likelihood"
	// TaskCalibration checks the denoiser's confidence on held-out masked tokens (calibration.go).
	TaskCalibration = "calibration"
)

// TaskNames lists the tasks in the order Run runs them.
func TaskNames() []string {
	return []string{TaskInfill, TaskSudoku, TaskGenPPL, TaskLikelihood, TaskCalibration}
}

// ParseTasks checks a list of task names; empty means all.
func ParseTasks(names []string) ([]string, error) {
	if len(names) == 0 {
		return TaskNames(), nil
	}
	known := append(TaskNames(), TaskDistill) // distill needs students, so it is not in the default run
	var out []string
	for _, n := range names {
		if !slices.Contains(known, n) {
			return nil, fmt.Errorf("%w %q (known: %s)", ErrUnknownTask, n, strings.Join(known, ", "))
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// Config selects the tasks, samplers, budgets and sizes of a run. Zero fields take the defaults listed, which
// are sized so that the whole default run fits in about ten minutes on two CPU cores with the project's models.
type Config struct {
	Tasks []string // default TaskNames()
	// Samplers evaluated on the text tasks (infill, genppl); default SamplerNames().
	Samplers []string
	// SudokuSamplers evaluated on Sudoku; default DefaultSudokuSamplers().
	SudokuSamplers []string
	// TokensPerStep are the NFE budgets of the text tasks (see Decoding.TokensPerStep); default 1, 2, 4, 8.
	TokensPerStep []int
	// SudokuTokensPerStep are the budgets on Sudoku (about 47 blanks per puzzle); default 1, 3, 9.
	SudokuTokensPerStep []int
	Seed                uint64
	Batch               int // rows per generation; default 32

	InfillSentences int   // default 16
	InfillLength    int   // tokens per infill sequence; default 24
	InfillSpans     []int // default 1, 2, 4, 8

	SudokuPuzzles int // default 80

	GenPrompts     int     // default 24
	PromptLength   int     // default 8
	GenLength      int     // default 32
	GenTemperature float64 // default 1; negative means 0 (greedy)

	LikelihoodSeqs   int      // default 32
	LikelihoodLength int      // default 64
	MC               MCConfig // default 128 copies per sequence (LLaDA's mc_num) in draws of 16

	// ContinuousSamplers are the continuous-family samplers evaluated on infill and genppl when Data.Continuous
	// is set; default llada.ContinuousSamplerNames(). ContinuousSteps are their budgets on genppl, in solver
	// steps (one forward pass each, heun two but one on its last step); default 8, 32. ContinuousInfillSteps
	// are their budgets on infill, default 8 only: infill decodes 8 times as many rows as genppl (192 against
	// 24 by default), and every continuous step does Go-side work over V x D at every position; at 32 steps the
	// five samplers' infill took about 5 minutes on the shared 2-core machine, against about 1 at 8.
	ContinuousSamplers    []string
	ContinuousSteps       []int
	ContinuousInfillSteps []int

	// Semantic metrics (run_semantic.go), computed when the judge has hidden-state features.
	// MauvePrompts is the number of prompts whose continuations MAUVE compares with the human ones: the
	// GenPrompts genppl samples and more drawn the same way; default 48.
	MauvePrompts int
	// ParaphrasePairs is the size of the feature check (paraphrase-like vs unrelated pairs); default 128.
	ParaphrasePairs int
	// CalibrationCopies masked copies of each likelihood window (default 4) and CalibrationBins (default 15).
	CalibrationCopies, CalibrationBins int

	// DistillNFE is the forward-pass sweep of the teacher-vs-student comparison (TaskDistill, distill.go):
	// solver steps for continuous samplers, ceil(length/n) tokens per pass for masked step-count samplers;
	// default 4, 8, 16, 32. DistillTemperature is the masked samplers' temperature there (0, the default:
	// greedy, the decoding the students are distilled for).
	DistillNFE         []int
	DistillTemperature float64
}

// DefaultSudokuSamplers are the decoding orders compared on Sudoku: random order, the most probable token first,
// and the largest top-1/top-2 margin first (Kim et al. 2025), under LLaDA's schedule and under Dream's.
func DefaultSudokuSamplers() []string {
	var out []string
	for _, n := range []string{"llada-random", "llada-low-confidence", "llada-margin", "dream-topk-margin"} {
		if slices.Contains(SamplerNames(), n) {
			out = append(out, n)
		}
	}
	return out
}

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	if len(c.Samplers) == 0 {
		c.Samplers = SamplerNames()
	}
	if len(c.SudokuSamplers) == 0 {
		c.SudokuSamplers = DefaultSudokuSamplers()
	}
	if len(c.TokensPerStep) == 0 {
		c.TokensPerStep = []int{1, 2, 4, 8}
	}
	if len(c.ContinuousSamplers) == 0 {
		c.ContinuousSamplers = llada.ContinuousSamplerNames()
	}
	if len(c.ContinuousSteps) == 0 {
		c.ContinuousSteps = []int{8, 32}
	}
	if len(c.ContinuousInfillSteps) == 0 {
		c.ContinuousInfillSteps = []int{8}
	}
	if len(c.SudokuTokensPerStep) == 0 {
		c.SudokuTokensPerStep = []int{1, 3, 9}
	}
	def(&c.Batch, 32)
	def(&c.InfillSentences, 16)
	def(&c.InfillLength, 24)
	if len(c.InfillSpans) == 0 {
		c.InfillSpans = []int{1, 2, 4, 8}
	}
	def(&c.SudokuPuzzles, 80)
	def(&c.GenPrompts, 24)
	def(&c.PromptLength, 8)
	def(&c.GenLength, 32)
	if c.GenTemperature == 0 {
		c.GenTemperature = 1
	} else if c.GenTemperature < 0 {
		c.GenTemperature = 0
	}
	def(&c.LikelihoodSeqs, 32)
	def(&c.LikelihoodLength, 64)
	def(&c.MC.Samples, 128)
	def(&c.MC.Batch, 16)
	def(&c.MauvePrompts, 48)
	c.MauvePrompts = max(c.MauvePrompts, c.GenPrompts)
	def(&c.ParaphrasePairs, 128)
	if len(c.DistillNFE) == 0 {
		c.DistillNFE = []int{4, 8, 16, 32}
	}
	def(&c.CalibrationCopies, 4)
	def(&c.CalibrationBins, 15)
	return c
}

// Data is what the tasks run on. Only the parts the selected tasks need must be set: Text and Sentences for
// infill, genppl and likelihood, Judge for genppl, Sudoku and Puzzles for sudoku. Continuous, when set, is a
// continuous-family model (llada.family = continuous) whose samplers join the masked ones on infill and genppl,
// on the same sentences and prompts.
type Data struct {
	Text       *llada.Model
	Continuous *llada.Model
	Sudoku     *llada.Model
	Judge      *Judge
	Sentences  []string
	Puzzles    []Puzzle
	// Students are distilled models compared with their teachers (Text, Continuous or Sudoku) by TaskDistill.
	Students []Student
}

// Report holds everything a run measured.
type Report struct {
	Config     Config
	Infill     []InfillRow
	Sudoku     []SudokuRow
	Samples    []SampleRow
	Likelihood *LikelihoodRow
	Elapsed    time.Duration

	// Feature-based results (nil or empty when the judge has no features): the paraphrase check of the
	// features, the MAUVE reference rows, and the calibration task.
	Paraphrase      *SeparationScore
	MauveReferences []MauveReference
	// MauveHumanGenPPL is the judge's generative perplexity of the human continuations MAUVE compares with.
	MauveHumanGenPPL float64
	Calibration      *CalibrationScore

	// Distill holds the teacher-vs-student rows of TaskDistill (distill.go).
	Distill []DistillRow
}

// InfillRow is one sampler setting on the infill task.
type InfillRow struct {
	Decoding Decoding
	InfillScore
	Semantic *SimilarityScore // nil without judge features
}

// SudokuRow is one sampler setting on Sudoku.
type SudokuRow struct {
	Decoding Decoding
	SudokuScore
}

// SampleRow is one sampler setting on the genppl task.
type SampleRow struct {
	Decoding Decoding
	SampleScore
	Semantic *SampleSemantics // nil without judge features
}

// LikelihoodRow is the Monte-Carlo likelihood bound of held-out text.
type LikelihoodRow struct {
	Sequences, Length int
	MC                MCConfig
	Bound             Bound
	CopiesPerSecond   float64
}

// Run evaluates the selected tasks. Everything is validated before the first long step: unknown names, empty
// datasets, missing models, a judge whose vocabulary differs from the model's, a model given to the sudoku task
// that is not a Sudoku model. Progress goes to progress (nil for none).
func Run(ctx context.Context, cfg Config, data Data, progressOut io.Writer) (*Report, error) {
	start := time.Now()
	tasks, err := ParseTasks(cfg.Tasks)
	if err != nil {
		return nil, err
	}
	cfg.Tasks = tasks
	cfg = cfg.withDefaults()
	if err := validate(ctx, cfg, data); err != nil {
		return nil, err
	}
	textDecs, err := decodings(cfg.Samplers, cfg.TokensPerStep, 0)
	if err != nil {
		return nil, err
	}
	sudokuDecs, err := decodings(cfg.SudokuSamplers, cfg.SudokuTokensPerStep, 0)
	if err != nil {
		return nil, err
	}
	// The continuous rows follow the masked ones in the same tables and plots, run on data.Continuous.
	var contDecs, contInfillDecs []Decoding
	if data.Continuous != nil {
		if contDecs, err = decodings(cfg.ContinuousSamplers, cfg.ContinuousSteps, 0); err != nil {
			return nil, err
		}
		if contInfillDecs, err = decodings(cfg.ContinuousSamplers, cfg.ContinuousInfillSteps, 0); err != nil {
			return nil, err
		}
	}
	modelOf := func(d Decoding) *llada.Model {
		if d.Continuous() {
			return data.Continuous
		}
		return data.Text
	}
	units := 0
	has := func(t string) bool { return slices.Contains(cfg.Tasks, t) }
	if has(TaskInfill) {
		units += len(textDecs) + len(contInfillDecs)
	}
	if has(TaskSudoku) {
		units += len(sudokuDecs)
	}
	if has(TaskGenPPL) {
		units += len(textDecs) + len(contDecs)
	}
	if has(TaskLikelihood) {
		units++
	}
	if has(TaskCalibration) {
		units++
	}
	if has(TaskDistill) {
		units += distillUnitsCount(cfg, data)
	}
	prog := newProgress(progressOut, units)
	rep := &Report{Config: cfg}
	sem, err := newSemantics(ctx, cfg, data, rep)
	if err != nil {
		return nil, err
	}

	if has(TaskInfill) {
		m := data.Text
		seqs, err := SentencePrefixes(m.Tokenizer(), data.Sentences, cfg.InfillLength, cfg.InfillSentences)
		if err != nil {
			return nil, fmt.Errorf("eval: infill: %w", err)
		}
		items := InfillItems(seqs, cfg.InfillSpans)
		for _, d := range append(slices.Clone(textDecs), contInfillDecs...) {
			s, err := InfillModel(ctx, modelOf(d), items, d, cfg.Batch, cfg.Seed)
			if err != nil {
				return nil, fmt.Errorf("eval: infill with %s: %w", d.Label(), err)
			}
			row := InfillRow{Decoding: d, InfillScore: s}
			if sem != nil {
				if row.Semantic, err = sem.infill(ctx, items, s.filled); err != nil {
					return nil, fmt.Errorf("eval: infill semantics with %s: %w", d.Label(), err)
				}
			}
			rep.Infill = append(rep.Infill, row)
			prog.step("infill " + d.Label())
		}
	}
	if has(TaskSudoku) {
		m := data.Sudoku
		puzzles := data.Puzzles[:min(cfg.SudokuPuzzles, len(data.Puzzles))]
		for _, d := range sudokuDecs {
			s, err := SolveSudoku(ctx, m.Denoiser(), m.Tokenizer(), m.Contract(), puzzles, d, cfg.Batch, cfg.Seed)
			if err != nil {
				return nil, fmt.Errorf("eval: sudoku with %s: %w", d.Label(), err)
			}
			rep.Sudoku = append(rep.Sudoku, SudokuRow{Decoding: d, SudokuScore: s})
			prog.step("sudoku " + d.Label())
		}
	}
	if has(TaskGenPPL) {
		m := data.Text
		prompts, err := SentencePrefixes(m.Tokenizer(), data.Sentences, cfg.PromptLength, cfg.GenPrompts)
		if err != nil {
			return nil, fmt.Errorf("eval: genppl: %w", err)
		}
		from := make([]int, len(prompts))
		for i, p := range prompts {
			from[i] = len(p)
		}
		for _, d := range append(slices.Clone(textDecs), contDecs...) {
			var seqs [][]int
			var fr FillResult
			if d.Continuous() {
				// Continuous samplers draw their own Gaussian noise and take no temperature.
				seqs, fr, err = SampleModel(ctx, data.Continuous, prompts, cfg.GenLength, d, cfg.Batch, cfg.Seed)
			} else {
				d.Temperature = cfg.GenTemperature
				seqs, fr, err = Sample(ctx, m.Denoiser(), m.Contract(), prompts, cfg.GenLength, d, cfg.Batch, cfg.Seed)
			}
			if err != nil {
				return nil, fmt.Errorf("eval: genppl with %s: %w", d.Label(), err)
			}
			s, err := ScoreSamples(ctx, data.Judge, seqs, from, cfg.Batch)
			if err != nil {
				return nil, fmt.Errorf("eval: genppl with %s: %w", d.Label(), err)
			}
			s.MeanNFE, s.Forwards, s.Seconds = fr.MeanNFE(), fr.Forwards, fr.Elapsed.Seconds()
			row := SampleRow{Decoding: d, SampleScore: s}
			// MAUVE needs as many samples again from more prompts; for the continuous model, whose Go-side
			// rounding over V x D dominates its step, that would double its share of the run, so its rows
			// carry the id-based diversity only.
			if sem != nil && !d.Continuous() {
				if row.Semantic, err = sem.samples(ctx, m, d, seqs); err != nil {
					return nil, fmt.Errorf("eval: genppl semantics with %s: %w", d.Label(), err)
				}
			}
			rep.Samples = append(rep.Samples, row)
			prog.step("genppl " + d.Label())
		}
	}
	if has(TaskLikelihood) {
		m := data.Text
		wins, err := TextWindows(m.Tokenizer(), data.Sentences, cfg.LikelihoodLength, cfg.LikelihoodSeqs)
		if err != nil {
			return nil, fmt.Errorf("eval: likelihood: %w", err)
		}
		items := make([]LikelihoodItem, len(wins))
		for i, w := range wins {
			items[i] = LikelihoodItem{Target: w}
		}
		mc := cfg.MC
		mc.Seed = cfg.Seed
		b, err := LikelihoodBound(ctx, m.Denoiser(), m.Contract(), items, mc)
		if err != nil {
			return nil, fmt.Errorf("eval: likelihood: %w", err)
		}
		rep.Likelihood = &LikelihoodRow{Sequences: len(items), Length: cfg.LikelihoodLength, MC: mc, Bound: b,
			CopiesPerSecond: float64(b.Copies) / b.Elapsed.Seconds()}
		prog.step("likelihood")
	}
	if has(TaskCalibration) {
		m := data.Text
		wins, err := TextWindows(m.Tokenizer(), data.Sentences, cfg.LikelihoodLength, cfg.LikelihoodSeqs)
		if err != nil {
			return nil, fmt.Errorf("eval: calibration: %w", err)
		}
		c, err := Calibration(ctx, m.Denoiser(), m.Contract(), wins, cfg.CalibrationCopies, cfg.CalibrationBins, cfg.Seed)
		if err != nil {
			return nil, fmt.Errorf("eval: calibration: %w", err)
		}
		rep.Calibration = &c
		prog.step("calibration")
	}
	if has(TaskDistill) {
		m := data.Text
		var items []InfillItem
		var prompts [][]int
		if m != nil {
			seqs, err := SentencePrefixes(m.Tokenizer(), data.Sentences, cfg.InfillLength, cfg.InfillSentences)
			if err != nil {
				return nil, fmt.Errorf("eval: distill: %w", err)
			}
			items = InfillItems(seqs, cfg.InfillSpans)
			if prompts, err = SentencePrefixes(m.Tokenizer(), data.Sentences, cfg.PromptLength, cfg.GenPrompts); err != nil {
				return nil, fmt.Errorf("eval: distill: %w", err)
			}
		}
		if err := runDistill(ctx, cfg, data, rep, prog, items, prompts); err != nil {
			return nil, err
		}
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// validate fails fast on everything that would make a task fail late.
func validate(ctx context.Context, cfg Config, data Data) error {
	for _, list := range [][]string{cfg.Samplers, cfg.SudokuSamplers} {
		for _, s := range list {
			if !slices.Contains(SamplerNames(), s) {
				return fmt.Errorf("%w %q (known: %s)", ErrUnknownSampler, s, strings.Join(SamplerNames(), ", "))
			}
		}
	}
	for _, s := range cfg.ContinuousSamplers {
		if !slices.Contains(llada.ContinuousSamplerNames(), s) {
			return fmt.Errorf("%w %q: not a continuous-family sampler (known: %s)", ErrUnknownSampler, s, strings.Join(llada.ContinuousSamplerNames(), ", "))
		}
	}
	for _, n := range append(slices.Clone(cfg.ContinuousSteps), cfg.ContinuousInfillSteps...) {
		if n < 1 {
			return fmt.Errorf("%w: continuous solver steps %d must be at least 1", ErrBadConfig, n)
		}
	}
	for _, k := range append(slices.Clone(cfg.TokensPerStep), cfg.SudokuTokensPerStep...) {
		if k < 1 {
			return fmt.Errorf("%w: tokens per step %d must be at least 1", ErrBadConfig, k)
		}
	}
	for _, k := range cfg.InfillSpans {
		if k < 1 || k > cfg.InfillLength {
			return fmt.Errorf("%w: infill span %d must be in 1..%d (the infill length)", ErrBadConfig, k, cfg.InfillLength)
		}
	}
	sizes := []struct {
		name string
		v    int
	}{{"batch", cfg.Batch}, {"infill sentences", cfg.InfillSentences}, {"infill length", cfg.InfillLength},
		{"sudoku puzzles", cfg.SudokuPuzzles}, {"genppl prompts", cfg.GenPrompts}, {"prompt length", cfg.PromptLength},
		{"generation length", cfg.GenLength}, {"likelihood sequences", cfg.LikelihoodSeqs},
		{"likelihood length", cfg.LikelihoodLength}, {"MAUVE prompts", cfg.MauvePrompts},
		{"paraphrase pairs", cfg.ParaphrasePairs}, {"calibration copies", cfg.CalibrationCopies},
		{"calibration bins", cfg.CalibrationBins}}
	for _, s := range sizes {
		if s.v < 0 {
			return fmt.Errorf("%w: %s %d must be positive", ErrBadConfig, s.name, s.v)
		}
	}
	if math.IsNaN(cfg.GenTemperature) || math.IsInf(cfg.GenTemperature, 0) {
		return fmt.Errorf("%w: temperature %v", ErrBadConfig, cfg.GenTemperature)
	}
	needText := false
	for _, t := range cfg.Tasks {
		switch t {
		case TaskDistill:
			// Text students need the text model, its sentences and the judge; Sudoku students the Sudoku model.
			for _, s := range data.Students {
				if s.Model != nil && studentFamily(s, data) != StudentSudoku {
					needText = true
				}
			}
		case TaskInfill, TaskGenPPL, TaskLikelihood, TaskCalibration:
			needText = true
		case TaskSudoku:
			if data.Sudoku == nil {
				return fmt.Errorf("%w: the sudoku task needs a Sudoku model", ErrBadConfig)
			}
			if len(data.Puzzles) == 0 {
				return fmt.Errorf("%w: the sudoku task has no puzzles", ErrEmptyDataset)
			}
			if len(cfg.SudokuSamplers) == 0 {
				return fmt.Errorf("%w: no sampler to run Sudoku with", ErrBadConfig)
			}
			m := data.Sudoku
			sc, err := NewSudokuCodec(m.Tokenizer(), m.Contract())
			if err != nil {
				return fmt.Errorf("eval: sudoku: %w", err)
			}
			if err := sc.CheckModel(ctx, m.Denoiser(), m.Contract(), data.Puzzles); err != nil {
				return fmt.Errorf("eval: sudoku: %w", err)
			}
		}
	}
	if needText {
		if data.Text == nil {
			return fmt.Errorf("%w: the text tasks (%s, %s, %s) need a text model", ErrBadConfig, TaskInfill, TaskGenPPL, TaskLikelihood)
		}
		if len(data.Sentences) == 0 {
			return fmt.Errorf("%w: no held-out sentences for the text tasks", ErrEmptyDataset)
		}
		if err := CheckTextModel(data.Text.Tokenizer(), data.Sentences); err != nil {
			return err
		}
	}
	if cm := data.Continuous; cm != nil && needText {
		if err := checkContinuousModel(cm, data.Text, data.Sentences); err != nil {
			return err
		}
		if data.Judge != nil {
			if err := data.Judge.CheckVocab(cm.Contract().VocabSize); err != nil {
				return fmt.Errorf("eval: continuous model: %w", err)
			}
		}
	}
	if data.Judge != nil && needText {
		// A judge given for the semantic metrics of infill must read the model's ids too.
		if err := data.Judge.CheckVocab(data.Text.Contract().VocabSize); err != nil {
			return err
		}
	}
	if slices.Contains(cfg.Tasks, TaskDistill) {
		if err := validateStudents(ctx, cfg, data); err != nil {
			return err
		}
	}
	if slices.Contains(cfg.Tasks, TaskGenPPL) || (slices.Contains(cfg.Tasks, TaskDistill) && needText) {
		if data.Judge == nil {
			return fmt.Errorf("%w: the genppl task needs an autoregressive judge", ErrBadConfig)
		}
		if err := data.Judge.CheckVocab(data.Text.Contract().VocabSize); err != nil {
			return err
		}
		if n := cfg.PromptLength + cfg.GenLength; data.Judge.maxSeqLen > 0 && n > data.Judge.maxSeqLen {
			return fmt.Errorf("%w: prompt + generation = %d tokens, over the judge's max_seq_len %d", ErrBadConfig, n, data.Judge.maxSeqLen)
		}
	}
	return nil
}

// checkContinuousModel checks that the continuous model is one and reads the text model's token ids: the
// prompts and infill sentences are tokenized once, with the text model's tokenizer, for both families.
func checkContinuousModel(cm, text *llada.Model, sentences []string) error {
	c := cm.Contract()
	if c.Family != llada.FamilyContinuous {
		return fmt.Errorf("%w: the continuous model has llada.family = %q", ErrBadConfig, c.Family)
	}
	if c.VocabSize != text.Contract().VocabSize {
		return fmt.Errorf("%w: the continuous model's vocabulary %d differs from the text model's %d", ErrVocabMismatch, c.VocabSize, text.Contract().VocabSize)
	}
	for i, s := range sentences[:min(len(sentences), 8)] {
		a, errA := text.Tokenizer().Encode(s, false)
		b, errB := cm.Tokenizer().Encode(s, false)
		if errA != nil || errB != nil || !slices.Equal(a, b) {
			return fmt.Errorf("%w: the continuous model's tokenizer encodes held-out sentence %d differently from the text model's", ErrVocabMismatch, i)
		}
	}
	return nil
}
