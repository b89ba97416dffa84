package eval

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/llada-go/llada"
	"github.com/llada-go/llada/onnx"
)

// BenchmarkConstraintGenPPL measures what a constraint costs in text quality on the Brown model: the judge's
// generative perplexity of 32-token continuations of held-out sentence openings, unconstrained and under a
// sentence-shaped pattern, and the fraction of constrained outputs that match (which must be 1). Outside CI:
//
//	go test -run '^$' -bench BenchmarkConstraintGenPPL -benchtime 1x ./eval
func BenchmarkConstraintGenPPL(b *testing.B) {
	m, closer, err := OpenModel("../models/brown", onnx.WithThreadSpinning(false))
	require.NoError(b, err)
	defer closer.Close()
	judge, err := OpenJudge("../models/judge/model.onnx", onnx.WithThreadSpinning(false))
	require.NoError(b, err)
	defer judge.Close()
	sentences, err := LoadSentences(heldout)
	require.NoError(b, err)
	var prompts [][]int
	for _, s := range sentences {
		words := strings.Fields(s)
		if len(words) < 4 {
			continue
		}
		ids, err := m.Tokenizer().Encode(strings.Join(words[:3], " "), true)
		require.NoError(b, err)
		prompts = append(prompts, ids)
		if len(prompts) == 16 {
			break
		}
	}
	const pattern = `[a-z]+(?:,? [a-z]+)*\.`
	c, err := llada.CompileRegex(pattern, m.Tokenizer().(llada.Vocabulary))
	require.NoError(b, err)
	re := regexp.MustCompile(`^(?:` + pattern + `)$`)
	for _, name := range []string{"llada-low-confidence", "fast-dllm-threshold", "dream-entropy", "mdlm"} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				for _, cons := range []*llada.Constraint{nil, c} {
					var seqs [][]int
					var from []int
					valid := 0
					for i, p := range prompts {
						cfg := llada.GenerateConfig{GenLength: 32, BlockLength: 32, Steps: 32, Seed: uint64(i), Temperature: 1,
							Sampler: llada.SamplerByName(name), Constraint: cons}
						res, err := m.GenerateIDs(context.Background(), [][]int{p}, cfg)
						require.NoError(b, err)
						s := res.Sequences[0]
						if re.MatchString(strings.TrimSpace(s.Text)) {
							valid++
						}
						seqs = append(seqs, trimEnd(s.IDs, s.PromptLen, m.Contract()))
						from = append(from, s.PromptLen)
					}
					ppl, err := judge.GenPPL(context.Background(), seqs, from, 16)
					require.NoError(b, err)
					unit := "free"
					if cons != nil {
						unit = "constrained"
					}
					b.ReportMetric(ppl.Value(), "genppl-"+unit)
					b.ReportMetric(float64(valid)/float64(len(prompts)), "match-"+unit)
				}
			}
		})
	}
}

// trimEnd drops a trailing run of end tokens (EOS/EOT/pad) so the judge scores the text only.
func trimEnd(ids []int, from int, c llada.Contract) []int {
	end := len(ids)
	for end > from+1 && (ids[end-1] == c.EOSID || ids[end-1] == c.EOTID || ids[end-1] == c.PadID) {
		end--
	}
	return ids[:end]
}
