package llada

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const trimSet = " \t\n\v\f\r"

// The byte DFA accepts exactly what Go's regexp matches in full, and its trimmed form exactly the texts
// whose trimmed form matches; checked on random patterns and random texts, including texts built from
// matches of the pattern so that acceptance is exercised, not only rejection. Invalid UTF-8 is always
// rejected.
func TestRegexDFAAgreesWithGoRegexp(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	accepted := 0
	for n := 0; n < 300; n++ {
		pat := randomPattern(rng, 3)
		re := regexp.MustCompile(`^(?:` + pat + `)$`)
		core, err := compileRegexDFA(pat, DefaultMaxDFAStates)
		require.NoError(t, err, pat)
		trim, err := core.minimize().trimmed(DefaultMaxDFAStates)
		require.NoError(t, err, pat)
		trim = trim.minimize()
		var texts []string
		for range 40 {
			texts = append(texts, randomText(rng, rng.IntN(8)))
		}
		texts = append(texts, sampleMatches(rng, re, 40)...)
		for _, s := range texts {
			if !utf8.ValidString(s) {
				// Go's regexp reads a bad byte as U+FFFD; the DFA accepts valid UTF-8 only, the bytes a
				// decoded generation consists of.
				assert.False(t, core.matches([]byte(s)) || trim.matches([]byte(s)), "invalid UTF-8 %q accepted by %q", s, pat)
				continue
			}
			want := re.MatchString(s)
			if want {
				accepted++
			}
			assert.Equal(t, want, core.matches([]byte(s)), "core %q on %q", pat, s)
			assert.Equal(t, re.MatchString(strings.Trim(s, trimSet)), trim.matches([]byte(s)), "trimmed %q on %q", pat, s)
		}
	}
	assert.Greater(t, accepted, 1000, "acceptance is exercised, not only rejection")
}

// sampleMatches finds up to n texts the regexp matches by rejection over short random texts.
func sampleMatches(rng *rand.Rand, re *regexp.Regexp, n int) []string {
	var out []string
	for tries := 0; tries < 3000 && len(out) < n; tries++ {
		s := randomText(rng, rng.IntN(6))
		if re.MatchString(s) {
			out = append(out, s, " "+s+"\n", "\t"+s)
		}
	}
	return out
}

func TestRegexDFAUnicodeRanges(t *testing.T) {
	re := regexp.MustCompile(`^[^"\\]$`)
	core, err := compileRegexDFA(`[^"\\]`, DefaultMaxDFAStates)
	require.NoError(t, err)
	for _, r := range []rune{0, 'a', '"', '\\', 0x7f, 0x80, 0x7ff, 0x800, 0xd7ff, 0xe000, 0xfffd, 0xffff, 0x10000, 0x10ffff} {
		s := string(r)
		assert.Equal(t, re.MatchString(s), core.matches([]byte(s)), "%U", r)
	}
	assert.False(t, core.matches([]byte{0xed, 0xa0, 0x80}), "a surrogate's bytes are not UTF-8")
	assert.False(t, core.matches([]byte{0xc0, 0x80}), "overlong encodings are not UTF-8")
}

func TestRegexDFAErrors(t *testing.T) {
	_, err := compileRegexDFA(`a\bb`, DefaultMaxDFAStates)
	require.ErrorContains(t, err, "empty-width")
	_, err = compileRegexDFA(`a(`, DefaultMaxDFAStates)
	require.ErrorContains(t, err, "missing closing )")
	_, err = compileRegexDFA(`[ab]{0,12}[ab]{12}x|[ab]*a[ab]{12}`, 50)
	require.ErrorIs(t, err, ErrConstraintTooLarge)
	d, err := compileRegexDFA(`^ab$`, DefaultMaxDFAStates)
	require.NoError(t, err, "leading ^ and trailing $ are allowed")
	assert.True(t, d.matches([]byte("ab")))
}

func TestRegexDFAMinimize(t *testing.T) {
	d, err := compileRegexDFA(`aa*|a+|(?:a|a)(?:a)*`, DefaultMaxDFAStates)
	require.NoError(t, err)
	m := d.minimize()
	assert.Equal(t, 2, m.n, "start, and one accepting state looping on a")
	assert.True(t, m.matches([]byte("aaa")))
	assert.False(t, m.matches([]byte("")))
}
