package eval

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/llada-go/llada"
)

// TaskDistill compares distilled students (Data.Students) with their teachers: each model sampled with the
// student's recommended sampler (llada.distill.sampler) over an NFE sweep, on generative perplexity, diversity
// and infill (text students, masked or continuous) or Sudoku (a Sudoku student). It is not among TaskNames (the
// default run), since it needs students; ParseTasks accepts it.
const TaskDistill = "distill"

// Student families: which teacher a student is compared with.
const (
	StudentMasked     = "masked"     // Data.Text is the teacher
	StudentContinuous = "continuous" // Data.Continuous is the teacher
	StudentSudoku     = "sudoku"     // Data.Sudoku is the teacher
)

// Student is a distilled model evaluated beside its teacher.
type Student struct {
	Label string // short name for tables and legends ("sdtt", "pd", ...); must not be "teacher"
	Model *llada.Model
	// Family is StudentMasked, StudentContinuous or StudentSudoku; empty means from the model: continuous by
	// llada.family, Sudoku when its vocabulary is the Sudoku model's and not the text model's, masked otherwise.
	Family string
}

// Distill returns the student's provenance (llada.distill.* keys), nil when it has none.
func (s Student) Distill() *llada.Distill { return llada.ReadDistill(s.Model.Contract().Extra) }

// Default samplers of a student without llada.distill.sampler.
const (
	defaultMaskedStudentSampler     = "llada-low-confidence"
	defaultContinuousStudentSampler = llada.SamplerDDIM
)

// DistillRow is one model and decoding setting on one task of the comparison.
type DistillRow struct {
	Task   string // TaskGenPPL, TaskInfill or TaskSudoku
	Family string // StudentMasked, StudentContinuous or StudentSudoku
	Model  string // "teacher" or the student's label
	Method string // the student's llada.distill.method ("" for a teacher)
	// Recommended is the student's llada.distill.steps (0 for a teacher or when absent).
	Recommended int
	Decoding    Decoding
	// NFE is the mean forward passes per item, Seconds the wall-clock of the task's generations (the judge's
	// scoring excluded), TokensPerPass the decoded tokens per item divided by NFE.
	NFE, Seconds, TokensPerPass float64
	Samples                     *SampleScore // TaskGenPPL
	Infill                      *InfillScore // TaskInfill
	Sudoku                      *SudokuScore // TaskSudoku
}

// TeacherLabel is DistillRow.Model of a teacher's rows.
const TeacherLabel = "teacher"

func (r DistillRow) teacher() bool { return r.Model == TeacherLabel }

// studentFamily resolves a student's family against the data's teachers.
func studentFamily(s Student, data Data) string {
	if s.Family != "" {
		return s.Family
	}
	c := s.Model.Contract()
	if c.Family == llada.FamilyContinuous {
		return StudentContinuous
	}
	if data.Sudoku != nil && c.VocabSize == data.Sudoku.Contract().VocabSize &&
		(data.Text == nil || c.VocabSize != data.Text.Contract().VocabSize) {
		return StudentSudoku
	}
	return StudentMasked
}

// studentSampler is the sampler a student is evaluated with: its recommendation, or its family's default.
func studentSampler(s Student, family string) string {
	if d := s.Distill(); d != nil && d.Sampler != "" {
		return d.Sampler
	}
	if family == StudentContinuous {
		return defaultContinuousStudentSampler
	}
	return defaultMaskedStudentSampler
}

// validateStudents checks the students against their teachers before anything long runs.
func validateStudents(ctx context.Context, cfg Config, data Data) error {
	if len(data.Students) == 0 {
		return fmt.Errorf("%w: the %s task needs at least one student", ErrBadConfig, TaskDistill)
	}
	seen := map[string]bool{}
	for _, s := range data.Students {
		if s.Model == nil {
			return fmt.Errorf("%w: student %q has no model", ErrBadConfig, s.Label)
		}
		if s.Label == "" || s.Label == TeacherLabel || seen[s.Label] {
			return fmt.Errorf("%w: student label %q must be non-empty, unique and not %q", ErrBadConfig, s.Label, TeacherLabel)
		}
		seen[s.Label] = true
		fam := studentFamily(s, data)
		smp := studentSampler(s, fam)
		d := Decoding{Sampler: smp}
		if _, err := lookupSampler(smp); err != nil {
			return fmt.Errorf("eval: student %s: %w", s.Label, err)
		}
		c := s.Model.Contract()
		switch fam {
		case StudentContinuous:
			if data.Continuous == nil {
				return fmt.Errorf("%w: continuous student %s needs its teacher (the continuous model)", ErrBadConfig, s.Label)
			}
			if !d.Continuous() {
				return fmt.Errorf("%w: continuous student %s recommends the masked sampler %q", ErrBadConfig, s.Label, smp)
			}
			if err := checkContinuousModel(s.Model, data.Text, data.Sentences); err != nil {
				return fmt.Errorf("eval: student %s: %w", s.Label, err)
			}
		case StudentMasked:
			if d.Continuous() {
				return fmt.Errorf("%w: masked student %s recommends the continuous sampler %q", ErrBadConfig, s.Label, smp)
			}
			if c.VocabSize != data.Text.Contract().VocabSize {
				return fmt.Errorf("%w: student %s has vocabulary %d, its teacher (the text model) %d", ErrVocabMismatch, s.Label, c.VocabSize, data.Text.Contract().VocabSize)
			}
			if err := CheckTextModel(s.Model.Tokenizer(), data.Sentences); err != nil {
				return fmt.Errorf("eval: student %s: %w", s.Label, err)
			}
		case StudentSudoku:
			if data.Sudoku == nil || len(data.Puzzles) == 0 {
				return fmt.Errorf("%w: Sudoku student %s needs its teacher (the Sudoku model) and puzzles", ErrBadConfig, s.Label)
			}
			sc, err := NewSudokuCodec(s.Model.Tokenizer(), c)
			if err != nil {
				return fmt.Errorf("eval: student %s: %w", s.Label, err)
			}
			if err := sc.CheckModel(ctx, s.Model.Denoiser(), c, data.Puzzles); err != nil {
				return fmt.Errorf("eval: student %s: %w", s.Label, err)
			}
		default:
			return fmt.Errorf("%w: student %s: family %q (want %s, %s or %s)", ErrBadConfig, s.Label, fam, StudentMasked, StudentContinuous, StudentSudoku)
		}
	}
	for _, n := range cfg.DistillNFE {
		if n < 1 {
			return fmt.Errorf("%w: distill NFE budget %d must be at least 1", ErrBadConfig, n)
		}
	}
	return nil
}

// distillDecodings expands a sampler into the comparison's settings for a region of about length tokens: for a
// step-count sampler, ceil(length/n) tokens per pass for every NFE budget n (and every recommended step count:
// the student's own, or for a teacher its students'); for a continuous sampler, n solver steps; for an adaptive sampler, its knob sweep (it picks its own
// NFE).
func distillDecodings(sampler string, nfe []int, recommended []int, length int, temperature float64) ([]Decoding, error) {
	s, err := lookupSampler(sampler)
	if err != nil {
		return nil, err
	}
	budgets := slices.Clone(nfe)
	for _, r := range recommended {
		if r > 0 && !slices.Contains(budgets, r) {
			budgets = append(budgets, r)
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(budgets)))
	var out []Decoding
	switch {
	case s.Transfer == llada.TransferContinuous:
		for _, n := range budgets {
			out = append(out, Decoding{Sampler: sampler, Steps: n})
		}
	case adaptive(s):
		sw := knobSweep(s)
		if sw == nil {
			return []Decoding{{Sampler: sampler, Temperature: temperature}}, nil
		}
		for _, v := range sw.values[:min(len(nfe), len(sw.values))] {
			out = append(out, Decoding{Sampler: sampler, Knob: v, Temperature: temperature})
		}
	default:
		seen := map[int]bool{}
		for _, n := range budgets {
			k := max(1, (length+n-1)/n)
			if !seen[k] {
				seen[k] = true
				out = append(out, Decoding{Sampler: sampler, TokensPerStep: k, Temperature: temperature})
			}
		}
	}
	return out, nil
}

// distillUnit is one model and sampler of the comparison.
type distillUnit struct {
	family, model, method, sampler string
	m                              *llada.Model
	recommended                    []int // the student's llada.distill.steps; a teacher's: its students' with this sampler
}

// distillUnits lists the rows to run: per family, the teacher with every sampler its students recommend, then
// each student with its own.
func distillUnits(data Data) []distillUnit {
	var out []distillUnit
	for _, fam := range []string{StudentMasked, StudentContinuous, StudentSudoku} {
		var students []distillUnit
		var samplers []string
		for _, s := range data.Students {
			if studentFamily(s, data) != fam {
				continue
			}
			u := distillUnit{family: fam, model: s.Label, sampler: studentSampler(s, fam), m: s.Model}
			if d := s.Distill(); d != nil {
				u.method = d.Method
				if d.Steps > 0 {
					u.recommended = []int{d.Steps}
				}
			}
			students = append(students, u)
			if !slices.Contains(samplers, u.sampler) {
				samplers = append(samplers, u.sampler)
			}
		}
		if len(students) == 0 {
			continue
		}
		teacher := map[string]*llada.Model{StudentMasked: data.Text, StudentContinuous: data.Continuous, StudentSudoku: data.Sudoku}[fam]
		for _, smp := range samplers {
			t := distillUnit{family: fam, model: TeacherLabel, sampler: smp, m: teacher}
			for _, st := range students {
				if st.sampler == smp {
					t.recommended = append(t.recommended, st.recommended...)
				}
			}
			out = append(out, t)
		}
		out = append(out, students...)
	}
	return out
}

// runDistill runs the comparison and appends its rows to rep.Distill.
func runDistill(ctx context.Context, cfg Config, data Data, rep *Report, prog *progress, items []InfillItem, prompts [][]int) error {
	from := make([]int, len(prompts))
	for i, p := range prompts {
		from[i] = len(p)
	}
	spanMean := 0.0
	for _, it := range items {
		spanMean += float64(it.Len)
	}
	if len(items) > 0 {
		spanMean /= float64(len(items))
	}
	var puzzles []Puzzle
	blanks := 0.0
	if data.Sudoku != nil {
		puzzles = data.Puzzles[:min(cfg.SudokuPuzzles, len(data.Puzzles))]
		for _, p := range puzzles {
			blanks += float64(strings.Count(p.Puzzle, "0") + strings.Count(p.Puzzle, "."))
		}
		if len(puzzles) > 0 {
			blanks /= float64(len(puzzles))
		}
	}
	for _, u := range distillUnits(data) {
		length := cfg.GenLength
		if u.family == StudentSudoku {
			length = max(1, int(blanks+0.5))
		}
		decs, err := distillDecodings(u.sampler, cfg.DistillNFE, u.recommended, length, cfg.DistillTemperature)
		if err != nil {
			return err
		}
		for _, d := range decs {
			base := DistillRow{Family: u.family, Model: u.model, Method: u.method, Decoding: d}
			if u.model != TeacherLabel && len(u.recommended) > 0 {
				base.Recommended = u.recommended[0]
			}
			if u.family == StudentSudoku {
				s, err := SolveSudoku(ctx, u.m.Denoiser(), u.m.Tokenizer(), u.m.Contract(), puzzles, d, cfg.Batch, cfg.Seed)
				if err != nil {
					return fmt.Errorf("eval: distill sudoku %s %s: %w", u.model, d.Label(), err)
				}
				row := base
				row.Task, row.Sudoku, row.NFE, row.Seconds = TaskSudoku, &s, s.MeanNFE, s.Seconds
				row.TokensPerPass = perPass(blanks, s.MeanNFE)
				rep.Distill = append(rep.Distill, row)
				prog.step("distill sudoku " + u.model + " " + d.Label())
				continue
			}
			seqs, fr, err := SampleModel(ctx, u.m, prompts, cfg.GenLength, d, cfg.Batch, cfg.Seed)
			if err != nil {
				return fmt.Errorf("eval: distill genppl %s %s: %w", u.model, d.Label(), err)
			}
			sc, err := ScoreSamples(ctx, data.Judge, seqs, from, cfg.Batch)
			if err != nil {
				return fmt.Errorf("eval: distill genppl %s %s: %w", u.model, d.Label(), err)
			}
			sc.MeanNFE, sc.Forwards, sc.Seconds = fr.MeanNFE(), fr.Forwards, fr.Elapsed.Seconds()
			row := base
			row.Task, row.Samples, row.NFE, row.Seconds = TaskGenPPL, &sc, sc.MeanNFE, sc.Seconds
			row.TokensPerPass = perPass(float64(cfg.GenLength), sc.MeanNFE)
			rep.Distill = append(rep.Distill, row)
			prog.step("distill genppl " + u.model + " " + d.Label())

			in, err := InfillModel(ctx, u.m, items, d, cfg.Batch, cfg.Seed)
			if err != nil {
				return fmt.Errorf("eval: distill infill %s %s: %w", u.model, d.Label(), err)
			}
			row = base
			row.Task, row.Infill, row.NFE, row.Seconds = TaskInfill, &in, in.MeanNFE, in.Seconds
			row.TokensPerPass = perPass(spanMean, in.MeanNFE)
			rep.Distill = append(rep.Distill, row)
			prog.step("distill infill " + u.model + " " + d.Label())
		}
	}
	return nil
}

// distillUnitsCount is the number of progress units runDistill reports.
func distillUnitsCount(cfg Config, data Data) int {
	n := 0
	for _, u := range distillUnits(data) {
		decs, err := distillDecodings(u.sampler, cfg.DistillNFE, u.recommended, cfg.GenLength, cfg.DistillTemperature)
		if err != nil {
			continue
		}
		per := 2
		if u.family == StudentSudoku {
			per = 1
		}
		n += per * len(decs)
	}
	return n
}

func perPass(tokens, nfe float64) float64 {
	if nfe <= 0 {
		return 0
	}
	return tokens / nfe
}

// writeDistillMarkdown writes the comparison's section of RESULTS.md.
func (r *Report) writeDistillMarkdown(b io.Writer, o MarkdownOptions) {
	if len(r.Distill) == 0 {
		return
	}
	c := r.Config
	fmt.Fprintf(b, "## Distillation: teachers vs students\n\n")
	fmt.Fprintf(b, "Each student runs its recommended sampler (`llada.distill.sampler`) and its teacher runs the same one, over "+
		"the NFE budgets %s (plus the student's recommended steps; an adaptive sampler sweeps its knob instead and picks its "+
		"own passes), temperature %g. Text: %d held-out prompts of %d tokens continued by %d tokens (gen PPL under the judge, "+
		"distinct-n, self-BLEU-4) and the infill items of the infill task (token accuracy, exact match). tok/pass = decoded "+
		"tokens per forward pass; time = wall clock of the generations (judge excluded) on this machine.\n\n",
		joinInts(c.DistillNFE), c.DistillTemperature, c.GenPrompts, c.PromptLength, c.GenLength)
	type key struct {
		model string
		d     Decoding
	}
	infill := map[key]DistillRow{}
	for _, row := range r.Distill {
		if row.Task == TaskInfill {
			infill[key{row.Model, row.Decoding}] = row
		}
	}
	var text, sudoku []DistillRow
	for _, row := range r.Distill {
		switch row.Task {
		case TaskGenPPL:
			text = append(text, row)
		case TaskSudoku:
			sudoku = append(sudoku, row)
		}
	}
	if len(text) > 0 {
		fmt.Fprintf(b, "| family | model | sampler | setting | NFE | tok/pass | gen PPL | distinct-1 | distinct-2 | distinct-3 | self-BLEU | time | infill NFE | infill tok/pass | infill token acc | infill EM | infill time |\n")
		fmt.Fprintf(b, "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
		for _, row := range text {
			s := row.Samples
			fmt.Fprintf(b, "| %s | %s | %s | %s | %.1f | %.2f | %.1f | %.3f | %.3f | %.3f | %.3f | %s |", row.Family, modelName(row),
				row.Decoding.Sampler, row.Decoding.Setting(), row.NFE, row.TokensPerPass, s.GenPPL, s.Distinct[0], s.Distinct[1],
				s.Distinct[2], s.SelfBLEU, fmtDuration(row.Seconds))
			if in, ok := infill[key{row.Model, row.Decoding}]; ok {
				fmt.Fprintf(b, " %.2f | %.2f | %.3f | %.3f | %s |\n", in.NFE, in.TokensPerPass, in.Infill.TokenAcc, in.Infill.ExactMatch, fmtDuration(in.Seconds))
			} else {
				b.Write([]byte(" - | - | - | - | - |\n"))
			}
		}
		b.Write([]byte("\n"))
	}
	if len(sudoku) > 0 {
		fmt.Fprintf(b, "Sudoku: %d held-out puzzles, blanks decoded greedily.\n\n", sudoku[0].Sudoku.Puzzles)
		fmt.Fprintf(b, "| model | sampler | setting | NFE | cells/pass | solved | cell acc | time |\n|---|---|--:|--:|--:|--:|--:|--:|\n")
		for _, row := range sudoku {
			s := row.Sudoku
			fmt.Fprintf(b, "| %s | %s | %s | %.1f | %.2f | %.1f%% (%d/%d) | %.3f | %s |\n", modelName(row), row.Decoding.Sampler, row.Decoding.Setting(),
				row.NFE, row.TokensPerPass, 100*s.SolvedRate(), s.Solved, s.Puzzles, s.CellAcc, fmtDuration(row.Seconds))
		}
		b.Write([]byte("\n"))
	}
	for _, l := range r.distillKeyLines() {
		fmt.Fprintf(b, "- %s\n", l)
	}
	if p, ok := o.Plots[TaskDistill]; ok {
		fmt.Fprintf(b, "\n![teachers vs students: quality against NFE and wall clock](%s)\n", p)
	}
	b.Write([]byte("\n"))
}

func modelName(r DistillRow) string {
	if r.Method != "" {
		return r.Model + " (" + r.Method + ")"
	}
	return r.Model
}

// distillKeyLines compares every student at its recommended budget with its teacher: the teacher with the same
// sampler at its largest NFE (the quality the student is meant to keep) and at the student's NFE (what the
// teacher does with the same budget); and reports tokens per pass of the adaptive samplers.
func (r *Report) distillKeyLines() []string {
	var out []string
	rows := func(task, model, sampler string) []DistillRow {
		var s []DistillRow
		for _, row := range r.Distill {
			if row.Task == task && row.Model == model && row.Decoding.Sampler == sampler {
				s = append(s, row)
			}
		}
		return s
	}
	metric := func(row DistillRow) (string, float64) {
		switch row.Task {
		case TaskGenPPL:
			return "gen PPL", row.Samples.GenPPL
		case TaskSudoku:
			return "solved %", 100 * row.Sudoku.SolvedRate()
		}
		return "", 0
	}
	seen := map[string]bool{}
	for _, row := range r.Distill {
		if row.teacher() || seen[row.Model] || (row.Task != TaskGenPPL && row.Task != TaskSudoku) {
			continue
		}
		seen[row.Model] = true
		st := rows(row.Task, row.Model, row.Decoding.Sampler)
		te := rows(row.Task, TeacherLabel, row.Decoding.Sampler)
		if len(st) == 0 || len(te) == 0 {
			continue
		}
		s, err := lookupSampler(row.Decoding.Sampler)
		if err == nil && adaptive(s) && s.Transfer != llada.TransferContinuous {
			// Adaptive: compare tokens per pass and quality at each knob value.
			var parts []string
			for _, a := range st {
				for _, t := range te {
					if t.Decoding.Knob == a.Decoding.Knob {
						name, sv := metric(a)
						_, tv := metric(t)
						parts = append(parts, fmt.Sprintf("%s: %.2f vs %.2f tokens/pass, %s %.1f vs %.1f", a.Decoding.Setting(),
							a.TokensPerPass, t.TokensPerPass, name, sv, tv))
					}
				}
			}
			if len(parts) > 0 {
				line := fmt.Sprintf("**%s** (%s, %s) vs teacher: %s.", row.Model, row.Method, row.Decoding.Sampler, strings.Join(parts, "; "))
				// The reference of a parallel-decoding student: its teacher committing one token per pass.
				// A step-count sampler at k = 1 first; an adaptive row that happened to commit one per pass else.
				var ref *DistillRow
				for i, t := range r.Distill {
					if t.Task == row.Task && t.teacher() && t.Family == row.Family && t.TokensPerPass == 1 &&
						(ref == nil || (ref.Decoding.TokensPerStep != 1 && t.Decoding.TokensPerStep == 1)) {
						ref = &r.Distill[i]
					}
				}
				if ref != nil {
					name, tv := metric(*ref)
					line += fmt.Sprintf(" The teacher at one token per pass (%s %s, %.0f NFE): %s %.1f.", ref.Decoding.Sampler, ref.Decoding.Setting(), ref.NFE, name, tv)
				}
				out = append(out, line)
			}
			continue
		}
		// Step-count samplers: the student's recommended (or smallest) budget.
		pick := st[len(st)-1]
		if d := row.Recommended; d > 0 {
			for _, a := range st {
				if int(a.NFE+0.5) == d || a.Decoding.Steps == d {
					pick = a
				}
			}
		}
		best := te[0]
		for _, t := range te {
			if t.NFE > best.NFE {
				best = t
			}
		}
		same := te[0]
		for _, t := range te {
			if absf(t.NFE-pick.NFE) < absf(same.NFE-pick.NFE) {
				same = t
			}
		}
		name, sv := metric(pick)
		_, bv := metric(best)
		_, mv := metric(same)
		out = append(out, fmt.Sprintf("**%s** (%s, %s) at %.1f NFE: %s %.1f, against the teacher's %.1f at %.1f NFE and %.1f at %.1f NFE (%s vs %s wall clock).",
			row.Model, row.Method, row.Decoding.Sampler, pick.NFE, name, sv, bv, best.NFE, mv, same.NFE,
			fmtDuration(pick.Seconds), fmtDuration(best.Seconds)))
	}
	return out
}

func absf(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
