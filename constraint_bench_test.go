package llada

import (
	"path/filepath"
	"testing"
	"time"
)

// Constraint benchmarks at LLaDA's vocabulary size (126,464 ids) with real byte strings: Meta-Llama-3's
// byte-level BPE vocabulary (fetched like the tokenizer goldens), its first 126,460 ids, the last four
// standing for mask, EOS, pad and EOT.
//
//	go test -run '^$' -bench 'BenchmarkConstraint' -benchtime 3x .

type benchVocabView struct{ t *HFTokenizer }

func (v benchVocabView) VocabSize() int { return benchVocab }

func (v benchVocabView) TokenBytes(id int) ([]byte, bool, error) {
	if id >= benchVocab-4 {
		return nil, true, nil
	}
	return v.t.TokenBytes(id)
}

func benchConstraintVocab(b *testing.B) benchVocabView {
	dir, err := dauletDir()
	if err != nil {
		b.Fatal(err)
	}
	tok, err := LoadTokenizer(filepath.Join(dir, "Meta-Llama-3-8B-Instruct.json"))
	if err != nil {
		b.Fatal(err)
	}
	return benchVocabView{tok}
}

var benchPatterns = []struct{ name, pattern string }{
	{"phone", `\d{3}-\d{4}`},
	{"sentence", `[A-Z][a-z]+(?: [a-z]+)*\.`},
	{"json", mustSchemaRegex(`{"type":"object","properties":{"name":{"type":"string","maxLength":20},"age":{"type":"integer"},"tags":{"type":"array","items":{"type":"string"},"maxItems":3}},"required":["name","age"]}`)},
}

func mustSchemaRegex(s string) string {
	re, err := JSONSchemaRegex([]byte(s))
	if err != nil {
		panic(err)
	}
	return re
}

// BenchmarkConstraintCompile is the once-per-(pattern, vocabulary) cost: DFA and the lift of every token.
func BenchmarkConstraintCompile(b *testing.B) {
	v := benchConstraintVocab(b)
	for _, p := range benchPatterns {
		b.Run(p.name, func(b *testing.B) {
			var c *Constraint
			for i := 0; i < b.N; i++ {
				var err error
				if c, err = compileConstraint(p.pattern, v, constraintOptions{maxStates: DefaultMaxDFAStates}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(c.States()), "states")
			b.ReportMetric(float64(c.Classes()), "classes")
		})
	}
}

// BenchmarkConstraintStep is the per-step cost on a 64-position canvas, every position masked (the widest
// reachable sets), proposals from random logits (so almost every proposal is inadmissible and re-proposed:
// the worst case), and a joint commit of 8 positions. score-ns/step is the single-threaded scoring cost of
// the same 64 positions in the same run, for comparison.
func BenchmarkConstraintStep(b *testing.B) {
	v := benchConstraintVocab(b)
	logits := benchLogits()
	for _, p := range benchPatterns {
		b.Run(p.name, func(b *testing.B) {
			c, err := CompileRegex(p.pattern, v)
			if err != nil {
				b.Fatal(err)
			}
			ct := Contract{Version: 1, Family: "masked", MaskID: benchVocab - 4, EOSID: benchVocab - 3, PadID: benchVocab - 2,
				EOTID: benchVocab - 1, BOSID: -1, VocabSize: benchVocab}
			den := &tableDenoiser{vocab: benchVocab}
			g, err := newGeneration(den, ct, [][]int{{1}}, GenerateConfig{GenLength: 64, Steps: 64, Constraint: c})
			if err != nil {
				b.Fatal(err)
			}
			for j := 0; j < g.seq; j++ {
				q := j % benchDistinct
				copy(g.logits[j*benchVocab:(j+1)*benchVocab], logits[q*benchVocab:(q+1)*benchVocab])
			}
			g.haveLogits = true
			g.collectWork(g.promptLen, g.seq, false)
			pool := newScorePool(g, 1)
			start := time.Now()
			pool.score()
			scoreNS := time.Since(start).Nanoseconds()
			saved := append([]scored(nil), g.res...)
			canvas := append([]int64(nil), g.canvas...)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				copy(g.res, saved)
				copy(g.canvas, canvas)
				g.cons.filter()
				g.cons.admit(0, g.work[:8])
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/step")
			b.ReportMetric(float64(scoreNS), "score-ns/step")
		})
	}
}
