//go:build !daulet

package llada

import "errors"

// ErrDauletDisabled is returned by LoadDauletTokenizer in builds without the daulet tag.
var ErrDauletDisabled = errors.New("tokenizer: the daulet/tokenizers backend is not compiled in; " +
	"build with -tags daulet and libtokenizers.a on the linker path (github.com/daulet/tokenizers), " +
	"or use LoadTokenizer, the pure-Go default")

// DauletTokenizer is the Rust-backed tokenizer of builds with the daulet tag; in this build it cannot be
// created, and its methods only report ErrDauletDisabled.
type DauletTokenizer struct{}

var _ Tokenizer = (*DauletTokenizer)(nil)

// LoadDauletTokenizer needs the daulet build tag; here it returns ErrDauletDisabled.
func LoadDauletTokenizer(path string) (*DauletTokenizer, error) { return nil, ErrDauletDisabled }

// Encode reports ErrDauletDisabled.
func (*DauletTokenizer) Encode(string, bool) ([]int, error) { return nil, ErrDauletDisabled }

// Decode reports ErrDauletDisabled.
func (*DauletTokenizer) Decode([]int, bool) (string, error) { return "", ErrDauletDisabled }

// VocabSize is 0: there is no vocabulary.
func (*DauletTokenizer) VocabSize() int { return 0 }

// TokenID finds nothing.
func (*DauletTokenizer) TokenID(string) (int, bool) { return 0, false }

// Close does nothing.
func (*DauletTokenizer) Close() error { return nil }
