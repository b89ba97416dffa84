package eval

import (
	"strings"
	"unicode"
)

// Words splits text into lower-cased words for the word-level diversity metrics: a word is a maximal run of
// letters and digits, where an apostrophe or hyphen between two letters or digits stays inside the word
// ("don't", "well-known"); every other character that is not white space (punctuation, symbols) is a word of
// its own. Token ids are a poor unit for diversity: a byte-level BPE spells one word with several ids, so
// id n-grams repeat inside words and distinct-n over ids is not comparable across tokenizers.
func Words(text string) []string {
	var out []string
	r := []rune(text)
	isWord := func(c rune) bool { return unicode.IsLetter(c) || unicode.IsDigit(c) }
	for i := 0; i < len(r); {
		c := r[i]
		switch {
		case unicode.IsSpace(c):
			i++
		case isWord(c):
			j := i + 1
			for j < len(r) && (isWord(r[j]) || ((r[j] == '\'' || r[j] == '-' || r[j] == '’') && j+1 < len(r) && isWord(r[j+1]))) {
				j++
			}
			out = append(out, strings.ToLower(string(r[i:j])))
			i = j
		default:
			out = append(out, string(c))
			i++
		}
	}
	return out
}

// WordSequences splits every text into Words and numbers the words by first appearance, so that the id-based
// DistinctN and SelfBLEU measure word n-grams.
func WordSequences(texts []string) [][]int {
	ids := map[string]int{}
	out := make([][]int, len(texts))
	for i, t := range texts {
		for _, w := range Words(t) {
			id, ok := ids[w]
			if !ok {
				id = len(ids)
				ids[w] = id
			}
			out[i] = append(out[i], id)
		}
	}
	return out
}

// WordDiversity is distinct-1, distinct-2 and self-BLEU-4 over words (see Words) of the texts.
type WordDiversity struct {
	Distinct [2]float64
	SelfBLEU float64
}

// MeasureWordDiversity computes WordDiversity.
func MeasureWordDiversity(texts []string) WordDiversity {
	seqs := WordSequences(texts)
	return WordDiversity{Distinct: [2]float64{DistinctN(seqs, 1), DistinctN(seqs, 2)}, SelfBLEU: SelfBLEU(seqs, 4)}
}
