package llada

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// letterVocab is a test vocabulary: ids 0..3 special (mask, EOS, pad, EOT as in testContract), then one
// token per byte of letters.
type letterVocab struct{ letters string }

func (v letterVocab) VocabSize() int { return 4 + len(v.letters) }

func (v letterVocab) TokenBytes(id int) ([]byte, bool, error) {
	if id < 4 {
		return nil, true, nil
	}
	return []byte{v.letters[id-4]}, false, nil
}

// A pattern no text of the token budget matches is an error before the first forward pass; one token
// fewer in the pattern and it runs.
func TestConstraintUnsatisfiableBeforeForward(t *testing.T) {
	v := letterVocab{"ab"}
	den := &tableDenoiser{vocab: v.VocabSize(), fill: func(ids, att []int64, pos int, out []float32) { clear(out) }}
	run := func(pattern string) error {
		c, err := CompileRegex(pattern, v)
		require.NoError(t, err)
		cfg := GenerateConfig{GenLength: 8, Steps: 8, Constraint: c}
		for _, err := range Stream(context.Background(), den, testContract(v.VocabSize()), [][]int{{5}}, cfg) {
			if err != nil {
				return err
			}
		}
		return nil
	}
	err := run(`ab{8}`) // 9 bytes, one per token: more than 8 tokens
	require.ErrorIs(t, err, ErrUnsatisfiable)
	assert.ErrorContains(t, err, "no text of 8 tokens")
	assert.Zero(t, den.calls, "reported before the first forward pass")
	require.ErrorIs(t, run(`c`), ErrUnsatisfiable, "no token spells c")
	require.ErrorIs(t, run(`[^\x00-\x{10FFFF}]`), ErrUnsatisfiable, "empty language")
	require.NoError(t, run(`ab{7}`))
	assert.Positive(t, den.calls)
}

// On a flat denoiser (every token equally likely) greedy decoding would write the lowest id everywhere; the
// constraint must steer it into the language, ending with EOS after acceptance.
func TestConstraintSteersFlatDenoiser(t *testing.T) {
	v := letterVocab{"abc"}
	den := &tableDenoiser{vocab: v.VocabSize(), fill: func(ids, att []int64, pos int, out []float32) { clear(out) }}
	c, err := CompileRegex(`c(ab)+`, v)
	require.NoError(t, err)
	var last Step
	for st, err := range Stream(context.Background(), den, testContract(v.VocabSize()), [][]int{{5}}, GenerateConfig{GenLength: 8, Steps: 8, Constraint: c}) {
		require.NoError(t, err)
		last = st
	}
	// Greedy over a flat distribution takes the lowest admissible id: EOS (1) where it may stand.
	assert.Equal(t, []int{6, 4, 5, 1, 1, 1, 1, 1}, last.Canvas[1:])
}

// MatchString is the trimmed full match.
func TestConstraintMatchString(t *testing.T) {
	c, err := CompileRegex(`\d+-x`, letterVocab{"0123456789-x"})
	require.NoError(t, err)
	assert.True(t, c.MatchString(" 12-x\n"))
	assert.False(t, c.MatchString("12-x y"))
	assert.False(t, c.MatchString(""))
	e, err := CompileRegex(` a `, letterVocab{"a "})
	require.NoError(t, err)
	assert.False(t, e.MatchString(" a "), "the trimmed text is matched: a pattern with surrounding spaces cannot match")
	assert.Positive(t, c.States())
	assert.Positive(t, c.Classes())
	assert.Equal(t, `\d+-x`, c.Pattern())
}

func TestConstraintCacheAndErrors(t *testing.T) {
	m := openBrown(t)
	tok := m.Tokenizer().(*HFTokenizer)
	a, err := CompileRegex(`[a-z]+`, tok)
	require.NoError(t, err)
	b, err := CompileRegex(`[a-z]+`, tok)
	require.NoError(t, err)
	assert.Same(t, a, b, "the same pattern and tokenizer reuse one compilation")
	_, err = CompileRegex(`(`, tok)
	assert.Error(t, err)
	_, err = CompileRegex(`a`, tok, WithMaxDFAStates(0))
	assert.Error(t, err)
	_, err = CompileRegex(`a`, nil)
	assert.Error(t, err)
	// A model with a smaller logits width than the constraint's vocabulary is refused.
	den := &tableDenoiser{vocab: 10, fill: func(ids, att []int64, pos int, out []float32) { clear(out) }}
	for _, err := range Stream(context.Background(), den, testContract(10), [][]int{{5}}, GenerateConfig{GenLength: 4, Constraint: a}) {
		require.ErrorIs(t, err, ErrInvalidConfig)
		break
	}
}

// tokenAccepts reports whether ids (a generation region) are in the constraint's token language: non-end
// tokens spell a prefix, then only end tokens (special EOS/EOT/pad) after an accepting state.
func tokenAccepts(t *testing.T, c *Constraint, ct Contract, v Vocabulary, ids []int) bool {
	d := c.dfa
	s, ended := int32(0), false
	for _, id := range ids {
		bs, special, err := v.TokenBytes(id)
		require.NoError(t, err)
		isEnd := special && (id == ct.EOSID || id == ct.EOTID || id == ct.PadID)
		switch {
		case isEnd && (ended || d.acc[s]):
			ended = true
		case isEnd || special || ended:
			return false
		default:
			if s = d.run(s, bs); s < 0 {
				return false
			}
		}
	}
	return ended || d.acc[s]
}

// generalise turns a text into a looser pattern it matches: letters become [a-z]+ runs, digits \d+, and
// everything else is quoted.
func generalise(text string) string {
	var b strings.Builder
	prev := ""
	for _, r := range text {
		cls := regexp.QuoteMeta(string(r))
		switch {
		case r >= 'a' && r <= 'z':
			cls = "[a-z]+"
		case r >= '0' && r <= '9':
			cls = `\d+`
		}
		if cls != prev || !strings.HasSuffix(cls, "+") {
			b.WriteString(cls)
		}
		prev = cls
	}
	return b.String()
}

// The constraint never changes an output that already satisfies it, where that is a theorem: a sampler
// without remasking or editing (every committed token stays in the output), proposals at temperature 0, or
// at any temperature when the ranking score does not depend on the proposed token (margin, entropy,
// random, Bernoulli and first-hitting transfers). Then every token the unconstrained run commits is
// admissible (the output itself completes the canvas), the re-proposal only lowers the prob score of
// positions the rule does not commit (at T=0 the argmax has the highest probability), and the random
// streams are consumed identically; so the runs are equal token for token.
func TestConstraintKeepsSatisfyingOutputs(t *testing.T) {
	m := openBrown(t)
	tok := m.Tokenizer().(*HFTokenizer)
	ctx := context.Background()
	checked := 0
	for _, name := range SamplerNames() {
		s := SamplerByName(name).withDefaults()
		if r, err := s.resolve(); err == nil {
			s = r
		}
		if s.ReMDM != ReMDMNone || s.EditThreshold > 0 {
			continue // a remasked or edited token need not be admissible
		}
		temps := []float64{0}
		if s.Score != ScoreProb || s.Transfer == TransferBernoulli || s.Transfer == TransferFirstHitting {
			temps = append(temps, 1)
		}
		for _, temp := range temps {
			for seed := uint64(0); seed < 1; seed++ {
				free, err := m.Generate(ctx, "The", constraintConfig(name, seed, temp, nil))
				require.NoError(t, err)
				seq := free.Sequences[0]
				text := strings.Trim(seq.Text, trimSet)
				for _, pat := range []string{regexp.QuoteMeta(text), generalise(text)} {
					c, err := CompileRegex(pat, tok)
					require.NoError(t, err, pat)
					if !tokenAccepts(t, c, m.Contract(), tok, seq.IDs[seq.PromptLen:]) {
						continue // e.g. an EOS inside the text: the constraint must change it
					}
					got, err := m.Generate(ctx, "The", constraintConfig(name, seed, temp, c))
					require.NoError(t, err)
					assert.Equal(t, seq.IDs, got.Sequences[0].IDs, "%s T=%v seed %d pattern %q", name, temp, seed, pat)
					checked++
				}
			}
		}
	}
	assert.GreaterOrEqual(t, checked, 25, "enough outputs satisfied their own patterns to test the claim")
	t.Logf("%d unconstrained outputs regenerated unchanged under a pattern they satisfy", checked)
}

// A constrained generation at T > 0 is reproducible from its seed.
func TestConstraintSeeded(t *testing.T) {
	m := openBrown(t)
	c, err := CompileRegex(`[a-z ]+\.`, m.Tokenizer().(*HFTokenizer))
	require.NoError(t, err)
	cfg := constraintConfig("llada-low-confidence", 7, 1, c)
	a, err := m.Generate(context.Background(), "The", cfg)
	require.NoError(t, err)
	b, err := m.Generate(context.Background(), "The", cfg)
	require.NoError(t, err)
	assert.Equal(t, a.Sequences[0].IDs, b.Sequences[0].IDs)
}

// The trie-based lift agrees with running every token from every state: same class, same successors.
func TestConstraintLiftMatchesBruteForce(t *testing.T) {
	m := openBrown(t)
	tok := m.Tokenizer().(*HFTokenizer)
	for _, pat := range []string{`[a-z]+( [a-z]+)*\.`, `\d{3}-\d{4}`, `(?i:the) [^ ]{2,5}`} {
		c, err := compileConstraint(pat, tok, constraintOptions{maxStates: DefaultMaxDFAStates})
		require.NoError(t, err)
		n := c.dfa.n
		for id := 0; id < c.vocab; id++ {
			bs, special, err := tok.TokenBytes(id)
			require.NoError(t, err)
			k := int(c.tokClass[id])
			if special {
				assert.Zero(t, k)
				continue
			}
			for s := 0; s < n; s++ {
				want := c.dfa.run(int32(s), bs)
				if k == 0 {
					require.Equal(t, int32(-1), want, "%q: token %d in the dead class moves state %d", pat, id, s)
					continue
				}
				require.Equal(t, want, c.next[s*c.classes+k], "%q: token %d (%q) from state %d", pat, id, bs, s)
			}
		}
		assert.Greater(t, c.Classes(), 2, pat)
	}
}

// Two proposals each admissible alone but not together: the joint check commits the better-scored one and
// re-proposes the other against it.
func TestConstraintJointCommit(t *testing.T) {
	v := letterVocab{"ab"} // a = 4, b = 5
	den := &tableDenoiser{vocab: v.VocabSize(), fill: func(ids, att []int64, pos int, out []float32) {
		clear(out)
		out[1] = -9 // EOS unlikely
		switch pos {
		case 1:
			out[4] = 5 // position 1 wants a, confidently
		case 2:
			out[4] = 3 // position 2 wants a too, less so
		}
	}}
	c, err := CompileRegex(`ab|ba`, v)
	require.NoError(t, err)
	cfg := GenerateConfig{GenLength: 2, Steps: 1, Constraint: c} // quota 2: both positions in one step
	var last Step
	for st, err := range Stream(context.Background(), den, testContract(v.VocabSize()), [][]int{{5}}, cfg) {
		require.NoError(t, err)
		last = st
		assert.Equal(t, []int{1, 2}, st.Committed[0], "one step commits both positions")
	}
	assert.Equal(t, []int{4, 5}, last.Canvas[1:], "a at 1 (higher score), then b at 2 re-proposed: ab")
	// Unconstrained, the same step writes aa.
	cfg.Constraint = nil
	for st, err := range Stream(context.Background(), den, testContract(v.VocabSize()), [][]int{{5}}, cfg) {
		require.NoError(t, err)
		last = st
	}
	assert.Equal(t, []int{4, 4}, last.Canvas[1:])
}
