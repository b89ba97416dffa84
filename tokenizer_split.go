package llada

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
)

// splitBehavior is tokenizers' SplitDelimiterBehavior: what happens to the pieces a pattern matched.
type splitBehavior int

const (
	splitRemoved splitBehavior = iota
	splitIsolated
	splitMergedWithPrevious
	splitMergedWithNext
	splitContiguous
)

func parseSplitBehavior(s string) (splitBehavior, error) {
	switch s {
	case "Removed":
		return splitRemoved, nil
	case "Isolated":
		return splitIsolated, nil
	case "MergedWithPrevious":
		return splitMergedWithPrevious, nil
	case "MergedWithNext":
		return splitMergedWithNext, nil
	case "Contiguous":
		return splitContiguous, nil
	}
	return 0, fmt.Errorf("unknown split behavior %q", s)
}

// span is a byte range of a piece; match marks ranges the pattern matched.
type span struct {
	start, end int
	match      bool
}

// matcher finds the matched ranges of s; the returned spans cover s in order (tokenizers' Pattern::find_matches).
type matcher interface {
	spans(s string, dst []span) ([]span, error)
}

// charMatcher matches single characters: each matching rune is its own span, runs of others are grouped.
type charMatcher func(rune) bool

func (f charMatcher) spans(s string, dst []span) ([]span, error) {
	if s == "" {
		return append(dst, span{0, 0, false}), nil
	}
	last := 0
	for i, r := range s {
		if f(r) {
			if last < i {
				dst = append(dst, span{last, i, false})
			}
			n := utf8.RuneLen(r)
			if r == utf8.RuneError {
				n = 1
			}
			dst = append(dst, span{i, i + n, true})
			last = i + n
		}
	}
	if last < len(s) {
		dst = append(dst, span{last, len(s), false})
	}
	return dst, nil
}

// stringMatcher matches a literal string, non-overlapping, left to right.
type stringMatcher string

func (p stringMatcher) spans(s string, dst []span) ([]span, error) {
	if p == "" || s == "" {
		return append(dst, span{0, len(s), false}), nil
	}
	prev := 0
	for {
		i := strings.Index(s[prev:], string(p))
		if i < 0 {
			break
		}
		i += prev
		if prev < i {
			dst = append(dst, span{prev, i, false})
		}
		dst = append(dst, span{i, i + len(p), true})
		prev = i + len(p)
	}
	if prev < len(s) {
		dst = append(dst, span{prev, len(s), false})
	}
	return dst, nil
}

// regexTimeout bounds one regex search; tests lower it.
var regexTimeout = 30 * time.Second

// regexMatcher runs a .NET-syntax regex (github.com/dlclark/regexp2): tokenizers uses Oniguruma, whose syntax
// for the patterns found in tokenizer.json files (lookarounds such as \s+(?!\S), \p{L}, (?i:...)) regexp2 shares,
// and Go's regexp lacks lookarounds. A fast hand-written scanner takes over for the well-known patterns
// (see tokenizer_fastsplit.go); this is the general path.
type regexMatcher struct {
	re   *regexp2.Regexp
	fast func(s string, dst []span) []span
}

func newRegexMatcher(pattern string) (*regexMatcher, error) {
	re, err := regexp2.Compile(pattern, regexp2.None)
	if err != nil {
		return nil, fmt.Errorf("regex %q: %w", pattern, err)
	}
	// A backtracking engine can be made to run for ages by a hostile pattern; fail instead of hanging.
	re.MatchTimeout = regexTimeout
	return &regexMatcher{re: re, fast: fastSplitter(pattern)}, nil
}

func (m *regexMatcher) spans(s string, dst []span) ([]span, error) {
	if s == "" {
		return append(dst, span{0, 0, false}), nil
	}
	if m.fast != nil {
		return m.fast(s, dst), nil
	}
	runes := []rune(s)
	// byteAt maps rune index to byte offset; regexp2 reports rune positions.
	byteAt := make([]int, len(runes)+1)
	off := 0
	for i, r := range runes {
		byteAt[i] = off
		off += utf8.RuneLen(r)
	}
	byteAt[len(runes)] = off
	prev := 0
	mt, err := m.re.FindRunesMatch(runes)
	for ; err == nil && mt != nil; mt, err = m.re.FindNextMatch(mt) {
		start, end := byteAt[mt.Index], byteAt[mt.Index+mt.Length]
		if prev != start {
			dst = append(dst, span{prev, start, false})
		}
		dst = append(dst, span{start, end, true})
		prev = end
	}
	if err != nil {
		return nil, fmt.Errorf("regex %q: %w", m.re.String(), err)
	}
	if prev != len(s) {
		dst = append(dst, span{prev, len(s), false})
	}
	return dst, nil
}

// invertMatcher flips which spans count as matched (Split's invert flag).
type invertMatcher struct{ m matcher }

func (p invertMatcher) spans(s string, dst []span) ([]span, error) {
	n := len(dst)
	dst, err := p.m.spans(s, dst)
	for i := n; i < len(dst); i++ {
		dst[i].match = !dst[i].match
	}
	return dst, err
}

// splitPieces cuts s by the pattern and behaviour (tokenizers NormalizedString::split) and calls emit for each
// non-empty piece with its byte offset in s.
func splitPieces(s string, m matcher, b splitBehavior, scratch []span, emit func(start int, piece string)) ([]span, error) {
	sp, err := m.spans(s, scratch[:0])
	if err != nil {
		return sp, err
	}
	out := sp[:0]
	switch b {
	case splitIsolated:
		for _, x := range sp {
			x.match = false
			out = append(out, x)
		}
	case splitRemoved:
		out = sp
	case splitContiguous:
		prevMatch := false
		for _, x := range sp {
			if x.match == prevMatch && len(out) > 0 {
				out[len(out)-1].end = x.end
			} else {
				out = append(out, span{x.start, x.end, false})
			}
			prevMatch = x.match
		}
	case splitMergedWithPrevious:
		prevMatch := false
		for _, x := range sp {
			if x.match && !prevMatch && len(out) > 0 {
				out[len(out)-1].end = x.end
			} else {
				out = append(out, span{x.start, x.end, false})
			}
			prevMatch = x.match
		}
	case splitMergedWithNext:
		// Walk backwards so a delimiter joins the piece after it; the result is built reversed in place.
		prevMatch := false
		rev := make([]span, 0, len(sp))
		for i := len(sp) - 1; i >= 0; i-- {
			x := sp[i]
			if x.match && !prevMatch && len(rev) > 0 {
				rev[len(rev)-1].start = x.start
			} else {
				rev = append(rev, span{x.start, x.end, false})
			}
			prevMatch = x.match
		}
		for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
			rev[i], rev[j] = rev[j], rev[i]
		}
		out = rev
	}
	for _, x := range out {
		if !x.match && x.end > x.start {
			emit(x.start, s[x.start:x.end])
		}
	}
	return sp, nil
}
