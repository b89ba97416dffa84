package llada

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// normalizer rewrites a piece of text before pre-tokenization (tokenizers/src/normalizers). Offsets are not
// tracked: only ids and decoded text are part of this package's contract.
type normalizer interface {
	normalize(s string) (string, error)
}

type normalizerFunc func(s string) (string, error)

func (f normalizerFunc) normalize(s string) (string, error) { return f(s) }

type normalizerSeq []normalizer

func (q normalizerSeq) normalize(s string) (string, error) {
	var err error
	for _, n := range q {
		if s, err = n.normalize(s); err != nil {
			return "", err
		}
	}
	return s, nil
}

func mapRunes(s string, f func(buf []byte, r rune) []byte) string {
	buf := make([]byte, 0, len(s))
	for _, r := range s {
		buf = f(buf, r)
	}
	return string(buf)
}

func lowercase(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 || (s[i] >= 'A' && s[i] <= 'Z') {
			return mapRunes(s, rustLower)
		}
	}
	return s
}

// stripMarks drops nonspacing marks (tokenizers StripAccents keeps everything but Mn).
func stripMarks(s string) string {
	return mapRunes(s, func(buf []byte, r rune) []byte {
		if unicode.Is(unicode.Mn, r) {
			return buf
		}
		return utf8.AppendRune(buf, r)
	})
}

type normalizerJSON struct {
	Type        string            `json:"type"`
	Normalizers []json.RawMessage `json:"normalizers"`
	// BertNormalizer
	CleanText          *bool `json:"clean_text"`
	HandleChineseChars *bool `json:"handle_chinese_chars"`
	StripAccents       *bool `json:"strip_accents"`
	Lowercase          *bool `json:"lowercase"`
	// Prepend
	Prepend string `json:"prepend"`
	// Replace
	Pattern *patternJSON `json:"pattern"`
	Content string       `json:"content"`
	// Strip
	Left  bool `json:"left"`
	Right bool `json:"right"`
}

// patternJSON is tokenizers' ReplacePattern / SplitPattern: {"String": "..."} or {"Regex": "..."}.
type patternJSON struct {
	String *string `json:"String"`
	Regex  *string `json:"Regex"`
}

func (p *patternJSON) matcher() (matcher, error) {
	switch {
	case p == nil:
		return nil, fmt.Errorf("missing pattern")
	case p.String != nil:
		return stringMatcher(*p.String), nil
	case p.Regex != nil:
		return newRegexMatcher(*p.Regex)
	}
	return nil, fmt.Errorf("pattern needs String or Regex")
}

func boolOr(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}

func buildNormalizer(raw json.RawMessage) (normalizer, error) {
	if isJSONNull(raw) {
		return nil, nil
	}
	var j normalizerJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return nil, fmt.Errorf("normalizer: %w", err)
	}
	switch j.Type {
	case "Sequence":
		seq, err := buildSequence(j.Normalizers, buildNormalizer)
		return normalizerSeq(seq), err
	case "NFC":
		return normalizerFunc(func(s string) (string, error) { return norm.NFC.String(s), nil }), nil
	case "NFD":
		return normalizerFunc(func(s string) (string, error) { return norm.NFD.String(s), nil }), nil
	case "NFKC":
		return normalizerFunc(func(s string) (string, error) { return norm.NFKC.String(s), nil }), nil
	case "NFKD":
		return normalizerFunc(func(s string) (string, error) { return norm.NFKD.String(s), nil }), nil
	case "Lowercase":
		return normalizerFunc(func(s string) (string, error) { return lowercase(s), nil }), nil
	case "StripAccents":
		return normalizerFunc(func(s string) (string, error) { return stripMarks(s), nil }), nil
	case "Strip":
		left, right := j.Left, j.Right
		return normalizerFunc(func(s string) (string, error) {
			if left {
				s = strings.TrimLeftFunc(s, isRustWhitespace)
			}
			if right {
				s = strings.TrimRightFunc(s, isRustWhitespace)
			}
			return s, nil
		}), nil
	case "Prepend":
		p := j.Prepend
		return normalizerFunc(func(s string) (string, error) {
			if s == "" {
				return s, nil
			}
			return p + s, nil
		}), nil
	case "Replace":
		m, err := j.Pattern.matcher()
		if err != nil {
			return nil, fmt.Errorf("Replace: %w", err)
		}
		return replacer{m, j.Content}, nil
	case "BertNormalizer":
		return bertNormalizer{
			clean:   boolOr(j.CleanText, true),
			chinese: boolOr(j.HandleChineseChars, true),
			strip:   j.StripAccents,
			lower:   boolOr(j.Lowercase, true),
		}, nil
	case "":
		return nil, fmt.Errorf("normalizer without type")
	}
	return nil, fmt.Errorf("unsupported normalizer %q", j.Type)
}

// replacer replaces every match of a pattern by content.
type replacer struct {
	m       matcher
	content string
}

func (r replacer) normalize(s string) (string, error) {
	if sm, ok := r.m.(stringMatcher); ok {
		if sm == "" {
			return s, nil
		}
		return strings.ReplaceAll(s, string(sm), r.content), nil
	}
	sp, err := r.m.spans(s, nil)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, x := range sp {
		if x.match {
			b.WriteString(r.content)
		} else {
			b.WriteString(s[x.start:x.end])
		}
	}
	return b.String(), nil
}

// bertNormalizer follows tokenizers/src/normalizers/bert.rs: clean text, space out CJK characters, strip
// accents (explicit, or implied by lowercase when strip_accents is null), lowercase.
type bertNormalizer struct {
	clean, chinese, lower bool
	strip                 *bool
}

func (n bertNormalizer) normalize(s string) (string, error) {
	if n.clean || n.chinese {
		// Cleaning and CJK spacing act on single characters, so one pass does both.
		s = mapRunes(s, func(buf []byte, r rune) []byte {
			if n.clean {
				if r == 0 || r == 0xFFFD || isBertControl(r) {
					return buf
				}
				if isBertWhitespace(r) {
					return append(buf, ' ')
				}
			}
			if n.chinese && isChineseChar(r) {
				buf = append(buf, ' ')
				buf = utf8.AppendRune(buf, r)
				return append(buf, ' ')
			}
			return utf8.AppendRune(buf, r)
		})
	}
	if boolOr(n.strip, n.lower) && !isASCII(s) {
		s = stripMarks(norm.NFD.String(s))
	}
	if n.lower {
		s = lowercase(s)
	}
	return s, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func isJSONNull(raw json.RawMessage) bool {
	t := strings.TrimSpace(string(raw))
	return t == "" || t == "null"
}
