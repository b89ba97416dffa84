package llada

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	brownOnce  sync.Once
	brownModel *Model
	brownErr   error
)

// openBrown opens the shipped Brown model (models/brown) once for the constraint tests.
func openBrown(t testing.TB) *Model {
	t.Helper()
	brownOnce.Do(func() { brownModel, brownErr = Open("models/brown") })
	require.NoError(t, brownErr)
	return brownModel
}

// checkConstrained asserts what a constrained generation promises: no mask left, end tokens only as a
// trailing run, and the decoded text, trimmed, matching the pattern in full.
func checkConstrained(t *testing.T, m *Model, re *regexp.Regexp, seq Sequence, what string) bool {
	t.Helper()
	c := m.Contract()
	gen := seq.IDs[seq.PromptLen:]
	ok := assert.NotContains(t, gen, c.MaskID, what)
	isEnd := func(id int) bool { return id == c.EOSID || id == c.EOTID || id == c.PadID }
	if first := slices.IndexFunc(gen, isEnd); first >= 0 {
		for _, id := range gen[first:] {
			ok = assert.True(t, isEnd(id), "%s: token %d after the end", what, id) && ok
		}
	}
	text := strings.Trim(seq.Text, trimSet)
	return assert.True(t, re.MatchString(text), "%s: %q does not match %s", what, text, re) && ok
}

// constraintConfig is a small config every preset accepts: 16 tokens in two blocks of 8, 16 steps.
func constraintConfig(name string, seed uint64, temp float64, c *Constraint) GenerateConfig {
	return GenerateConfig{GenLength: 16, BlockLength: 8, Steps: 16, Seed: seed, Temperature: temp,
		Sampler: SamplerByName(name), Constraint: c}
}

// Every preset, at temperature 0 or 1, yields only texts that match random patterns in full.
func TestConstraintPropertyEverySampler(t *testing.T) {
	m := openBrown(t)
	tok := m.Tokenizer().(*HFTokenizer)
	rng := rand.New(rand.NewPCG(12, 34))
	var patterns []string
	for len(patterns) < 5 {
		p := randomPattern(rng, 2)
		if !strings.ContainsAny(p, "*+?|{") {
			continue // want some freedom in each pattern
		}
		patterns = append(patterns, p)
	}
	patterns = append(patterns, `[a-z]+( [a-z]+)*\.`, `\d{3}-\d{4}`)
	ctx := context.Background()
	runs, valid := 0, 0
	for _, pat := range patterns {
		c, err := CompileRegex(pat, tok)
		require.NoError(t, err, pat)
		re := regexp.MustCompile(`^(?:` + pat + `)$`)
		for si, name := range SamplerNames() {
			// One seed per (pattern, sampler), greedy and T = 1 alternating.
			for seed := uint64(si % 2); seed < uint64(si%2)+1; seed++ {
				temp := float64(seed)
				res, err := m.Generate(ctx, "The", constraintConfig(name, seed, temp, c))
				if errors.Is(err, ErrUnsatisfiable) {
					t.Fatalf("pattern %q reported unsatisfiable in 16 tokens", pat)
				}
				require.NoError(t, err, "%s %s", pat, name)
				runs++
				if checkConstrained(t, m, re, res.Sequences[0], fmt.Sprintf("%s seed %d pattern %q", name, seed, pat)) {
					valid++
				}
			}
		}
	}
	assert.Equal(t, runs, valid)
	t.Logf("%d/%d constrained generations valid over %d patterns x %d samplers (T=0 and T=1 alternating)", valid, runs, len(patterns), len(SamplerNames()))
}

// BenchmarkConstraintValidity is the validity figure of the closing note, larger than the CI property test:
// random patterns x every preset x T in {0, 1}, reported per sampler (must be 1.000). Outside CI:
//
//	go test -run '^$' -bench BenchmarkConstraintValidity -benchtime 1x .
func BenchmarkConstraintValidity(b *testing.B) {
	m := openBrown(b)
	tok := m.Tokenizer().(*HFTokenizer)
	rng := rand.New(rand.NewPCG(99, 1))
	var patterns []string
	for len(patterns) < 20 {
		if p := randomPattern(rng, 3); strings.ContainsAny(p, "*+?|{") {
			patterns = append(patterns, p)
		}
	}
	for _, name := range SamplerNames() {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				runs, valid, unsat := 0, 0, 0
				for _, pat := range patterns {
					c, err := CompileRegex(pat, tok)
					require.NoError(b, err)
					re := regexp.MustCompile(`^(?:` + pat + `)$`)
					for _, temp := range []float64{0, 1} {
						res, err := m.Generate(context.Background(), "The", constraintConfig(name, 5, temp, c))
						if errors.Is(err, ErrUnsatisfiable) {
							unsat++
							continue
						}
						require.NoError(b, err)
						runs++
						if re.MatchString(strings.Trim(res.Sequences[0].Text, trimSet)) {
							valid++
						}
					}
				}
				b.ReportMetric(float64(valid)/float64(runs), "valid")
				b.ReportMetric(float64(runs), "runs")
				b.ReportMetric(float64(unsat), "unsatisfiable")
			}
		})
	}
}
