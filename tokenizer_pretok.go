package llada

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// piece is one pre-token. first marks a piece that starts at offset 0 of the original input (Metaspace's
// prepend_scheme "first" looks at it).
type piece struct {
	s     string
	first bool
}

// preTokenizer splits pieces into smaller pieces (tokenizers/src/pre_tokenizers). Empty pieces are dropped, as
// tokenizers' PreTokenizedString::split does.
type preTokenizer interface {
	preTokenize(in []piece) ([]piece, error)
}

// splitEach applies split to every piece; split returns sub-pieces through emit with their offset in the piece.
func splitEach(in []piece, split func(s string, emit func(start int, sub string)) error) ([]piece, error) {
	out := make([]piece, 0, len(in)*2)
	for _, p := range in {
		first := p.first
		err := split(p.s, func(start int, sub string) {
			if sub != "" {
				out = append(out, piece{sub, first && start == 0})
			}
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

type preTokSeq []preTokenizer

func (q preTokSeq) preTokenize(in []piece) ([]piece, error) {
	var err error
	for _, p := range q {
		if in, err = p.preTokenize(in); err != nil {
			return nil, err
		}
	}
	return in, nil
}

// splitPreTok is the Split pre-tokenizer and the building block of the others.
type splitPreTok struct {
	m matcher
	b splitBehavior
}

func (p splitPreTok) preTokenize(in []piece) ([]piece, error) {
	var scratch []span
	return splitEach(in, func(s string, emit func(int, string)) error {
		var err error
		scratch, err = splitPieces(s, p.m, p.b, scratch, emit)
		return err
	})
}

// gpt2Pattern is the ByteLevel pre-tokenizer's regex (tokenizers/src/pre_tokenizers/byte_level.rs, from GPT-2).
const gpt2Pattern = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`

// byteLevelPreTok optionally adds a leading space, optionally splits with the GPT-2 regex, then maps bytes to
// the byte-level alphabet.
type byteLevelPreTok struct {
	addPrefixSpace bool
	re             matcher
}

func (p byteLevelPreTok) preTokenize(in []piece) ([]piece, error) {
	var scratch []span
	out := make([]piece, 0, len(in)*4)
	for _, pc := range in {
		s := pc.s
		if p.addPrefixSpace && !strings.HasPrefix(s, " ") {
			s = " " + s
		}
		if p.re == nil {
			out = append(out, piece{byteLevelString(s), pc.first})
			continue
		}
		var err error
		first := pc.first
		scratch, err = splitPieces(s, p.re, splitIsolated, scratch, func(start int, sub string) {
			out = append(out, piece{byteLevelString(sub), first && start == 0})
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// metaspacePreTok replaces spaces by the replacement character, prepends one by scheme, and optionally splits
// before each replacement character.
type metaspacePreTok struct {
	repl   rune
	scheme string // "always", "first", "never"
	split  bool
}

func (p metaspacePreTok) preTokenize(in []piece) ([]piece, error) {
	rs := string(p.repl)
	var scratch []span
	out := make([]piece, 0, len(in)*4)
	for _, pc := range in {
		s := strings.ReplaceAll(pc.s, " ", rs)
		switch p.scheme {
		case "always":
			if !strings.HasPrefix(s, rs) {
				s = rs + s
			}
		case "first":
			if !strings.HasPrefix(s, rs) && pc.first {
				s = rs + s
			}
		}
		if !p.split {
			out = append(out, piece{s, pc.first})
			continue
		}
		first := pc.first
		var err error
		scratch, err = splitPieces(s, charMatcher(func(r rune) bool { return r == p.repl }), splitMergedWithNext, scratch, func(start int, sub string) {
			out = append(out, piece{sub, first && start == 0})
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// whitespacePreTok is tokenizers' Whitespace: keep runs of \w and runs of [^\w\s], drop whitespace. \w is the
// Rust regex crate's (Alphabetic, marks, Nd, Pc, Join_Control), checked against the oracle.
type whitespacePreTok struct{}

func (whitespacePreTok) preTokenize(in []piece) ([]piece, error) {
	return splitEach(in, func(s string, emit func(int, string)) error {
		start, kind := 0, 0 // kind: 0 none, 1 word, 2 other
		for i, r := range s {
			k := 2
			if isRegexWord(r) {
				k = 1
			} else if isRustWhitespace(r) {
				k = 0
			}
			if k != kind {
				if kind != 0 {
					emit(start, s[start:i])
				}
				start, kind = i, k
			}
		}
		if kind != 0 {
			emit(start, s[start:])
		}
		return nil
	})
}

// bertPreTok is tokenizers' BertPreTokenizer: split on whitespace (dropped), then isolate each punctuation
// character; done in one pass.
type bertPreTok struct{}

func (bertPreTok) preTokenize(in []piece) ([]piece, error) {
	return splitEach(in, func(s string, emit func(int, string)) error {
		start := -1
		for i, r := range s {
			ws, punct := isRustWhitespace(r), isPunctuation(r)
			if !ws && !punct {
				if start < 0 {
					start = i
				}
				continue
			}
			if start >= 0 {
				emit(start, s[start:i])
				start = -1
			}
			if punct {
				emit(i, s[i:i+utf8.RuneLen(r)])
			}
		}
		if start >= 0 {
			emit(start, s[start:])
		}
		return nil
	})
}

type preTokJSON struct {
	Type          string            `json:"type"`
	Pretokenizers []json.RawMessage `json:"pretokenizers"`
	// ByteLevel
	AddPrefixSpace *bool `json:"add_prefix_space"`
	UseRegex       *bool `json:"use_regex"`
	// Split
	Pattern  *patternJSON `json:"pattern"`
	Behavior string       `json:"behavior"`
	Invert   bool         `json:"invert"`
	// Metaspace
	Replacement   string  `json:"replacement"`
	PrependScheme *string `json:"prepend_scheme"`
	Split         *bool   `json:"split"`
	// Digits
	IndividualDigits bool `json:"individual_digits"`
	// CharDelimiterSplit
	Delimiter string `json:"delimiter"`
}

func buildPreTokenizer(raw json.RawMessage) (preTokenizer, error) {
	if isJSONNull(raw) {
		return nil, nil
	}
	var j preTokJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return nil, fmt.Errorf("pre_tokenizer: %w", err)
	}
	switch j.Type {
	case "Sequence":
		seq, err := buildSequence(j.Pretokenizers, buildPreTokenizer)
		return preTokSeq(seq), err
	case "ByteLevel":
		p := byteLevelPreTok{addPrefixSpace: boolOr(j.AddPrefixSpace, true)}
		if boolOr(j.UseRegex, true) {
			m, err := newRegexMatcher(gpt2Pattern)
			if err != nil {
				return nil, err
			}
			p.re = m
		}
		return p, nil
	case "Split":
		m, err := j.Pattern.matcher()
		if err != nil {
			return nil, fmt.Errorf("Split: %w", err)
		}
		if j.Invert {
			m = invertMatcher{m}
		}
		b, err := parseSplitBehavior(j.Behavior)
		if err != nil {
			return nil, fmt.Errorf("Split: %w", err)
		}
		return splitPreTok{m, b}, nil
	case "Whitespace":
		return whitespacePreTok{}, nil
	case "WhitespaceSplit":
		return splitPreTok{charMatcher(isRustWhitespace), splitRemoved}, nil
	case "BertPreTokenizer":
		return bertPreTok{}, nil
	case "Punctuation":
		b := splitIsolated
		if j.Behavior != "" {
			var err error
			if b, err = parseSplitBehavior(j.Behavior); err != nil {
				return nil, fmt.Errorf("Punctuation: %w", err)
			}
		}
		return splitPreTok{charMatcher(isPunctuation), b}, nil
	case "Digits":
		if j.IndividualDigits {
			return splitPreTok{charMatcher(isRustNumeric), splitIsolated}, nil
		}
		return splitPreTok{charMatcher(isRustNumeric), splitContiguous}, nil
	case "CharDelimiterSplit":
		r, n := utf8.DecodeRuneInString(j.Delimiter)
		if n == 0 || n != len(j.Delimiter) {
			return nil, fmt.Errorf("CharDelimiterSplit: delimiter %q is not one character", j.Delimiter)
		}
		return splitPreTok{charMatcher(func(c rune) bool { return c == r }), splitRemoved}, nil
	case "Metaspace":
		return newMetaspace(j.Replacement, j.PrependScheme, j.AddPrefixSpace, j.Split)
	case "":
		return nil, fmt.Errorf("pre_tokenizer without type")
	}
	return nil, fmt.Errorf("unsupported pre_tokenizer %q", j.Type)
}

func newMetaspace(replacement string, scheme *string, addPrefixSpace, split *bool) (metaspacePreTok, error) {
	r, n := utf8.DecodeRuneInString(replacement)
	if n == 0 || n != len(replacement) {
		return metaspacePreTok{}, fmt.Errorf("Metaspace: replacement %q is not one character", replacement)
	}
	p := metaspacePreTok{repl: r, scheme: "always", split: boolOr(split, true)}
	switch {
	case scheme != nil:
		switch *scheme {
		case "always", "first", "never":
			p.scheme = *scheme
		default:
			return p, fmt.Errorf("Metaspace: unknown prepend_scheme %q", *scheme)
		}
	case addPrefixSpace != nil && !*addPrefixSpace:
		// Files written before prepend_scheme existed carry add_prefix_space instead.
		p.scheme = "never"
	}
	return p, nil
}
