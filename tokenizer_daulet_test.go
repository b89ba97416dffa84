//go:build !daulet

package llada

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDauletDisabled(t *testing.T) {
	tok, err := LoadDauletTokenizer("testdata/tokenizers/bpe-qwen2.json")
	require.ErrorIs(t, err, ErrDauletDisabled)
	require.Nil(t, tok)
	require.Contains(t, err.Error(), "-tags daulet")
	var z DauletTokenizer
	_, err = z.Encode("x", true)
	require.ErrorIs(t, err, ErrDauletDisabled)
}
