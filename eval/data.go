package eval

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"unicode"

	"github.com/llada-go/llada"
)

// LoadSentences reads a held-out text file: {"sentences": ["...", ...]} (testdata/eval/brown_heldout.json).
func LoadSentences(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("eval: sentences: %w", err)
	}
	var f struct {
		Sentences []string `json:"sentences"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("eval: sentences %s: %w", path, err)
	}
	var out []string
	for _, s := range f.Sentences {
		if strings.TrimSpace(s) != "" {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %s holds no sentences", ErrEmptyDataset, path)
	}
	return out, nil
}

// SentencePrefixes tokenizes sentences and returns the first n tokens of up to limit sentences that have at
// least n tokens, in order.
func SentencePrefixes(tok llada.Tokenizer, sentences []string, n, limit int) ([][]int, error) {
	if n <= 0 {
		return nil, fmt.Errorf("%w: prefix length %d must be positive", ErrBadConfig, n)
	}
	var out [][]int
	for _, s := range sentences {
		if len(out) == limit {
			break
		}
		ids, err := tok.Encode(s, false)
		if err != nil {
			return nil, fmt.Errorf("eval: tokenize %q: %w", s, err)
		}
		if len(ids) >= n {
			out = append(out, ids[:n])
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no sentence has %d tokens", ErrEmptyDataset, n)
	}
	return out, nil
}

// TextWindows tokenizes the sentences joined by spaces into one stream and cuts it into up to limit
// non-overlapping windows of n tokens.
func TextWindows(tok llada.Tokenizer, sentences []string, n, limit int) ([][]int, error) {
	if n <= 0 {
		return nil, fmt.Errorf("%w: window length %d must be positive", ErrBadConfig, n)
	}
	var out [][]int
	var stream []int
	for _, s := range sentences {
		if len(out) == limit {
			break
		}
		if len(stream) > 0 {
			s = " " + s
		}
		ids, err := tok.Encode(s, false)
		if err != nil {
			return nil, fmt.Errorf("eval: tokenize %q: %w", s, err)
		}
		stream = append(stream, ids...)
		for len(stream) >= n && len(out) < limit {
			out = append(out, append([]int(nil), stream[:n]...))
			stream = stream[n:]
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: the sentences hold fewer than %d tokens", ErrEmptyDataset, n)
	}
	return out, nil
}

// CheckTextModel fails with ErrNotTextModel unless the tokenizer round-trips (up to whitespace) at least 90% of
// the first 16 sentences: a model whose vocabulary cannot spell the held-out text (a Sudoku model, a word-level
// toy) would otherwise be scored on unknown-token ids, and report numbers that mean nothing.
func CheckTextModel(tok llada.Tokenizer, sentences []string) error {
	n, bad := 0, 0
	var example string
	for _, s := range sentences[:min(16, len(sentences))] {
		ids, err := tok.Encode(s, false)
		if err != nil {
			return fmt.Errorf("%w: tokenize %q: %v", ErrNotTextModel, s, err)
		}
		back, err := tok.Decode(ids, false)
		n++
		if err != nil || squeeze(back) != squeeze(s) {
			if bad == 0 {
				example = back
			}
			bad++
		}
	}
	if n > 0 && float64(bad) > 0.1*float64(n) {
		return fmt.Errorf("%w: its tokenizer does not reproduce %d of %d held-out sentences (e.g. %q), so it cannot be scored on them",
			ErrNotTextModel, bad, n, truncate(example, 60))
	}
	return nil
}

func squeeze(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "..."
	}
	return s
}
