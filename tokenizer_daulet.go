//go:build daulet

package llada

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/daulet/tokenizers"
)

// DauletTokenizer runs the Rust Hugging Face tokenizers library through github.com/daulet/tokenizers (cgo,
// needs libtokenizers.a at link time). It exists for cross-checking and for files the pure-Go HFTokenizer
// rejects; HFTokenizer is the default and needs no cgo. Vocabulary lookups and id checks come from the pure-Go
// parse of the same file, so both backends agree on VocabSize and on which ids are errors.
type DauletTokenizer struct {
	mu   sync.Mutex
	rust *tokenizers.Tokenizer
	meta *HFTokenizer
}

var _ Tokenizer = (*DauletTokenizer)(nil)

// LoadDauletTokenizer loads path with the Rust backend.
func LoadDauletTokenizer(path string) (*DauletTokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load tokenizer: %w", err)
	}
	meta, err := ParseTokenizer(data)
	if err != nil {
		return nil, fmt.Errorf("load tokenizer %s: %w", path, err)
	}
	rust, err := tokenizers.FromBytes(data)
	if err != nil {
		return nil, fmt.Errorf("load tokenizer %s with daulet/tokenizers: %w", path, err)
	}
	return &DauletTokenizer{rust: rust, meta: meta}, nil
}

// Encode returns the ids of text. The C boundary ends strings at NUL, so text with NUL bytes is refused rather
// than silently cut.
func (t *DauletTokenizer) Encode(text string, addSpecial bool) ([]int, error) {
	if off := invalidUTF8At(text); off >= 0 {
		return nil, &InvalidUTF8Error{Offset: off}
	}
	if i := strings.IndexByte(text, 0); i >= 0 {
		return nil, fmt.Errorf("tokenizer (daulet): NUL byte at offset %d cannot cross the C boundary", i)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.rust == nil {
		return nil, errors.New("tokenizer (daulet): closed")
	}
	ids, _ := t.rust.Encode(text, addSpecial)
	out := make([]int, len(ids))
	for i, id := range ids {
		out[i] = int(id)
	}
	return out, nil
}

// Decode returns the text of ids; unknown ids are an error (the Rust library would drop them).
func (t *DauletTokenizer) Decode(ids []int, skipSpecial bool) (string, error) {
	in := make([]uint32, len(ids))
	for i, id := range ids {
		if _, ok := t.meta.IDToken(id); !ok {
			return "", fmt.Errorf("tokenizer (daulet): decode: id %d at position %d is not in the vocabulary (size %d)", id, i, t.meta.VocabSize())
		}
		in[i] = uint32(id)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.rust == nil {
		return "", errors.New("tokenizer (daulet): closed")
	}
	return t.rust.Decode(in, skipSpecial), nil
}

// VocabSize is one more than the largest id, as for HFTokenizer.
func (t *DauletTokenizer) VocabSize() int { return t.meta.VocabSize() }

// TokenID looks up a token, added tokens first.
func (t *DauletTokenizer) TokenID(token string) (int, bool) { return t.meta.TokenID(token) }

// Close frees the Rust tokenizer.
func (t *DauletTokenizer) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.rust == nil {
		return nil
	}
	err := t.rust.Close()
	t.rust = nil
	return err
}
