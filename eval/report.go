package eval

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
)

// MarkdownOptions adds context to WriteMarkdown.
type MarkdownOptions struct {
	Title   string   // default "Evaluation"
	Command string   // the command that regenerates the report
	Notes   []string // lines printed under the title (models, machine)
	Plots   map[string]string
}

// WriteMarkdown writes the report as markdown tables, one section per task that ran; plots maps a task name to
// an image path shown under its table.
func (r *Report) WriteMarkdown(w io.Writer, o MarkdownOptions) error {
	var b strings.Builder
	title := o.Title
	if title == "" {
		title = "Evaluation"
	}
	fmt.Fprintf(&b, "# %s\n\n", title)
	if o.Command != "" {
		fmt.Fprintf(&b, "Regenerate with `%s` (seed %d; wall time %s).\n\n", o.Command, r.Config.Seed, fmtDuration(r.Elapsed.Seconds()))
	}
	for _, n := range o.Notes {
		fmt.Fprintf(&b, "%s\n", n)
	}
	if len(o.Notes) > 0 {
		b.WriteString("\n")
	}
	plot := func(task string) {
		if p, ok := o.Plots[task]; ok {
			fmt.Fprintf(&b, "\n![%s quality vs NFE](%s)\n", task, p)
		}
	}
	c := r.Config
	if len(r.Samples) > 0 {
		fmt.Fprintf(&b, "## Samples: generative perplexity and diversity\n\n")
		fmt.Fprintf(&b, "%d held-out prompts of %d tokens, %d generated tokens each at temperature %g; generative perplexity "+
			"under the autoregressive judge (lower is better), mean per-sample unigram entropy (nats), distinct-n over all "+
			"samples and self-BLEU-4 (lower is more diverse). k = tokens committed per forward pass; adaptive samplers decide their own number of passes, and their threshold (τ), factor (f) or entropy budget (γ) is swept instead.%s\n\n",
			c.GenPrompts, c.PromptLength, c.GenLength, c.GenTemperature, r.continuousNote())
		b.WriteString("| sampler | setting | NFE | gen PPL | entropy | distinct-1 | distinct-2 | distinct-3 | self-BLEU | time |\n")
		b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
		for _, row := range r.Samples {
			s := row.SampleScore
			fmt.Fprintf(&b, "| %s | %s | %.1f | %.1f | %.2f | %.3f | %.3f | %.3f | %.3f | %s |\n", row.Decoding.Name(),
				row.Decoding.Setting(), s.MeanNFE, s.GenPPL, s.Entropy, s.Distinct[0], s.Distinct[1], s.Distinct[2],
				s.SelfBLEU, fmtDuration(s.Seconds))
		}
		plot(TaskGenPPL)
		b.WriteString("\n")
	}
	if len(r.Infill) > 0 {
		fmt.Fprintf(&b, "## Infill\n\n")
		spans := append([]int(nil), c.InfillSpans...)
		sort.Ints(spans)
		fmt.Fprintf(&b, "%d held-out sentences cut to %d tokens; in each, one span of %s tokens masked at the start, middle and "+
			"end (%d items) and decoded greedily. Exact match of the whole span (EM) and token accuracy. Token accuracy "+
			"rewards the most probable token at each position on its own, which decoding a span in one pass approximates; "+
			"exact match rewards a span that is right as a whole.%s\n\n",
			c.InfillSentences, c.InfillLength, joinInts(spans), r.Infill[0].Items, r.continuousInfillNote())
		b.WriteString("| sampler | setting | NFE | EM | token acc |")
		for _, k := range spans {
			fmt.Fprintf(&b, " EM len %d |", k)
		}
		b.WriteString(" EM start | EM middle | EM end | time |\n|---|--:|--:|--:|--:|")
		b.WriteString(strings.Repeat("--:|", len(spans)+4) + "\n")
		for _, row := range r.Infill {
			s := row.InfillScore
			fmt.Fprintf(&b, "| %s | %s | %.2f | %.3f | %.3f |", row.Decoding.Name(), row.Decoding.Setting(), s.MeanNFE, s.ExactMatch, s.TokenAcc)
			for _, k := range spans {
				fmt.Fprintf(&b, " %.3f |", s.BySpan[k])
			}
			fmt.Fprintf(&b, " %.3f | %.3f | %.3f | %s |\n", s.ByPosition[SpanStart], s.ByPosition[SpanMiddle], s.ByPosition[SpanEnd], fmtDuration(s.Seconds))
		}
		plot(TaskInfill)
		b.WriteString("\n")
	}
	if len(r.Sudoku) > 0 {
		fmt.Fprintf(&b, "## Sudoku\n\n")
		fmt.Fprintf(&b, "%d held-out puzzles with unique solutions; the blank cells are decoded greedily, k cells per forward pass, "+
			"in the order the sampler chooses. Solved = the grid equals the solution; valid = a complete grid that keeps the "+
			"givens and obeys the rules; cell acc = blank cells right.\n\n", r.Sudoku[0].Puzzles)
		b.WriteString("| sampler (order) | setting | NFE | solved | valid | cell acc | time |\n|---|--:|--:|--:|--:|--:|--:|\n")
		for _, row := range r.Sudoku {
			s := row.SudokuScore
			fmt.Fprintf(&b, "| %s | %s | %.1f | %.1f%% (%d/%d) | %.1f%% | %.3f | %s |\n", row.Decoding.Sampler, row.Decoding.Setting(),
				s.MeanNFE, 100*s.SolvedRate(), s.Solved, s.Puzzles, 100*s.ValidRate(), s.CellAcc, fmtDuration(s.Seconds))
		}
		plot(TaskSudoku)
		b.WriteString("\n")
	}
	if l := r.Likelihood; l != nil {
		bd := l.Bound
		fmt.Fprintf(&b, "## Likelihood bound\n\n")
		fmt.Fprintf(&b, "LLaDA's Monte-Carlo estimator (stratified mask counts, 1/t weighting) on %d held-out windows of %d tokens, "+
			"%d masked copies each in draws of %d:\n\n", l.Sequences, l.Length, l.MC.Samples, l.MC.Batch)
		b.WriteString("| NLL bound (nats/token) | s.e. | perplexity bound | copies | copies/s | time |\n|--:|--:|--:|--:|--:|--:|\n")
		fmt.Fprintf(&b, "| %.4f | %.4f | %.1f | %d | %.0f | %s |\n", bd.PerToken(), bd.PerTokenSE(), bd.Perplexity(), bd.Copies,
			l.CopiesPerSecond, fmtDuration(bd.Elapsed.Seconds()))
		b.WriteString("\n")
	}
	r.writeSemanticMarkdown(&b, o)
	r.writeDistillMarkdown(&b, o)
	_, err := io.WriteString(w, b.String())
	return err
}

// hasContinuous reports whether rows of continuous-family samplers are in the report.
func (r *Report) hasContinuous() bool {
	for _, row := range r.Samples {
		if row.Decoding.Continuous() {
			return true
		}
	}
	for _, row := range r.Infill {
		if row.Decoding.Continuous() {
			return true
		}
	}
	return false
}

// continuousNote explains the continuous rows of the samples table, when there are any.
func (r *Report) continuousNote() string {
	if !r.hasContinuous() {
		return ""
	}
	return " Rows marked (continuous) run the continuous-family model (embedding-space Gaussian diffusion) on the same prompts: " +
		"steps = solver steps, one forward pass each (heun two, one on its last step); they take no temperature (their " +
		"randomness is the Gaussian starting point, and ddpm's noise at every step). Their MAUVE columns are not computed."
}

// continuousInfillNote says how the continuous rows of the infill table decode.
func (r *Report) continuousInfillNote() string {
	if !r.hasContinuous() {
		return ""
	}
	return " Rows marked (continuous) hold every given token clean and integrate the span from Gaussian noise in steps solver " +
		"steps (not greedily), with one extra generated position after the sentence that is discarded."
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprint(x)
	}
	if len(s) > 1 {
		return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
	}
	return strings.Join(s, "")
}

func fmtDuration(sec float64) string {
	if math.IsNaN(sec) {
		return "-"
	}
	if sec < 60 {
		return fmt.Sprintf("%.1fs", sec)
	}
	return fmt.Sprintf("%dm%02ds", int(sec)/60, int(sec)%60)
}
