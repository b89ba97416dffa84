package llada

import (
	"unicode"
	"unicode/utf8"
)

// Character classes and byte tables shared by the tokenizer components. Each mirrors a predicate of Hugging Face
// tokenizers (github.com/huggingface/tokenizers, tokenizers/src/...) so that splits land on the same characters.

// byteToRune is GPT-2's reversible byte -> printable rune table (openai/gpt-2 encoder.py bytes_to_unicode): the
// printable Latin-1 bytes map to themselves, the others to 256, 257, ... in byte order.
var byteToRune, runeToByte = func() ([256]rune, map[rune]byte) {
	var b2r [256]rune
	r2b := make(map[rune]byte, 256)
	n := rune(0)
	for b := 0; b < 256; b++ {
		printable := (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)
		r := rune(b)
		if !printable {
			r = 256 + n
			n++
		}
		b2r[b] = r
		r2b[r] = byte(b)
	}
	return b2r, r2b
}()

// byteLevelString maps every byte of s to its byte-level rune.
func byteLevelString(s string) string {
	buf := make([]byte, 0, len(s)*2)
	for i := 0; i < len(s); i++ {
		buf = utf8.AppendRune(buf, byteToRune[s[i]])
	}
	return string(buf)
}

// isRustWhitespace is Rust's char::is_whitespace (Unicode White_Space).
func isRustWhitespace(r rune) bool {
	if r < 0x80 {
		return r == ' ' || (r >= '\t' && r <= '\r')
	}
	return unicode.Is(unicode.White_Space, r)
}

// isRustNumeric is Rust's char::is_numeric (Nd, Nl, No).
func isRustNumeric(r rune) bool {
	if r < 0x80 {
		return r >= '0' && r <= '9'
	}
	return unicode.IsNumber(r)
}

// isPunctuation is tokenizers' is_punc / is_bert_punc: ASCII punctuation or any Unicode P* category.
func isPunctuation(r rune) bool {
	if r < 0x80 {
		return (r >= '!' && r <= '/') || (r >= ':' && r <= '@') || (r >= '[' && r <= '`') || (r >= '{' && r <= '~')
	}
	return unicode.IsPunct(r)
}

// isWordChar is \w in Oniguruma and in Rust's regex crate for the characters that occur in practice: letters,
// marks, numbers and connector punctuation.
func isWordChar(r rune) bool {
	if r < 0x80 {
		return r == '_' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
	}
	return unicode.IsLetter(r) || unicode.IsMark(r) || unicode.IsNumber(r) || unicode.Is(unicode.Pc, r)
}

// isAssigned reports whether r has a general category other than Cn in Go's Unicode tables.
func isAssigned(r rune) bool {
	return unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs)
}

// isBertControl is BertNormalizer's is_control: Rust unicode_categories is_other (Cc, Cf, Cn, Co, Cs) except \t \n \r.
func isBertControl(r rune) bool {
	if r < 0x80 {
		return (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || r == 0x7F
	}
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs) || !isAssigned(r)
}

// isBertWhitespace is BertNormalizer's is_whitespace.
func isBertWhitespace(r rune) bool {
	return r == '\t' || r == '\n' || r == '\r' || isRustWhitespace(r)
}

// isChineseChar is the CJK block list of the original BERT tokenizer, as used by BertNormalizer.
func isChineseChar(r rune) bool {
	if r < 0x3400 {
		return false
	}
	return (r >= 0x4E00 && r <= 0x9FFF) || (r >= 0x3400 && r <= 0x4DBF) || (r >= 0x20000 && r <= 0x2A6DF) ||
		(r >= 0x2A700 && r <= 0x2B73F) || (r >= 0x2B740 && r <= 0x2B81F) || (r >= 0x2B920 && r <= 0x2CEAF) ||
		(r >= 0xF900 && r <= 0xFAFF) || (r >= 0x2F800 && r <= 0x2FA1F)
}

// rustLower appends Rust's char::to_lowercase of r: the simple mapping except U+0130, whose full mapping
// (SpecialCasing.txt, unconditional) is "i" + combining dot above.
func rustLower(buf []byte, r rune) []byte {
	if r == 0x130 {
		return append(buf, 'i', 0xCC, 0x87)
	}
	return utf8.AppendRune(buf, unicode.ToLower(r))
}

// appendLossyUTF8 appends b to dst as valid UTF-8 the way Rust's String::from_utf8_lossy does: each maximal
// ill-formed subpart becomes one U+FFFD (Unicode 3.9, "U+FFFD substitution of maximal subparts").
func appendLossyUTF8(dst, b []byte) []byte {
	for i := 0; i < len(b); {
		if b[i] < 0x80 {
			dst = append(dst, b[i])
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r != utf8.RuneError || n > 1 {
			dst = append(dst, b[i:i+n]...)
			i += n
			continue
		}
		dst = append(dst, "\uFFFD"...)
		i += maximalSubpart(b[i:])
	}
	return dst
}

// maximalSubpart returns the length of the ill-formed prefix of b that counts as one replacement.
func maximalSubpart(b []byte) int {
	lead := b[0]
	var need int
	lo, hi := byte(0x80), byte(0xBF)
	switch {
	case lead >= 0xC2 && lead <= 0xDF:
		need = 1
	case lead == 0xE0:
		need, lo = 2, 0xA0
	case lead >= 0xE1 && lead <= 0xEC, lead == 0xEE, lead == 0xEF:
		need = 2
	case lead == 0xED:
		need, hi = 2, 0x9F
	case lead == 0xF0:
		need, lo = 3, 0x90
	case lead >= 0xF1 && lead <= 0xF3:
		need = 3
	case lead == 0xF4:
		need, hi = 3, 0x8F
	default:
		return 1
	}
	n := 1
	for k := 0; k < need && n < len(b); k++ {
		c := b[n]
		if k > 0 {
			lo, hi = 0x80, 0xBF
		}
		if c < lo || c > hi {
			break
		}
		n++
	}
	return n
}

// invalidUTF8At returns the byte offset of the first invalid UTF-8 sequence in s, or -1.
func invalidUTF8At(s string) int {
	if utf8.ValidString(s) {
		return -1
	}
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}
