package eval

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestUnigramEntropy(t *testing.T) {
	assert.InDelta(t, math.Log(2), UnigramEntropy([][]int{{1, 1, 2, 2}}), 1e-12)
	assert.InDelta(t, (0+math.Log(4))/2, UnigramEntropy([][]int{{7, 7, 7}, {1, 2, 3, 4}, {}}), 1e-12, "empty samples are skipped")
	assert.Equal(t, 0.0, UnigramEntropy(nil))
}

func TestDistinctN(t *testing.T) {
	s := [][]int{{1, 2, 3, 1, 2}, {1, 2}}
	assert.InDelta(t, 3.0/7, DistinctN(s, 1), 1e-12) // unigrams 1,2,3 of 7
	assert.InDelta(t, 3.0/5, DistinctN(s, 2), 1e-12) // 12,23,31,12 + 12: {12,23,31} of 5
	assert.InDelta(t, 3.0/3, DistinctN(s, 3), 1e-12) // 123,231,312
	assert.Equal(t, 0.0, DistinctN([][]int{{1}}, 2)) // no bigrams
	assert.Equal(t, 0.0, DistinctN(s, 0))
	collapsed := [][]int{{5, 6, 7, 8}, {5, 6, 7, 8}, {5, 6, 7, 8}, {5, 6, 7, 8}}
	assert.InDelta(t, 0.25, DistinctN(collapsed, 2), 1e-12)
}

func TestSelfBLEU(t *testing.T) {
	same := [][]int{{1, 2, 3, 4, 5}, {1, 2, 3, 4, 5}, {1, 2, 3, 4, 5}}
	assert.InDelta(t, 1.0, SelfBLEU(same, 4), 1e-12)

	// Disjoint samples: no n-gram matches, every precision is smoothed to 0.1/count.
	// Each hypothesis of 5 tokens: p_n = 0.1/(6-n); BLEU = exp(mean log p_n), brevity penalty 1.
	disjoint := [][]int{{1, 2, 3, 4, 5}, {6, 7, 8, 9, 10}}
	want := math.Exp((math.Log(0.1/5) + math.Log(0.1/4) + math.Log(0.1/3) + math.Log(0.1/2)) / 4)
	assert.InDelta(t, want, SelfBLEU(disjoint, 4), 1e-12)

	// Partial overlap, computed by hand: hyp {1,2,3,4} vs ref {1,2,3,9}: p1 = 3/4, p2 = 2/3, p3 = 1/2,
	// p4 = 0 -> 0.1/1; both directions are symmetric.
	partial := [][]int{{1, 2, 3, 4}, {1, 2, 3, 9}}
	want = math.Exp((math.Log(0.75) + math.Log(2.0/3) + math.Log(0.5) + math.Log(0.1)) / 4)
	assert.InDelta(t, want, SelfBLEU(partial, 4), 1e-12)

	// Brevity penalty against the closest reference length: hyp of 2 tokens vs refs of 4.
	short := [][]int{{1, 2}, {1, 2, 3, 4}}
	h0 := math.Exp(1-4.0/2) * math.Exp((math.Log(1)+math.Log(1))/2) // hyp {1,2}: p1 = p2 = 1
	h1 := math.Exp((math.Log(2.0/4) + math.Log(1.0/3)) / 2)         // hyp {1,2,3,4} vs {1,2}: no penalty (longer)
	assert.InDelta(t, (h0+h1)/2, SelfBLEU(short, 2), 1e-12)

	assert.Equal(t, 0.0, SelfBLEU([][]int{{1, 2}}, 4), "one sample has no references")
	assert.Less(t, SelfBLEU(disjoint, 4), SelfBLEU(partial, 4))
}
