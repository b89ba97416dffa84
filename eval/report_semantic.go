package eval

import (
	"fmt"
	"math"
	"path"
	"sort"
	"strings"
)

// writeSemanticMarkdown appends the feature-based sections to the full report.
func (r *Report) writeSemanticMarkdown(b *strings.Builder, o MarkdownOptions) {
	if !r.hasSemantics() {
		return
	}
	c := r.Config
	b.WriteString("## Semantic fidelity and mode coverage\n\n")
	r.featureLine(b)
	if rows := r.SemanticSamples(); len(rows) > 0 {
		fmt.Fprintf(b, "### MAUVE and word-level diversity of the samples\n\n")
		fmt.Fprintf(b, "MAUVE (Pillutla et al. 2021) between the continuations of %d held-out prompts (the %d genppl samples and %d more, "+
			"drawn the same way) and the human continuations of the same prompts. Features of a continuation: the judge's final "+
			"hidden states mean-pooled over its %d tokens (L2-normalised: content) joined with its mean log-probability under the "+
			"judge (fluency; standardised on the human continuations and weighted to carry as much variance there as the content "+
			"block, eval.MauveVectors); then as the reference implementation: L2-normalised, PCA to 90%% of the variance, k-means "+
			"into %d clusters, area under the divergence curve with c = 5 (higher is closer to human text). Precision and recall read the same cluster histograms as "+
			"Sajjadi et al. (2018) do (PRD, F_1/8 and F_8): precision drops when the model writes where humans do not, recall "+
			"when it misses where humans write (mode collapse). Word columns "+
			"count lower-cased words and punctuation marks of the %d genppl samples (not token ids).\n\n",
			rows[0].Semantic.MauveSamples, c.GenPrompts, rows[0].Semantic.MauveSamples-c.GenPrompts, c.GenLength,
			rows[0].Semantic.Mauve.Buckets, c.GenPrompts)
		b.WriteString("| sampler | setting | NFE | gen PPL | MAUVE | precision | recall | word distinct-1 | word distinct-2 | word self-BLEU | id distinct-2 |\n")
		b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
		for _, ref := range r.MauveReferences {
			fmt.Fprintf(b, "| *%s* | - | - | %.1f | %.3f | %.3f | %.3f | - | - | - | - |\n", ref.Name, ref.GenPPL, ref.Mauve.Mauve, ref.Mauve.Precision, ref.Mauve.Recall)
		}
		for _, row := range rows {
			m, w := row.Semantic.Mauve, row.Semantic.Words
			fmt.Fprintf(b, "| %s | %s | %.1f | %.1f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f |\n", row.Decoding.Sampler, row.Decoding.Setting(),
				row.MeanNFE, row.GenPPL, m.Mauve, m.Precision, m.Recall, w.Distinct[0], w.Distinct[1], w.SelfBLEU, row.Distinct[1])
		}
		if f, ok := o.Plots[PlotMauve]; ok {
			fmt.Fprintf(b, "\n![MAUVE vs NFE](%s)\n", f)
		}
		fmt.Fprintf(b, "\n%s %s\n\n", r.referenceNote(), rankingNote(rows, r.MauveHumanGenPPL))
	}
	if rows := r.semanticInfill(); len(rows) > 0 {
		b.WriteString("### Semantic similarity of infills\n\n")
		b.WriteString("The infill items above, filled span against the held-out tokens, compared through judge token features from the " +
			"span start on (the causal judge's features before it are equal by construction): BERTScore-style greedy matching " +
			"(precision, recall, F1 of best token cosines; no idf, no rescaling) and the cosine of mean-pooled features, next to " +
			"exact match and token accuracy.\n\n")
		b.WriteString("| sampler | setting | NFE | EM | token acc | BERTScore P | BERTScore R | BERTScore F1 | cosine |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|\n")
		for _, row := range rows {
			s := row.Semantic
			fmt.Fprintf(b, "| %s | %s | %.2f | %.3f | %.3f | %.4f | %.4f | %.4f | %.4f |\n", row.Decoding.Sampler, row.Decoding.Setting(),
				row.MeanNFE, row.ExactMatch, row.TokenAcc, s.Precision, s.Recall, s.F1, s.Cosine)
		}
		b.WriteString("\n")
	}
	if cal := r.Calibration; cal != nil {
		r.calibrationMarkdown(b, o.Plots[PlotCalibration])
	}
}

// referenceNote reads the reference rows: held-out text of the same documents (the ceiling at this sample
// size), of other documents (a topic shift) and the unigram floor; it says whether the expected orderings hold
// (same documents above 0.9, unigram below 0.1) rather than assuming it.
func (r *Report) referenceNote() string {
	var same, held, uni *MauveReference
	for i, ref := range r.MauveReferences {
		switch ref.Name {
		case refSameDocs:
			same = &r.MauveReferences[i]
		case refHeldOut:
			held = &r.MauveReferences[i]
		case refUnigram:
			uni = &r.MauveReferences[i]
		}
	}
	if same == nil || held == nil || uni == nil {
		return ""
	}
	s := fmt.Sprintf("Reference rows (%d continuations each, the same features and quantisation): held-out text against held-out "+
		"text of the same documents (alternate blocks of %d sentences) scores %.3f; human continuations from other held-out "+
		"documents against the prompts' own, %.3f (a topic shift); the prompts continued by tokens drawn independently from the "+
		"held-out unigram distribution, %.3f (gen PPL %.0f; the human continuations' is %.1f).",
		r.Config.MauvePrompts, sameDocsBlock, same.Mauve.Mauve, held.Mauve.Mauve, uni.Mauve.Mauve, uni.GenPPL, r.MauveHumanGenPPL)
	if same.Mauve.Mauve > 0.9 && uni.Mauve.Mauve < 0.1 {
		s += " So the expected orderings hold (held-out ≈ 1, unigram ≈ 0). The features carry the judge's fluency, so MAUVE " +
			"falls both for text the judge finds far less likely than human text and for text it finds far more likely " +
			"(repetitive, low-entropy samplers): it measures closeness to human text, not one-sided quality."
	} else {
		s += " The expected orderings (held-out above 0.9, unigram below 0.1) do NOT hold at this sample size: read the MAUVE " +
			"column with care."
	}
	return s
}

func (r *Report) hasSemantics() bool {
	return r.Paraphrase != nil || r.Calibration != nil || len(r.SemanticSamples()) > 0 || len(r.semanticInfill()) > 0
}

// PlotMauve and PlotCalibration are the keys of the feature-based plots in MarkdownOptions.Plots (package
// eval/plots draws them).
const (
	PlotMauve       = "mauve"
	PlotCalibration = TaskCalibration
)

func (r *Report) SemanticSamples() []SampleRow {
	var out []SampleRow
	for _, row := range r.Samples {
		if row.Semantic != nil {
			out = append(out, row)
		}
	}
	return out
}

func (r *Report) semanticInfill() []InfillRow {
	var out []InfillRow
	for _, row := range r.Infill {
		if row.Semantic != nil {
			out = append(out, row)
		}
	}
	return out
}

func (r *Report) featureLine(b *strings.Builder) {
	if p := r.Paraphrase; p != nil {
		fmt.Fprintf(b, "Features: the judge's final hidden state (after its final RMSNorm, the LM head's input; the optional "+
			"`hidden_states` output of docs/contract.md). Check on %d held-out sentences: a sentence and a paraphrase-like copy "+
			"(a sixth of the words dropped, or two neighbouring pairs swapped) have mean-pooled cosine %.3f, two different "+
			"sentences %.3f; AUC %.3f of telling them apart.\n\n", p.Pairs, p.MeanParaphrase, p.MeanUnrelated, p.AUC)
	}
}

func (r *Report) calibrationMarkdown(b *strings.Builder, plot string) {
	cal := r.Calibration
	c := r.Config
	b.WriteString("### Calibration of the denoiser\n\n")
	fmt.Fprintf(b, "%d held-out windows of %d tokens, each masked %d times (l of L tokens masked, l uniform in 1..L); at the %d masked "+
		"positions, the argmax probability (confidence) against whether the argmax is the held-out token. ECE over %d "+
		"equal-width bins: **%.4f** (mean confidence %.3f, accuracy %.3f).\n\n",
		c.LikelihoodSeqs, c.LikelihoodLength, c.CalibrationCopies, cal.Tokens, len(cal.Bins), cal.ECE, cal.Confidence, cal.Accuracy)
	b.WriteString("| confidence | tokens | mean confidence | accuracy |\n|---|--:|--:|--:|\n")
	for _, bn := range cal.Bins {
		if bn.Count == 0 {
			continue
		}
		fmt.Fprintf(b, "| %.2f-%.2f | %d | %.3f | %.3f |\n", bn.Lo, bn.Hi, bn.Count, bn.Confidence, bn.Accuracy)
	}
	if plot != "" {
		fmt.Fprintf(b, "\n![reliability diagram](%s)\n", plot)
	}
	b.WriteString("\n")
}

// writeSemanticSummary appends the README form: MAUVE and word diversity per sampler at its most careful
// setting, the ranking comparison, infill similarity at k=1, calibration, and the plots.
func (r *Report) writeSemanticSummary(b *strings.Builder, o MarkdownOptions, plotDir string) {
	if !r.hasSemantics() {
		return
	}
	b.WriteString("\n**Semantic fidelity and mode coverage.** ")
	r.featureLine(b)
	if rows := r.SemanticSamples(); len(rows) > 0 {
		fmt.Fprintf(b, "MAUVE of %d continuations against the human continuations of the same prompts (features: the judge's mean-pooled "+
			"hidden states and its mean log-probability of the continuation; k-means into %d clusters, c = 5; "+
			"precision/recall = PRD F_1/8 and F_8 of the same histograms), word-level diversity of the genppl samples; each sampler at its "+
			"most careful setting (most forward passes), all settings in [RESULTS.md](%s):\n\n",
			rows[0].Semantic.MauveSamples, rows[0].Semantic.Mauve.Buckets, path.Join(plotDir, "RESULTS.md"))
		b.WriteString("| sampler | setting | NFE | gen PPL | MAUVE | precision | recall | word distinct-2 | word self-BLEU |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|\n")
		for _, ref := range r.MauveReferences {
			fmt.Fprintf(b, "| *%s* | - | - | %.1f | %.3f | %.3f | %.3f | - | - |\n", ref.Name, ref.GenPPL, ref.Mauve.Mauve, ref.Mauve.Precision, ref.Mauve.Recall)
		}
		for _, row := range mostCareful(rows) {
			m, w := row.Semantic.Mauve, row.Semantic.Words
			fmt.Fprintf(b, "| %s | %s | %.1f | %.1f | %.3f | %.3f | %.3f | %.3f | %.3f |\n", row.Decoding.Sampler, row.Decoding.Setting(),
				row.MeanNFE, row.GenPPL, m.Mauve, m.Precision, m.Recall, w.Distinct[1], w.SelfBLEU)
		}
		fmt.Fprintf(b, "\n%s %s\n", r.referenceNote(), rankingNote(rows, r.MauveHumanGenPPL))
		if f, ok := o.Plots[PlotMauve]; ok {
			fmt.Fprintf(b, "\n![MAUVE vs NFE](%s)\n", path.Join(plotDir, f))
		}
	}
	if rows := r.semanticInfill(); len(rows) > 0 {
		var parts []string
		for _, row := range mostCarefulInfill(rows) {
			parts = append(parts, fmt.Sprintf("%s %.4f (token acc %.3f)", row.Decoding.Sampler, row.Semantic.F1, row.TokenAcc))
		}
		fmt.Fprintf(b, "\nInfill, BERTScore-style F1 of judge token features from the span start, at each sampler's most careful setting: %s.\n",
			strings.Join(parts, ", "))
	}
	if cal := r.Calibration; cal != nil {
		fmt.Fprintf(b, "\n**Calibration.** On %d masked held-out tokens the denoiser's argmax probability has ECE %.4f (mean confidence %.3f, accuracy %.3f).\n",
			cal.Tokens, cal.ECE, cal.Confidence, cal.Accuracy)
		if f, ok := o.Plots[PlotCalibration]; ok {
			fmt.Fprintf(b, "\n![reliability diagram](%s)\n", path.Join(plotDir, f))
		}
	}
}

// mostCareful keeps, per sampler, the setting with the most forward passes (the first on ties), in row order.
func mostCareful(rows []SampleRow) []SampleRow {
	return mostCarefulOf(rows, func(r SampleRow) (string, float64) { return r.Decoding.Sampler, r.MeanNFE })
}

func mostCarefulInfill(rows []InfillRow) []InfillRow {
	return mostCarefulOf(rows, func(r InfillRow) (string, float64) { return r.Decoding.Sampler, r.MeanNFE })
}

func mostCarefulOf[T any](rows []T, key func(T) (string, float64)) []T {
	best := map[string]int{}
	var order []string
	for i, row := range rows {
		name, nfe := key(row)
		j, ok := best[name]
		if !ok {
			order = append(order, name)
			best[name] = i
		} else if _, cur := key(rows[j]); nfe > cur {
			best[name] = i
		}
	}
	out := make([]T, len(order))
	for i, n := range order {
		out[i] = rows[best[n]]
	}
	return out
}

// rankingNote compares the orders that generative perplexity and MAUVE put the samplers in: Spearman's ρ over
// all settings (1 = the same order), and the samplers whose place at their most careful setting moves by a
// quarter of the list or more. humanPPL (the human continuations' gen PPL; 0 if unknown) adds the order by
// closeness to it, which a MAUVE that sees fluency should follow more than the one-sided order.
func rankingNote(rows []SampleRow, humanPPL float64) string {
	ppl := make([]float64, len(rows))
	mv := make([]float64, len(rows))
	wd := make([]float64, len(rows))
	near := make([]float64, len(rows))
	for i, row := range rows {
		ppl[i] = -row.GenPPL // higher is better for all four
		mv[i] = row.Semantic.Mauve.Mauve
		wd[i] = row.Semantic.Words.Distinct[1]
		near[i] = -math.Abs(math.Log(row.GenPPL / humanPPL))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Rankings over the %d settings: Spearman ρ between the order by gen PPL (lower first) and by MAUVE (higher first) "+
		"is %.2f; between gen PPL and word distinct-2, %.2f.", len(rows), Spearman(ppl, mv), Spearman(ppl, wd))
	if humanPPL > 0 {
		fmt.Fprintf(&b, " Between MAUVE and closeness of gen PPL to the human continuations' %.1f (|ln gen PPL − ln %.1f|, "+
			"smaller first), %.2f.", humanPPL, humanPPL, Spearman(near, mv))
	}
	if moved := largestMoves(rows, ppl, mv, 6); len(moved) > 0 {
		fmt.Fprintf(&b, " Settings whose place (of %d, 1 = best) moves most between the two orders: %s.", len(rows), strings.Join(moved, "; "))
	}
	top := mostCareful(rows)
	if len(top) < 2 {
		return b.String()
	}
	p := make([]float64, len(top))
	m := make([]float64, len(top))
	for i, row := range top {
		p[i], m[i] = -row.GenPPL, row.Semantic.Mauve.Mauve
	}
	rp, rm := placeOf(p), placeOf(m)
	var moved []string
	for i, row := range top {
		if d := rp[i] - rm[i]; math.Abs(d) >= float64(len(top))/4 {
			moved = append(moved, fmt.Sprintf("%s (gen PPL %.1f, place %g; MAUVE %.3f, place %g)", row.Decoding.Sampler, row.GenPPL, rp[i], row.Semantic.Mauve.Mauve, rm[i]))
		}
	}
	if len(moved) == 0 {
		fmt.Fprintf(&b, " At each sampler's most careful setting no sampler moves by %d or more places.", (len(top)+3)/4)
	} else {
		fmt.Fprintf(&b, " At each sampler's most careful setting (%d samplers, place 1 = best), MAUVE moves: %s.", len(top), strings.Join(moved, "; "))
	}
	return b.String()
}

// largestMoves lists the n settings whose places by gen PPL and by MAUVE differ most (and at all), largest
// difference first (ties: row order). No threshold: a fixed cut hid a setting that moved from place 19.5 to
// 1.5 of 73 because a quarter of the list is 18.25.
func largestMoves(rows []SampleRow, ppl, mv []float64, n int) []string {
	rp, rm := placeOf(ppl), placeOf(mv)
	idx := make([]int, len(rows))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return math.Abs(rp[idx[a]]-rm[idx[a]]) > math.Abs(rp[idx[b]]-rm[idx[b]]) })
	var out []string
	for _, i := range idx {
		if len(out) == n || rp[i] == rm[i] {
			break
		}
		row := rows[i]
		out = append(out, fmt.Sprintf("%s %s (gen PPL %.1f, place %g; MAUVE %.3f, place %g)", row.Decoding.Sampler, row.Decoding.Setting(),
			row.GenPPL, rp[i], row.Semantic.Mauve.Mauve, rm[i]))
	}
	return out
}

// placeOf gives 1-based places, best (largest) first; ties share the mean place.
func placeOf(v []float64) []float64 {
	r := averageRanks(v)
	out := make([]float64, len(v))
	for i := range r {
		out[i] = float64(len(v)) + 1 - r[i]
	}
	return out
}

// averageRanks returns 1-based ranks in ascending order, ties sharing their mean rank.
func averageRanks(v []float64) []float64 {
	idx := make([]int, len(v))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return v[idx[a]] < v[idx[b]] })
	r := make([]float64, len(v))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && v[idx[j+1]] == v[idx[i]] {
			j++
		}
		for k := i; k <= j; k++ {
			r[idx[k]] = float64(i+j)/2 + 1
		}
		i = j + 1
	}
	return r
}

// Spearman is the rank correlation of a and b (Pearson's correlation of their average ranks); 0 when either is
// constant or shorter than 2.
func Spearman(a, b []float64) float64 {
	if len(a) != len(b) || len(a) < 2 {
		return 0
	}
	ra, rb := averageRanks(a), averageRanks(b)
	ma, mb := mean(ra), mean(rb)
	var ab, aa, bb float64
	for i := range ra {
		ab += (ra[i] - ma) * (rb[i] - mb)
		aa += (ra[i] - ma) * (ra[i] - ma)
		bb += (rb[i] - mb) * (rb[i] - mb)
	}
	if aa == 0 || bb == 0 {
		return 0
	}
	return ab / math.Sqrt(aa*bb)
}
