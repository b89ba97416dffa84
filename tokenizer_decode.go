package llada

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// decoder turns token strings back into text pieces (tokenizers/src/decoders, decode_chain); the pieces are
// concatenated at the end.
type decoder interface {
	decodeChain(tokens []string) ([]string, error)
}

type decoderFunc func(tokens []string) ([]string, error)

func (f decoderFunc) decodeChain(t []string) ([]string, error) { return f(t) }

type decoderSeq []decoder

func (q decoderSeq) decodeChain(t []string) ([]string, error) {
	var err error
	for _, d := range q {
		if t, err = d.decodeChain(t); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// byteLevelDecoder is the ByteLevel decoder; a named type so that TokenBytes can recognise it.
type byteLevelDecoder struct{}

func (byteLevelDecoder) decodeChain(t []string) ([]string, error) { return byteLevelDecode(t) }

// byteLevelDecode maps byte-level runes back to bytes (a token with a rune outside the alphabet is kept as its
// UTF-8 bytes) and reads the bytes as lossy UTF-8.
func byteLevelDecode(tokens []string) ([]string, error) {
	var buf []byte
	for _, t := range tokens {
		mark := len(buf)
		ok := true
		for _, r := range t {
			b, in := runeToByte[r]
			if !in {
				ok = false
				break
			}
			buf = append(buf, b)
		}
		if !ok {
			buf = append(buf[:mark], t...)
		}
	}
	return []string{string(appendLossyUTF8(nil, buf))}, nil
}

// cleanupWordPiece undoes the spaces WordPiece decoding puts before punctuation and contractions
// (tokenizers/src/decoders/wordpiece.rs cleanup); the replacements run one after another, in this order.
func cleanupWordPiece(s string) string {
	if !mayNeedCleanup(s) {
		return s
	}
	for _, r := range [...][2]string{
		{" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"}, {" 'm", "'m"},
		{" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"},
	} {
		s = strings.ReplaceAll(s, r[0], r[1])
	}
	return s
}

// mayNeedCleanup is a cheap test: every cleanup pattern is a space followed by one of . ? ! , ' n d.
func mayNeedCleanup(s string) bool {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == ' ' {
			switch s[i+1] {
			case '.', '?', '!', ',', '\'', 'n', 'd':
				return true
			}
		}
	}
	return false
}

type decoderJSON struct {
	Type     string            `json:"type"`
	Decoders []json.RawMessage `json:"decoders"`
	// WordPiece
	Prefix  *string `json:"prefix"`
	Cleanup *bool   `json:"cleanup"`
	// Metaspace
	Replacement    string  `json:"replacement"`
	PrependScheme  *string `json:"prepend_scheme"`
	AddPrefixSpace *bool   `json:"add_prefix_space"`
	Split          *bool   `json:"split"`
	// Replace
	Pattern *patternJSON    `json:"pattern"`
	Content json.RawMessage `json:"content"`
	// Strip
	Start int `json:"start"`
	Stop  int `json:"stop"`
	// BPEDecoder
	Suffix *string `json:"suffix"`
}

func buildDecoder(raw json.RawMessage) (decoder, error) {
	if isJSONNull(raw) {
		return nil, nil
	}
	var j decoderJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return nil, fmt.Errorf("decoder: %w", err)
	}
	switch j.Type {
	case "Sequence":
		seq, err := buildSequence(j.Decoders, buildDecoder)
		return decoderSeq(seq), err
	case "ByteLevel":
		return byteLevelDecoder{}, nil
	case "WordPiece":
		prefix, cleanup := "##", boolOr(j.Cleanup, true)
		if j.Prefix != nil {
			prefix = *j.Prefix
		}
		return decoderFunc(func(t []string) ([]string, error) {
			out := make([]string, len(t))
			for i, s := range t {
				if i != 0 {
					if strings.HasPrefix(s, prefix) {
						s = strings.Replace(s, prefix, "", 1)
					} else {
						s = " " + s
					}
				}
				if cleanup {
					s = cleanupWordPiece(s)
				}
				out[i] = s
			}
			return out, nil
		}), nil
	case "Metaspace":
		p, err := newMetaspace(j.Replacement, j.PrependScheme, j.AddPrefixSpace, j.Split)
		if err != nil {
			return nil, err
		}
		return decoderFunc(func(t []string) ([]string, error) {
			out := make([]string, len(t))
			for i, s := range t {
				var b strings.Builder
				for _, r := range s {
					if r == p.repl {
						if i == 0 && p.scheme != "never" {
							continue
						}
						r = ' '
					}
					b.WriteRune(r)
				}
				out[i] = b.String()
			}
			return out, nil
		}), nil
	case "Replace":
		m, err := j.Pattern.matcher()
		if err != nil {
			return nil, fmt.Errorf("Replace decoder: %w", err)
		}
		var content string
		if err := json.Unmarshal(j.Content, &content); err != nil {
			return nil, fmt.Errorf("Replace decoder content: %w", err)
		}
		r := replacer{m, content}
		return decoderFunc(func(t []string) ([]string, error) {
			out := make([]string, len(t))
			for i, s := range t {
				var err error
				if out[i], err = r.normalize(s); err != nil {
					return nil, err
				}
			}
			return out, nil
		}), nil
	case "ByteFallback":
		return decoderFunc(byteFallbackDecode), nil
	case "Fuse":
		return decoderFunc(func(t []string) ([]string, error) { return []string{strings.Join(t, "")}, nil }), nil
	case "Strip":
		var content string
		if err := json.Unmarshal(j.Content, &content); err != nil {
			return nil, fmt.Errorf("Strip decoder content: %w", err)
		}
		c, n := utf8.DecodeRuneInString(content)
		if n == 0 || n != len(content) {
			return nil, fmt.Errorf("Strip decoder: content %q is not one character", content)
		}
		if j.Start < 0 || j.Stop < 0 {
			return nil, fmt.Errorf("Strip decoder: negative start/stop")
		}
		return decoderFunc(func(t []string) ([]string, error) {
			out := make([]string, len(t))
			for i, s := range t {
				out[i] = stripChars(s, c, j.Start, j.Stop)
			}
			return out, nil
		}), nil
	case "BPEDecoder":
		suffix := "</w>"
		if j.Suffix != nil {
			suffix = *j.Suffix
		}
		return decoderFunc(func(t []string) ([]string, error) {
			out := make([]string, len(t))
			for i, s := range t {
				rep := " "
				if i == len(t)-1 {
					rep = ""
				}
				out[i] = strings.ReplaceAll(s, suffix, rep)
			}
			return out, nil
		}), nil
	case "":
		return nil, fmt.Errorf("decoder without type")
	}
	return nil, fmt.Errorf("unsupported decoder %q", j.Type)
}

// stripChars removes up to start leading and stop trailing occurrences of c.
func stripChars(s string, c rune, start, stop int) string {
	rs := []rune(s)
	lo := 0
	for lo < start && lo < len(rs) && rs[lo] == c {
		lo++
	}
	hi := len(rs)
	for k := 0; k < stop && hi > lo && rs[hi-1] == c; k++ {
		hi--
	}
	return string(rs[lo:hi])
}

// byteFallbackDecode turns runs of <0xXX> tokens into the text their bytes spell; a run that is not valid
// UTF-8 becomes one U+FFFD per byte (tokenizers/src/decoders/byte_fallback.rs).
func byteFallbackDecode(tokens []string) ([]string, error) {
	out := make([]string, 0, len(tokens))
	var pending []byte
	flush := func() {
		if len(pending) == 0 {
			return
		}
		if utf8.Valid(pending) {
			out = append(out, string(pending))
		} else {
			for range pending {
				out = append(out, "\uFFFD")
			}
		}
		pending = pending[:0]
	}
	for _, t := range tokens {
		if b, ok := byteToken(t); ok {
			pending = append(pending, b)
			continue
		}
		flush()
		out = append(out, t)
	}
	flush()
	return out, nil
}

// byteToken parses "<0xHH>" the way Rust's u8::from_str_radix(&t[3..5], 16) does.
func byteToken(t string) (byte, bool) {
	if len(t) != 6 || !strings.HasPrefix(t, "<0x") || t[5] != '>' {
		return 0, false
	}
	h := t[3:5]
	if h[0] == '+' {
		h = h[1:]
	}
	var v int
	for i := 0; i < len(h); i++ {
		c := h[i]
		var d int
		switch {
		case c >= '0' && c <= '9':
			d = int(c - '0')
		case c >= 'a' && c <= 'f':
			d = int(c-'a') + 10
		case c >= 'A' && c <= 'F':
			d = int(c-'A') + 10
		default:
			return 0, false
		}
		v = v*16 + d
	}
	return byte(v), true
}
