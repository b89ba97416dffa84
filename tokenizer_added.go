package llada

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// addedToken is an entry of tokenizer.json's added_tokens. They are cut out of the text before the model sees
// it: the ones with normalized=false on the raw input, the others on the normalized text
// (tokenizers/src/tokenizer/added_vocabulary.rs, extract_and_normalize).
type addedToken struct {
	Content    string `json:"content"`
	ID         int    `json:"id"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

// addedMatcher finds added tokens leftmost-longest and without overlaps, like the Aho-Corasick automaton
// (MatchKind::LeftmostLongest) that tokenizers builds.
type addedMatcher struct {
	pats    []addedPattern
	byFirst [256][]int // pattern indices by first byte, longest first
}

type addedPattern struct {
	text string // what is matched: the content, normalized for normalized tokens
	tok  *addedToken
}

func newAddedMatcher(pats []addedPattern) *addedMatcher {
	m := &addedMatcher{pats: pats}
	for i, p := range pats {
		if p.text == "" {
			continue
		}
		m.byFirst[p.text[0]] = append(m.byFirst[p.text[0]], i)
	}
	for b := range m.byFirst {
		l := m.byFirst[b]
		sort.SliceStable(l, func(i, j int) bool { return len(pats[l[i]].text) > len(pats[l[j]].text) })
	}
	return m
}

func (m *addedMatcher) empty() bool { return m == nil || len(m.pats) == 0 }

// segment is a part of the input: either an added token (tok != nil) or text for the model.
type segment struct {
	start, end int
	tok        *addedToken
}

// split returns the segments of s, covering it in order (tokenizers' find_matches, with its single_word,
// lstrip and rstrip rules).
func (m *addedMatcher) split(s string) []segment {
	var out []segment
	last := 0
	for i := 0; i < len(s); {
		p := m.longestAt(s, i)
		if p == nil {
			i++
			continue
		}
		start, stop := i, i+len(p.text)
		i = stop // the automaton resumes after the match even when the match is discarded
		t := p.tok
		if t.SingleWord {
			startOK := start == 0 || !endsWithWord(s[:start])
			stopOK := stop == len(s) || !startsWithWord(s[stop:])
			if !startOK || !stopOK {
				continue
			}
		}
		if t.LStrip {
			ns := len(strings.TrimRightFunc(s[:start], isRustWhitespace))
			start = max(ns, last)
		}
		if t.RStrip {
			stop += len(s[stop:]) - len(strings.TrimLeftFunc(s[stop:], isRustWhitespace))
		}
		if last < start {
			out = append(out, segment{last, start, nil})
		}
		out = append(out, segment{start, stop, t})
		last = stop
	}
	if last < len(s) || len(out) == 0 {
		out = append(out, segment{last, len(s), nil})
	}
	return out
}

func (m *addedMatcher) longestAt(s string, i int) *addedPattern {
	for _, k := range m.byFirst[s[i]] {
		if strings.HasPrefix(s[i:], m.pats[k].text) {
			return &m.pats[k]
		}
	}
	return nil
}

// isRegexWord is \w of Rust's regex crate: Alphabetic, marks, decimal digits, connector punctuation, joiners.
func isRegexWord(r rune) bool {
	if r < 0x80 {
		return isWordChar(r)
	}
	return unicode.IsLetter(r) || unicode.IsMark(r) || unicode.Is(unicode.Nd, r) || unicode.Is(unicode.Nl, r) ||
		unicode.Is(unicode.Pc, r) || unicode.Is(unicode.Other_Alphabetic, r) || r == 0x200C || r == 0x200D
}

func endsWithWord(s string) bool {
	r, n := utf8.DecodeLastRuneInString(s)
	return n > 0 && isRegexWord(r)
}

func startsWithWord(s string) bool {
	r, n := utf8.DecodeRuneInString(s)
	return n > 0 && isRegexWord(r)
}
