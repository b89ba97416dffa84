package eval

import (
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
)

// WriteSummary writes the short form of the report meant for the project README: the quality-vs-NFE table of
// every sampler (generative perplexity and infill accuracy side by side), the Sudoku table by decoding order,
// the likelihood bound, the plots and the command that regenerates everything. plotDir is the plots' directory
// as seen from the README (e.g. "docs/eval").
func (r *Report) WriteSummary(w io.Writer, o MarkdownOptions, plotDir string) error {
	var b strings.Builder
	title := o.Title
	if title == "" {
		title = "Evaluation"
	}
	fmt.Fprintf(&b, "## %s\n\n", title)
	if o.Command != "" {
		fmt.Fprintf(&b, "Regenerate the numbers and plots below with `%s` from the repository root, after "+
			"`bash scripts/install-onnxruntime.sh` (seed %d, %s on this machine); full tables in "+
			"[%s](%s).\n\n", o.Command, r.Config.Seed, fmtDuration(r.Elapsed.Seconds()), path.Join(plotDir, "RESULTS.md"), path.Join(plotDir, "RESULTS.md"))
	}
	c := r.Config
	type key struct{ s, setting string }
	infill := map[key]InfillRow{}
	for _, row := range r.Infill {
		infill[key{row.Decoding.Sampler, row.Decoding.Setting()}] = row
	}
	if len(r.Samples) > 0 {
		fmt.Fprintf(&b, "**Quality vs forward passes, per sampler.** Continuations (%d tokens, temperature %g) of %d held-out Brown "+
			"prompts of %d tokens, scored by the autoregressive judge (gen PPL, lower is better; distinct-2 and self-BLEU flag "+
			"repetition), and greedy infill of masked spans of %s tokens (token accuracy). Settings: k = tokens committed per forward pass; τ, f, γ = the threshold, factor or entropy budget of an adaptive sampler.%s\n\n",
			c.GenLength, c.GenTemperature, c.GenPrompts, c.PromptLength, joinInts(sortedInts(c.InfillSpans)), r.continuousSummaryNote())
		b.WriteString("| sampler | setting | NFE | gen PPL | distinct-2 | self-BLEU | infill NFE | infill token acc |\n|---|--:|--:|--:|--:|--:|--:|--:|\n")
		for _, row := range r.Samples {
			k := row.Decoding.Setting()
			fmt.Fprintf(&b, "| %s | %s | %.1f | %.1f | %.3f | %.3f |", row.Decoding.Name(), k, row.MeanNFE, row.GenPPL, row.Distinct[1], row.SelfBLEU)
			if in, ok := infill[key{row.Decoding.Sampler, k}]; ok {
				fmt.Fprintf(&b, " %.2f | %.3f |\n", in.MeanNFE, in.TokenAcc)
			} else {
				b.WriteString(" - | - |\n")
			}
		}
		b.WriteString("\n")
	}
	for _, p := range []struct{ task, alt string }{{TaskGenPPL, "generative perplexity vs NFE"}, {TaskInfill, "infill accuracy vs NFE"}} {
		if f, ok := o.Plots[p.task]; ok {
			fmt.Fprintf(&b, "![%s](%s)\n", p.alt, path.Join(plotDir, f))
		}
	}
	if len(r.Sudoku) > 0 {
		fmt.Fprintf(&b, "\n**Sudoku: decoding order matters.** %d held-out puzzles, blanks decoded greedily, k cells per forward pass.\n\n", r.Sudoku[0].Puzzles)
		b.WriteString("| order (sampler) | setting | NFE | solved | cell acc |\n|---|--:|--:|--:|--:|\n")
		for _, row := range r.Sudoku {
			s := row.SudokuScore
			fmt.Fprintf(&b, "| %s | %s | %.1f | %.1f%% | %.3f |\n", row.Decoding.Sampler, row.Decoding.Setting(), s.MeanNFE, 100*s.SolvedRate(), s.CellAcc)
		}
		if line := sudokuKeyLine(r.Sudoku); line != "" {
			fmt.Fprintf(&b, "\n%s\n", line)
		}
		if f, ok := o.Plots[TaskSudoku]; ok {
			fmt.Fprintf(&b, "\n![Sudoku solved vs NFE](%s)\n", path.Join(plotDir, f))
		}
	}
	if l := r.Likelihood; l != nil {
		bd := l.Bound
		fmt.Fprintf(&b, "\n**Likelihood.** LLaDA's Monte-Carlo bound on held-out Brown text (%d windows of %d tokens, %d masked copies "+
			"each): %.3f ± %.3f nats/token (perplexity ≤ %.1f); the estimator ran %.0f masked copies/s.\n",
			l.Sequences, l.Length, l.MC.Samples, bd.PerToken(), bd.PerTokenSE(), bd.Perplexity(), l.CopiesPerSecond)
	}
	r.writeSemanticSummary(&b, o, plotDir)
	if lines := r.distillKeyLines(); len(lines) > 0 {
		fmt.Fprintf(&b, "\n**Distilled students vs their teachers.** Each student with its recommended sampler, beside its teacher "+
			"with the same sampler (NFE sweep %s, temperature %g; full table in RESULTS.md):\n\n", joinInts(r.Config.DistillNFE), r.Config.DistillTemperature)
		for _, l := range lines {
			fmt.Fprintf(&b, "- %s\n", l)
		}
		if f, ok := o.Plots[TaskDistill]; ok {
			fmt.Fprintf(&b, "\n![teachers vs students: quality against NFE and wall clock](%s)\n", path.Join(plotDir, f))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// continuousSummaryNote says what the continuous rows of the summary table are.
func (r *Report) continuousSummaryNote() string {
	if !r.hasContinuous() {
		return ""
	}
	return " Rows marked (continuous) are the continuous-family model (embedding-space Gaussian diffusion) with its solvers on " +
		"the same prompts and spans: steps = solver steps, no temperature; its infill holds the given tokens clean and " +
		"integrates the span from noise."
}

func sortedInts(v []int) []int {
	s := append([]int(nil), v...)
	sort.Ints(s)
	return s
}

// sudokuKeyLine states the solved rate of each order at its most careful setting (fewest tokens per pass).
func sudokuKeyLine(rows []SudokuRow) string {
	best := map[string]SudokuRow{}
	var order []string
	for _, row := range rows {
		cur, ok := best[row.Decoding.Sampler]
		if !ok {
			order = append(order, row.Decoding.Sampler)
		}
		if !ok || row.MeanNFE > cur.MeanNFE {
			best[row.Decoding.Sampler] = row
		}
	}
	parts := make([]string, len(order))
	for i, n := range order {
		row := best[n]
		parts[i] = fmt.Sprintf("%s %.1f%% (%d/%d)", n, 100*row.SolvedRate(), row.Solved, row.Puzzles)
	}
	return "Solved at one cell per forward pass: " + strings.Join(parts, ", ") + "."
}
