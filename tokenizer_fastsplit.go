package llada

import (
	"unicode"
	"unicode/utf8"
)

// Hand-written scanners for the Split regexes that nearly every byte-level BPE tokenizer uses. The regex engine
// is general but slow; these scan once, left to right, and reproduce the leftmost-first alternation with
// backtracking of the Oniguruma engine that tokenizers runs. tokenizer_fastsplit_test.go checks them against
// regexp2 on the corpus and random strings, and the goldens check them against the oracle. One deliberate
// difference from regexp2: (?i:'s) also matches "'ſ" (U+017F folds to s), as in Oniguruma.

const (
	// llama3Pattern is LLaMA-3's (and DeepSeek-style) pre-tokenizer regex; qwen2Pattern differs only in taking
	// digits one at a time.
	llama3Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	qwen2Pattern  = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

// fastSplitter returns a scanner equivalent to pattern, or nil when pattern is not one it knows.
func fastSplitter(pattern string) func(s string, dst []span) []span {
	var next func(s string, i int) int
	switch pattern {
	case gpt2Pattern:
		next = gpt2Next
	case llama3Pattern:
		next = func(s string, i int) int { return llamaNext(s, i, 3) }
	case qwen2Pattern:
		next = func(s string, i int) int { return llamaNext(s, i, 1) }
	default:
		return nil
	}
	return func(s string, dst []span) []span {
		// Every character starts some alternative, so the matches tile s.
		for i := 0; i < len(s); {
			j := next(s, i)
			dst = append(dst, span{i, j, true})
			i = j
		}
		return dst
	}
}

func isL(r rune) bool {
	if r < 0x80 {
		return (r|0x20) >= 'a' && (r|0x20) <= 'z'
	}
	return unicode.IsLetter(r)
}

func isN(r rune) bool {
	if r < 0x80 {
		return r >= '0' && r <= '9'
	}
	return unicode.IsNumber(r)
}

func isS(r rune) bool {
	if r < 0x80 {
		return r == ' ' || (r >= '\t' && r <= '\r')
	}
	return unicode.Is(unicode.White_Space, r)
}

func at(s string, i int) (rune, int) {
	if i >= len(s) {
		return -1, 0
	}
	if s[i] < 0x80 {
		return rune(s[i]), 1
	}
	return utf8.DecodeRuneInString(s[i:])
}

// runOf returns the end of the run of f-characters starting at i.
func runOf(s string, i int, f func(rune) bool) int {
	for i < len(s) {
		r, n := at(s, i)
		if !f(r) {
			break
		}
		i += n
	}
	return i
}

func isOther(r rune) bool { return r >= 0 && !isS(r) && !isL(r) && !isN(r) }

// contraction matches 's 't 're 've 'm 'll 'd at i (after the apostrophe check), case-insensitively when fold.
func contraction(s string, i int, fold bool) int {
	lower := func(r rune) rune {
		if !fold {
			return r
		}
		if r == 0x17F {
			return 's'
		}
		if r < 0x80 && r >= 'A' && r <= 'Z' {
			return r + 32
		}
		return r
	}
	c1, n1 := at(s, i+1)
	var second rune
	switch lower(c1) {
	case 's', 't', 'm', 'd':
		return i + 1 + n1
	case 'r', 'v':
		second = 'e'
	case 'l':
		second = 'l'
	default:
		return -1
	}
	if c2, n2 := at(s, i+1+n1); lower(c2) == second {
		return i + 1 + n1 + n2
	}
	return -1
}

// wsTail resolves \s+(?!\S)|\s+ for the whitespace run [i, j).
func wsTail(s string, i, j int) int {
	if j == len(s) {
		return j
	}
	_, n := utf8.DecodeLastRuneInString(s[i:j])
	if j-n > i {
		return j - n // leave the last space to prefix the next word
	}
	return j
}

func gpt2Next(s string, i int) int {
	c, _ := at(s, i)
	if c == '\'' {
		if j := contraction(s, i, false); j > 0 {
			return j
		}
	}
	start := i
	if c == ' ' {
		if c2, _ := at(s, i+1); c2 >= 0 && !isS(c2) {
			start, c = i+1, c2 // " ?" takes the space when a word, number or symbol run follows
		}
	}
	switch {
	case isL(c):
		return runOf(s, start, isL)
	case isN(c):
		return runOf(s, start, isN)
	case isOther(c):
		return runOf(s, start, isOther)
	}
	return wsTail(s, i, runOf(s, i, isS))
}

func llamaNext(s string, i int, maxDigits int) int {
	c, n := at(s, i)
	if c == '\'' {
		if j := contraction(s, i, true); j > 0 {
			return j
		}
	}
	// [^\r\n\p{L}\p{N}]?\p{L}+
	if isL(c) {
		return runOf(s, i, isL)
	}
	if c != '\r' && c != '\n' && !isN(c) {
		if c2, _ := at(s, i+n); isL(c2) {
			return runOf(s, i+n, isL)
		}
	}
	// \p{N}{1,maxDigits}
	if isN(c) {
		j := i
		for k := 0; k < maxDigits; k++ {
			r, m := at(s, j)
			if !isN(r) {
				break
			}
			j += m
		}
		return j
	}
	//  ?[^\s\p{L}\p{N}]+[\r\n]*
	start := -1
	if isOther(c) {
		start = i
	} else if c == ' ' {
		if c2, _ := at(s, i+1); isOther(c2) {
			start = i + 1
		}
	}
	if start >= 0 {
		j := runOf(s, start, isOther)
		return runOf(s, j, func(r rune) bool { return r == '\r' || r == '\n' })
	}
	// \s*[\r\n]+ : up to the last line break of the whitespace run.
	j := runOf(s, i, isS)
	for k := j; k > i; {
		r, m := utf8.DecodeLastRuneInString(s[i:k])
		if r == '\r' || r == '\n' {
			return k
		}
		k -= m
	}
	return wsTail(s, i, j)
}
