//go:build daulet

package llada

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDauletMatchesPureGo cross-checks the two backends on the corpus (needs libtokenizers.a to link).
func TestDauletMatchesPureGo(t *testing.T) {
	corpus := goldenCorpus(t)
	for _, name := range []string{"bpe-qwen2.json", "bpe-llama3.json", "wordpiece.json"} {
		goTok := loadTrained(t, name)
		rs, err := LoadDauletTokenizer("testdata/tokenizers/" + name)
		require.NoError(t, err)
		for _, text := range corpus {
			want, err := goTok.Encode(text, true)
			require.NoError(t, err)
			got, err := rs.Encode(text, true)
			require.NoError(t, err)
			require.Equal(t, want, got, "%s %q", name, text)
		}
		require.NoError(t, rs.Close())
	}
}
