package eval

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/llada-go/llada"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const heldout = "../testdata/eval/brown_heldout.json"

func TestHeldOutDataFitsTheBrownTokenizer(t *testing.T) {
	sentences, err := LoadSentences(heldout)
	require.NoError(t, err)
	assert.Len(t, sentences, 256)
	tok, err := llada.LoadTokenizer("../models/brown/tokenizer.json")
	require.NoError(t, err)
	require.NoError(t, CheckTextModel(tok, sentences), "the Brown tokenizer spells the held-out text")

	prefixes, err := SentencePrefixes(tok, sentences, 24, 16)
	require.NoError(t, err)
	assert.Len(t, prefixes, 16, "the default infill and genppl sizes find enough long sentences")
	wins, err := TextWindows(tok, sentences, 64, 16)
	require.NoError(t, err)
	assert.Len(t, wins, 16)
	for _, w := range wins {
		assert.Len(t, w, 64)
	}

	sudoku, err := llada.LoadTokenizer("../models/sudoku/tokenizer.json")
	require.NoError(t, err)
	err = CheckTextModel(sudoku, sentences)
	require.ErrorIs(t, err, ErrNotTextModel)
}

func TestLoadSentencesBadFiles(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		body string
		want error
	}{
		{`{"sentences": []}`, ErrEmptyDataset},
		{`{"sentences": ["  ", ""]}`, ErrEmptyDataset},
		{`{"other": 1}`, ErrEmptyDataset},
	} {
		p := filepath.Join(dir, "s.json")
		require.NoError(t, os.WriteFile(p, []byte(tc.body), 0o644))
		_, err := LoadSentences(p)
		require.ErrorIs(t, err, tc.want, tc.body)
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bad.json"), []byte("["), 0o644))
	_, err := LoadSentences(filepath.Join(dir, "bad.json"))
	require.Error(t, err)
}

func TestWindowsAndPrefixes(t *testing.T) {
	names := make([]string, arithVocab)
	for i := range names {
		names[i] = "t" + string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	tok := wordTokenizer{names: names}
	s := []string{names[3] + " " + names[4] + " " + names[5], names[6] + " " + names[7], names[8]}
	w, err := TextWindows(tok, s, 2, 10)
	require.NoError(t, err)
	assert.Equal(t, [][]int{{3, 4}, {5, 6}, {7, 8}}, w)
	p, err := SentencePrefixes(tok, s, 2, 10)
	require.NoError(t, err)
	assert.Equal(t, [][]int{{3, 4}, {6, 7}}, p)
	_, err = SentencePrefixes(tok, s, 4, 10)
	require.ErrorIs(t, err, ErrEmptyDataset)
	_, err = TextWindows(tok, s, 0, 10)
	require.ErrorIs(t, err, ErrBadConfig)
}
