package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/llada-go/llada"
	"github.com/llada-go/llada/eval"
	"github.com/llada-go/llada/eval/plots"
	"github.com/llada-go/llada/onnx"
)

func init() {
	register("eval", command{summary: "evaluate samplers: infill, Sudoku, generative perplexity, likelihood bound", run: runEval})
}

// Default inputs, relative to the repository root.
const (
	defaultTextModel   = "models/brown"
	defaultSudokuModel = "models/sudoku"
	defaultContModel   = "models/continuous"
	defaultJudge       = "models/judge/model.onnx"
	defaultSentences   = "testdata/eval/brown_heldout.json"
	defaultEvalOut     = "docs/eval"
	puzzlesFile        = "test_puzzles.json"
)

func runEval(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("eval", stderr)
	var mf modelFlags
	mf.add(fs)
	var cfg eval.Config
	sudokuDir := fs.String("sudoku-model", defaultSudokuModel, "Sudoku model directory")
	judgePath := fs.String("judge", defaultJudge, "autoregressive judge (ONNX) for generative perplexity; must share the text model's tokenizer")
	sentences := fs.String("sentences", defaultSentences, "held-out sentences (JSON: {\"sentences\": [...]})")
	puzzles := fs.String("puzzles", "", "Sudoku puzzles (JSON, models/sudoku/test_puzzles.json format; default: test_puzzles.json in --sudoku-model)")
	tasks := fs.String("tasks", strings.Join(eval.TaskNames(), ","), "tasks to run: "+strings.Join(eval.TaskNames(), ", ")+"; "+eval.TaskDistill+" (teachers vs --students)")
	samplers := fs.String("samplers", strings.Join(eval.SamplerNames(), ","), "samplers for the text tasks")
	sudokuSamplers := fs.String("sudoku-samplers", strings.Join(eval.DefaultSudokuSamplers(), ","), "samplers (decoding orders) for Sudoku")
	budgets := fs.String("tokens-per-step", "1,2,4,8", "NFE budgets of the text tasks: tokens committed per forward pass (steps = ceil(masked/k))")
	sudokuBudgets := fs.String("sudoku-tokens-per-step", "1,3,9", "NFE budgets on Sudoku: cells committed per forward pass")
	contDir := fs.String("continuous-model", defaultContModel, "continuous-family model whose samplers join the text tasks (infill, genppl); \"none\" to skip")
	contSamplers := fs.String("continuous-samplers", strings.Join(llada.ContinuousSamplerNames(), ","), "continuous-family samplers for the text tasks")
	contSteps := fs.String("continuous-steps", "8,32", "NFE budgets of the continuous samplers on genppl: solver steps")
	contInfillSteps := fs.String("continuous-infill-steps", "8", "NFE budgets of the continuous samplers on infill: solver steps")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "random seed; equal seeds give equal reports")
	fs.IntVar(&cfg.Batch, "batch", 32, "rows per generation (batched forward passes)")
	fs.IntVar(&cfg.InfillSentences, "infill-sentences", 16, "held-out sentences for infill")
	fs.IntVar(&cfg.InfillLength, "infill-length", 24, "tokens per infill sentence")
	spans := fs.String("infill-spans", "1,2,4,8", "masked span lengths for infill")
	fs.IntVar(&cfg.SudokuPuzzles, "sudoku-puzzles", 80, "Sudoku puzzles (the first N of the file)")
	fs.IntVar(&cfg.GenPrompts, "prompts", 24, "prompts for generative perplexity")
	fs.IntVar(&cfg.PromptLength, "prompt-length", 8, "prompt tokens")
	fs.IntVar(&cfg.GenLength, "gen-length", 32, "generated tokens per prompt")
	temperature := fs.Float64("temperature", 1, "sampling temperature for generative perplexity (0 = greedy)")
	fs.IntVar(&cfg.LikelihoodSeqs, "likelihood-seqs", 32, "held-out windows for the likelihood bound")
	fs.IntVar(&cfg.LikelihoodLength, "likelihood-length", 64, "tokens per likelihood window")
	fs.IntVar(&cfg.MC.Samples, "mc-samples", 128, "masked copies per window (LLaDA's mc_num)")
	fs.IntVar(&cfg.MC.Batch, "mc-batch", 16, "copies per stratified draw (LLaDA's batch_size)")
	students := fs.String("students", "", "distilled students compared with their teachers (task distill, added to the run when --tasks is not given): LABEL=DIR,... e.g. sdtt=DIR,cf=DIR,pd=DIR; each runs its recommended sampler (llada.distill.sampler) beside its teacher (--model, --continuous-model or --sudoku-model, by family)")
	distillNFE := fs.String("distill-nfe", "4,8,16,32", "NFE sweep of the teacher-vs-student comparison (solver steps, or ceil(length/n) tokens per pass)")
	fs.Float64Var(&cfg.DistillTemperature, "distill-temperature", 0, "masked samplers' temperature in the teacher-vs-student comparison (0 = greedy)")
	fs.IntVar(&cfg.MauvePrompts, "mauve-prompts", 48, "prompts whose continuations MAUVE compares with the human ones (the genppl samples and more)")
	quick := fs.Bool("quick", false, "a fast run for development: "+quickSummary+" (flags given explicitly win)")
	out := fs.String("out", defaultEvalOut, "output directory for RESULTS.md and the PNG plots")
	quiet := fs.Bool("quiet", false, "no progress bar on stderr")
	spin := fs.Bool("spin", false, "let ONNX Runtime's worker threads spin between runs (off: the samplers and metrics get the cores)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *quick {
		if err := applyQuick(fs); err != nil {
			return err
		}
	}
	var err error
	if cfg.Tasks, err = eval.ParseTasks(splitList(*tasks)); err != nil {
		return fmt.Errorf("--tasks: %w", err)
	}
	studentSpecs, err := parseStudents(*students)
	if err != nil {
		return fmt.Errorf("--students: %w", err)
	}
	tasksGiven := false
	fs.Visit(func(f *flag.Flag) { tasksGiven = tasksGiven || f.Name == "tasks" })
	if len(studentSpecs) > 0 && !tasksGiven {
		cfg.Tasks = append(cfg.Tasks, eval.TaskDistill)
	}
	if cfg.DistillNFE, err = parseInts(*distillNFE); err != nil {
		return fmt.Errorf("--distill-nfe: %w", err)
	}
	if t := cfg.DistillTemperature; t < 0 || t != t {
		return fmt.Errorf("--distill-temperature %v: must be >= 0", t)
	}
	cfg.Samplers, cfg.SudokuSamplers = splitList(*samplers), splitList(*sudokuSamplers)
	if cfg.TokensPerStep, err = parseInts(*budgets); err != nil {
		return fmt.Errorf("--tokens-per-step: %w", err)
	}
	if cfg.SudokuTokensPerStep, err = parseInts(*sudokuBudgets); err != nil {
		return fmt.Errorf("--sudoku-tokens-per-step: %w", err)
	}
	cfg.ContinuousSamplers = splitList(*contSamplers)
	if cfg.ContinuousSteps, err = parseInts(*contSteps); err != nil {
		return fmt.Errorf("--continuous-steps: %w", err)
	}
	if cfg.ContinuousInfillSteps, err = parseInts(*contInfillSteps); err != nil {
		return fmt.Errorf("--continuous-infill-steps: %w", err)
	}
	if cfg.InfillSpans, err = parseInts(*spans); err != nil {
		return fmt.Errorf("--infill-spans: %w", err)
	}
	switch t := *temperature; {
	case t < 0 || t != t:
		return fmt.Errorf("--temperature %v: must be >= 0", t)
	case t == 0:
		cfg.GenTemperature = -1 // eval.Config: negative = greedy, 0 = the default
	default:
		cfg.GenTemperature = t
	}
	for _, v := range []struct {
		name string
		n    int
	}{{"--batch", cfg.Batch}, {"--infill-sentences", cfg.InfillSentences}, {"--infill-length", cfg.InfillLength},
		{"--sudoku-puzzles", cfg.SudokuPuzzles}, {"--prompts", cfg.GenPrompts}, {"--prompt-length", cfg.PromptLength},
		{"--gen-length", cfg.GenLength}, {"--likelihood-seqs", cfg.LikelihoodSeqs}, {"--likelihood-length", cfg.LikelihoodLength},
		{"--mc-samples", cfg.MC.Samples}, {"--mc-batch", cfg.MC.Batch}} {
		if v.n <= 0 {
			return fmt.Errorf("%s %d: must be positive", v.name, v.n)
		}
	}

	has := func(t string) bool { return slices.Contains(cfg.Tasks, t) }
	var data eval.Data
	var notes []string
	onnxOpts := []onnx.Option{onnx.WithIntraOpThreads(mf.threads), onnx.WithThreadSpinning(*spin)}
	if mf.library != "" {
		onnxOpts = append(onnxOpts, onnx.WithLibraryPath(mf.library))
	}
	if has(eval.TaskInfill) || has(eval.TaskGenPPL) || has(eval.TaskLikelihood) || has(eval.TaskDistill) {
		dir := mf.dir
		if dir == "" {
			dir = defaultTextModel
		}
		m, closer, err := eval.OpenModel(dir, onnxOpts...)
		if err != nil {
			return fmt.Errorf("text model: %w", err)
		}
		defer closer.Close()
		data.Text = m
		notes = append(notes, modelNote("text model", dir, m.Contract()))
		if data.Sentences, err = eval.LoadSentences(*sentences); err != nil {
			return err
		}
	}
	// The students open before the teachers: their families say which teachers the distill task needs.
	needCont, needSudoku := false, false
	if has(eval.TaskDistill) {
		opts := []llada.Option{llada.WithIntraOpThreads(mf.threads), llada.WithThreadSpinning(*spin)}
		if mf.library != "" {
			opts = append(opts, llada.WithLibraryPath(mf.library))
		}
		for _, sp := range studentSpecs {
			m, err := llada.Open(sp.dir, opts...)
			if err != nil {
				return fmt.Errorf("student %s: %w", sp.label, err)
			}
			defer m.Close()
			st := eval.Student{Label: sp.label, Model: m}
			switch c := m.Contract(); {
			case c.Family == llada.FamilyContinuous:
				needCont = true
			case data.Text != nil && c.VocabSize != data.Text.Contract().VocabSize:
				needSudoku = true // a masked student of another vocabulary than the text model: the Sudoku one
				st.Family = eval.StudentSudoku
			}
			data.Students = append(data.Students, st)
			notes = append(notes, studentNote(sp, m))
		}
	}
	// Like the judge for infill: the default continuous model joins when it is there (the command run from the
	// repository root) and reads the text model's vocabulary; one given explicitly must.
	contGiven := false
	fs.Visit(func(f *flag.Flag) { contGiven = contGiven || f.Name == "continuous-model" })
	_, contStat := os.Stat(*contDir)
	if (has(eval.TaskInfill) || has(eval.TaskGenPPL) || needCont) && *contDir != "none" && *contDir != "" && (contGiven || contStat == nil) {
		opts := []llada.Option{llada.WithIntraOpThreads(mf.threads), llada.WithThreadSpinning(*spin)}
		if mf.library != "" {
			opts = append(opts, llada.WithLibraryPath(mf.library))
		}
		m, err := llada.Open(*contDir, opts...)
		if err != nil {
			return fmt.Errorf("continuous model: %w", err)
		}
		defer m.Close()
		if m.Contract().Family != llada.FamilyContinuous {
			return fmt.Errorf("--continuous-model %s: llada.family = %q, want %q", *contDir, m.Contract().Family, llada.FamilyContinuous)
		}
		if contGiven || m.Contract().VocabSize == data.Text.Contract().VocabSize {
			data.Continuous = m
		}
	}
	if m := data.Continuous; m != nil {
		cc := m.Contract().Continuous
		notes = append(notes, fmt.Sprintf("- continuous model: `%s` (vocabulary %d, max_seq_len %d, embedding dim %d)", *contDir, m.Contract().VocabSize, m.Contract().MaxSeqLen, cc.EmbedDim))
	}
	if has(eval.TaskSudoku) || needSudoku {
		m, closer, err := eval.OpenModel(*sudokuDir, onnxOpts...)
		if err != nil {
			return fmt.Errorf("sudoku model: %w", err)
		}
		defer closer.Close()
		data.Sudoku = m
		notes = append(notes, modelNote("Sudoku model", *sudokuDir, m.Contract()))
		p := *puzzles
		if p == "" {
			p = filepath.Join(*sudokuDir, puzzlesFile)
		}
		if data.Puzzles, err = eval.LoadPuzzles(p); err != nil {
			return err
		}
	}
	// Infill uses the judge only for its semantic metrics: without genppl, a default judge that is not there
	// (the command run outside the repository root) or one of another vocabulary skips them instead of failing.
	judgeGiven := false
	fs.Visit(func(f *flag.Flag) { judgeGiven = judgeGiven || f.Name == "judge" })
	_, statErr := os.Stat(*judgePath)
	textStudents := false
	for _, s := range data.Students {
		textStudents = textStudents || s.Family != eval.StudentSudoku
	}
	if has(eval.TaskGenPPL) || textStudents || (has(eval.TaskInfill) && (judgeGiven || statErr == nil)) {
		j, err := eval.OpenJudge(*judgePath, onnxOpts...)
		if err != nil {
			return err
		}
		defer j.Close()
		if has(eval.TaskGenPPL) || textStudents || j.VocabSize() == data.Text.Contract().VocabSize {
			data.Judge = j
			notes = append(notes, fmt.Sprintf("- judge: `%s` (autoregressive, vocabulary %d)", *judgePath, j.VocabSize()))
			if err := sameTokenizer(*judgePath, mf.dir); err != nil {
				return err
			}
		}
	}
	notes = append(notes, fmt.Sprintf("- machine: %s/%s, %d CPU threads (GOMAXPROCS), ONNX Runtime %s on CPU",
		runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), onnx.RuntimeVersion))

	var progress io.Writer = stderr
	if *quiet {
		progress = nil
	}
	rep, err := eval.Run(ctx, cfg, data, progress)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	plots, err := plots.Write(rep, *out)
	if err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(*out, "RESULTS.md"))
	if err != nil {
		return err
	}
	mo := eval.MarkdownOptions{Title: "llada evaluation", Command: commandLine(args), Notes: notes, Plots: plots}
	werr := rep.WriteMarkdown(f, mo)
	if err := errors.Join(werr, f.Close()); err != nil {
		return err
	}
	// The README section links the plots from the repository root, where the command runs.
	f, err = os.Create(filepath.Join(*out, "README-section.md"))
	if err != nil {
		return err
	}
	mo.Title = "Evaluation"
	werr = rep.WriteSummary(f, mo, filepath.ToSlash(filepath.Clean(*out)))
	if err := errors.Join(werr, f.Close()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s, README-section.md and %d plots in %s\n", filepath.Join(*out, "RESULTS.md"), len(plots), rep.Elapsed.Round(1e8))
	return nil
}

// studentSpec is one LABEL=DIR of --students.
type studentSpec struct{ label, dir string }

// parseStudents reads --students: LABEL=DIR pairs, labels unique and not "teacher".
func parseStudents(s string) ([]studentSpec, error) {
	var out []studentSpec
	seen := map[string]bool{}
	for _, p := range splitList(s) {
		label, dir, ok := strings.Cut(p, "=")
		label, dir = strings.TrimSpace(label), strings.TrimSpace(dir)
		if !ok || label == "" || dir == "" {
			return nil, fmt.Errorf("%q: want LABEL=DIR", p)
		}
		if label == eval.TeacherLabel || seen[label] {
			return nil, fmt.Errorf("label %q: labels must be unique and not %q", label, eval.TeacherLabel)
		}
		seen[label] = true
		out = append(out, studentSpec{label, dir})
	}
	return out, nil
}

// studentNote describes a student for the report: its directory and provenance.
func studentNote(sp studentSpec, m *llada.Model) string {
	line := fmt.Sprintf("- student %s: `%s` (%s, vocabulary %d)", sp.label, sp.dir, m.Contract().Family, m.Contract().VocabSize)
	if d := llada.ReadDistill(m.Contract().Extra); d != nil {
		line += fmt.Sprintf(": distilled %s from %s, recommended %s at %d steps for %d tokens, rounds %d, seed %s",
			orUnknown(d.Method), d.Teacher, d.Sampler, d.Steps, d.GenLength, d.Rounds, d.Seed)
	}
	return line
}

func modelNote(what, dir string, c llada.Contract) string {
	return fmt.Sprintf("- %s: `%s` (vocabulary %d, max_seq_len %d, mask id %d)", what, dir, c.VocabSize, c.MaxSeqLen, c.MaskID)
}

// sameTokenizer compares the judge's tokenizer.json, when one sits next to it, with the text model's: an equal
// vocabulary size is necessary but not sufficient for the judge's scores to mean anything.
func sameTokenizer(judgePath, textDir string) error {
	if textDir == "" {
		textDir = defaultTextModel
	}
	jt, err := os.ReadFile(filepath.Join(filepath.Dir(judgePath), llada.TokenizerFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	mt, err := os.ReadFile(filepath.Join(textDir, llada.TokenizerFile))
	if err != nil {
		return nil
	}
	if string(jt) != string(mt) {
		return fmt.Errorf("%w: the judge's tokenizer.json differs from the text model's", eval.ErrVocabMismatch)
	}
	return nil
}

// commandLine is the command that regenerates the report, for the report itself.
func commandLine(args []string) string {
	parts := []string{"go run ./cmd/llada eval"}
	for _, a := range args {
		if strings.ContainsAny(a, " \t\"'") {
			a = strconv.Quote(a)
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, p := range splitList(s) {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive integer", p)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, errors.New("empty list")
	}
	return out, nil
}
