package llada

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/dlclark/regexp2"
	"github.com/stretchr/testify/require"
)

// regexSpans runs the pattern through regexp2 only (the general path).
func regexSpans(t testing.TB, pattern, s string) []span {
	m := &regexMatcher{re: regexp2.MustCompile(pattern, regexp2.None)}
	sp, err := m.spans(s, nil)
	require.NoError(t, err)
	return sp
}

func fastSpans(pattern, s string) []span {
	if s == "" {
		return []span{{0, 0, false}}
	}
	return fastSplitter(pattern)(s, nil)
}

// randomTricky draws strings from characters where the alternatives of the patterns compete.
func randomTricky(r *rand.Rand) string {
	alphabet := []string{"a", "Z", "é", "ß", "中", "ж", "1", "٣", "²", "Ⅻ", " ", "  ", "\t", "\n", "\r", "\u00a0", "\u3000",
		"'", "'s", "'T", "'re", "'LL", "'ve", "'m", "'d", "!", ".", "(", "😀", "\u0301", "_", "-", "\u200d", "x'"}
	var b strings.Builder
	for n := r.IntN(12); n >= 0; n-- {
		b.WriteString(alphabet[r.IntN(len(alphabet))])
	}
	return b.String()
}

func TestFastSplitMatchesRegex(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	inputs := goldenCorpus(t)
	for range 3000 {
		inputs = append(inputs, randomTricky(r))
	}
	for _, p := range []string{gpt2Pattern, llama3Pattern, qwen2Pattern} {
		require.NotNil(t, fastSplitter(p))
		for _, s := range inputs {
			if strings.ContainsRune(s, 0x17F) {
				continue // regexp2 does not fold ſ to s; TestFastSplitFoldsLongS and the goldens cover it
			}
			require.Equal(t, regexSpans(t, p, s), fastSpans(p, s), "pattern %q input %q", p, s)
		}
	}
}

func TestFastSplitFoldsLongS(t *testing.T) {
	// Oniguruma folds U+017F to s inside (?i:...); the oracle splits "x'ſx" as x, 'ſ, x.
	sp := fastSpans(llama3Pattern, "x'ſx")
	require.Equal(t, []span{{0, 1, true}, {1, 4, true}, {4, 5, true}}, sp)
}

func TestFastSplitUsedByRealFiles(t *testing.T) {
	for _, name := range []string{"bpe-llama3.json", "bpe-qwen2.json", "bpe-gpt2.json"} {
		tok, err := LoadTokenizer("testdata/tokenizers/" + name)
		require.NoError(t, err)
		found := false
		var walk func(p preTokenizer)
		walk = func(p preTokenizer) {
			switch p := p.(type) {
			case preTokSeq:
				for _, q := range p {
					walk(q)
				}
			case splitPreTok:
				if m, ok := p.m.(*regexMatcher); ok && m.fast != nil {
					found = true
				}
			case byteLevelPreTok:
				if m, ok := p.re.(*regexMatcher); ok && m.fast != nil {
					found = true
				}
			}
		}
		walk(tok.preTok)
		require.True(t, found, "%s should use the fast splitter", name)
	}
}
