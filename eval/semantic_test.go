package eval

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// embedFeaturizer is a causal test featurizer: position p's vector is the one-hot of its id (mod dim) plus half
// of position p-1's vector. It records its batch shapes.
type embedFeaturizer struct {
	dim    int
	shapes [][2]int
	nan    bool
}

func (e *embedFeaturizer) Dim() int { return e.dim }

func (e *embedFeaturizer) TokenFeatures(ctx context.Context, ids []int64, rows, seq int) ([]float32, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e.shapes = append(e.shapes, [2]int{rows, seq})
	out := make([]float32, rows*seq*e.dim)
	for r := 0; r < rows; r++ {
		for p := 0; p < seq; p++ {
			v := out[(r*seq+p)*e.dim : (r*seq+p+1)*e.dim]
			if p > 0 {
				prev := out[(r*seq+p-1)*e.dim : (r*seq+p)*e.dim]
				for i := range v {
					v[i] = prev[i] / 2
				}
			}
			v[int(ids[r*seq+p])%e.dim]++
		}
	}
	if e.nan {
		out[0] = float32(math.NaN())
	}
	return out, nil
}

func TestEncoder(t *testing.T) {
	f := &embedFeaturizer{dim: 4}
	enc, err := NewEncoder(f, 10, 6, 2)
	require.NoError(t, err)
	fs, err := enc.Encode(context.Background(), [][]int{{1, 2}, {3}, {1, 2}, {5, 6}, {7, 8}})
	require.NoError(t, err)
	assert.Equal(t, [][2]int{{2, 2}, {2, 2}, {1, 1}}, f.shapes, "equal lengths share passes of at most 2 rows, never padded")
	assert.Equal(t, []float32{0, 1, 0, 0}, fs[0].Token(0))
	assert.Equal(t, []float32{0, 0.5, 1, 0}, fs[0].Token(1))
	assert.Equal(t, fs[0], fs[2])
	assert.Equal(t, []float64{0, 0.75, 0.5, 0}, fs[0].Mean(0))
	assert.Equal(t, []float64{0, 0.5, 1, 0}, fs[0].Mean(1))
	assert.InDelta(t, 1, Cosine([]float64{1, 2}, []float64{2, 4}), 1e-12)
	assert.Zero(t, Cosine([]float64{0, 0}, []float64{2, 4}))

	for _, tc := range []struct {
		seqs [][]int
		want error
	}{
		{nil, ErrEmptyDataset}, {[][]int{{}}, ErrEmptyDataset}, {[][]int{{1, 10}}, ErrVocabMismatch},
		{[][]int{{1, 2, 3, 4, 5, 6, 7}}, ErrBadConfig},
	} {
		_, err := enc.Encode(context.Background(), tc.seqs)
		require.ErrorIs(t, err, tc.want, "%v", tc.seqs)
	}
	f.nan = true
	_, err = enc.Encode(context.Background(), [][]int{{1}})
	require.ErrorContains(t, err, "not finite")
	_, err = NewEncoder(nil, 10, 0, 0)
	require.ErrorIs(t, err, ErrBadConfig)

	// A judge without features says so.
	var shapes [][2]int
	_, err = nextTokenJudge(t, 10, 0.5, &shapes).Encoder(4)
	require.ErrorIs(t, err, ErrNoFeatures)
}

func TestGreedyMatchByHand(t *testing.T) {
	f := func(vs ...[]float32) Features {
		var d []float32
		for _, v := range vs {
			d = append(d, v...)
		}
		return Features{Len: len(vs), Dim: len(vs[0]), Data: d}
	}
	e1, e2 := []float32{1, 0}, []float32{0, 3}
	// Candidate {e1} against reference {e1, e2}: precision 1 (e1 matches), recall (1 + 0)/2, F1 = 2/3.
	p, r, f1 := GreedyMatch(f(e1), f(e1, e2), 0, 0)
	assert.InDelta(t, 1, p, 1e-12)
	assert.InDelta(t, 0.5, r, 1e-12)
	assert.InDelta(t, 2.0/3, f1, 1e-12)
	// From position 1 on: candidate {e2, e1} vs reference {e1+e2}: every cosine is 1/√2.
	p, r, _ = GreedyMatch(f([]float32{9, 9}, e2, e1), f([]float32{9, 9}, []float32{1, 1}), 1, 1)
	assert.InDelta(t, 1/math.Sqrt2, p, 1e-7)
	assert.InDelta(t, 1/math.Sqrt2, r, 1e-7)
	p, r, f1 = GreedyMatch(f(e1), f(e1), 1, 0)
	assert.Zero(t, p+r+f1, "nothing to compare")
}

func TestSemanticSimilarity(t *testing.T) {
	enc, err := NewEncoder(&embedFeaturizer{dim: 8}, 8, 0, 4)
	require.NoError(t, err)
	ref := []int{1, 2, 3, 4, 5}
	same, err := SemanticSimilarity(context.Background(), enc, [][]int{ref}, [][]int{ref}, []int{2})
	require.NoError(t, err)
	assert.InDelta(t, 1, same.F1, 1e-6)
	assert.InDelta(t, 1, same.Cosine, 1e-6)
	near, err := SemanticSimilarity(context.Background(), enc, [][]int{{1, 2, 3, 6, 5}}, [][]int{ref}, []int{2})
	require.NoError(t, err)
	far, err := SemanticSimilarity(context.Background(), enc, [][]int{{1, 2, 7, 6, 0}}, [][]int{ref}, []int{2})
	require.NoError(t, err)
	assert.Greater(t, near.F1, far.F1)
	assert.Greater(t, near.Cosine, far.Cosine)
	assert.Less(t, near.F1, 1.0)
	_, err = SemanticSimilarity(context.Background(), enc, [][]int{ref}, [][]int{ref, ref}, nil)
	require.ErrorIs(t, err, ErrBadConfig)
	_, err = SemanticSimilarity(context.Background(), enc, [][]int{ref}, [][]int{ref}, []int{5})
	require.ErrorIs(t, err, ErrBadConfig)
}

func TestWords(t *testing.T) {
	assert.Equal(t, []string{"don't", "stop", "-", "-", "the", "well-known", "u", ".", "s", ".", "band's", "2", "songs", "!", "`", "`", "é", "'"},
		Words("Don't stop -- the Well-known U.S. band's 2 songs! `` É '"))
	assert.Equal(t, []string{"`", "`"}, Words(" ` ` "))
	seqs := WordSequences([]string{"The cat, the hat.", "A cat"})
	assert.Equal(t, [][]int{{0, 1, 2, 0, 3, 4}, {5, 1}}, seqs)
	d := MeasureWordDiversity([]string{"the cat sat", "the cat sat", "the cat sat"})
	assert.InDelta(t, 3.0/9, d.Distinct[0], 1e-12)
	assert.InDelta(t, 2.0/6, d.Distinct[1], 1e-12)
	assert.InDelta(t, 0, MeasureWordDiversity([]string{"a b c d e", "f g h i j"}).Distinct[0]-1, 1e-12)
	// Id-level diversity of a BPE would see "thethe" and "the the" differently; words see the same word.
	assert.Equal(t, Words("the the"), []string{"the", "the"})
}

func TestReliabilityByHand(t *testing.T) {
	// Bins of width 0.1: 0.05 wrong (|0-0.05|), 0.15 right (|1-0.15|), two at 0.95, one right (|0.5-0.95|·2).
	s := ReliabilityBins([]float64{0.05, 0.15, 0.95, 0.95}, []bool{false, true, true, false}, 10)
	assert.InDelta(t, (0.05+0.85+2*0.45)/4, s.ECE, 1e-12)
	assert.InDelta(t, 0.5, s.Accuracy, 1e-12)
	assert.InDelta(t, 0.525, s.Confidence, 1e-12)
	assert.Equal(t, 2, s.Bins[9].Count)
	assert.InDelta(t, 0.5, s.Bins[9].Accuracy, 1e-12)
	assert.Equal(t, 1, ReliabilityBins([]float64{1}, []bool{true}, 10).Bins[9].Count, "confidence 1 falls in the last bin")
	assert.Zero(t, ReliabilityBins(nil, nil, 5).ECE)
}

// A denoiser that knows the one window by heart is always right, with a confidence that depends on the
// position: its ECE is the mean of 1 - confidence over the masked tokens.
func TestCalibrationOfAKnownModel(t *testing.T) {
	win := arithSeq(0, 12)
	conf := func(p int) float64 { z := 10 - float64(p)/2; return math.Exp(z) / (math.Exp(z) + arithVocab - 1) }
	den := &funcDenoiser{vocab: arithVocab, fill: func(_ []int64, p int, out []float32) {
		for i := range out {
			out[i] = 0
		}
		out[win[p]] = float32(10 - float64(p)/2)
	}}
	c := testContract(arithVocab, arithMask)
	wins := [][]int{win, win, win}
	s, err := Calibration(context.Background(), den, c, wins, 3, 10, 1)
	require.NoError(t, err)
	assert.InDelta(t, 1, s.Accuracy, 1e-12)
	assert.InDelta(t, 1-s.Confidence, s.ECE, 1e-6)
	assert.Greater(t, s.Tokens, 15)
	assert.Greater(t, s.Confidence, conf(11)-1e-6)
	assert.Less(t, s.Confidence, conf(0)+1e-6)
	again, err := Calibration(context.Background(), den, c, wins, 3, 10, 1)
	require.NoError(t, err)
	assert.Equal(t, s, again)

	_, err = Calibration(context.Background(), den, c, nil, 3, 10, 1)
	require.ErrorIs(t, err, ErrEmptyDataset)
	_, err = Calibration(context.Background(), den, c, [][]int{{3, 4}, {3}}, 3, 10, 1)
	require.ErrorIs(t, err, ErrBadConfig)
	_, err = Calibration(context.Background(), den, c, [][]int{{3, arithMask}}, 3, 10, 1)
	require.ErrorIs(t, err, ErrBadConfig)
	_, err = Calibration(context.Background(), den, c, wins, 0, 10, 1)
	require.ErrorIs(t, err, ErrBadConfig)
	nan := &funcDenoiser{vocab: arithVocab, fill: func(_ []int64, _ int, out []float32) { out[0] = float32(math.NaN()) }}
	_, err = Calibration(context.Background(), nan, c, wins, 1, 10, 1)
	require.ErrorContains(t, err, "unusable logits")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = Calibration(ctx, den, c, wins, 1, 10, 1)
	require.True(t, errors.Is(err, context.Canceled), "%v", err)
}

func TestAUCAndSpearman(t *testing.T) {
	// Pairs: 0.9>0.8, 0.9>0.1, 0.8=0.8 (half), 0.8>0.1.
	assert.InDelta(t, 3.5/4, AUC([]float64{0.9, 0.8}, []float64{0.8, 0.1}), 1e-12)
	assert.InDelta(t, 0.5, AUC(nil, []float64{1}), 1e-12)
	// ρ = 1 - 6Σd²/(n(n²-1)) = 1 - 12/60.
	assert.InDelta(t, 0.8, Spearman([]float64{1, 2, 3, 4}, []float64{10, 30, 20, 40}), 1e-12)
	assert.InDelta(t, -1, Spearman([]float64{1, 2, 3}, []float64{3, 2, 1}), 1e-12)
	assert.Equal(t, []float64{1.5, 1.5, 3}, averageRanks([]float64{5, 5, 7}))
	assert.Zero(t, Spearman([]float64{1, 1}, []float64{1, 2}))
	assert.Equal(t, []float64{3, 1, 2}, placeOf([]float64{1, 9, 5}))
}

func TestPerturb(t *testing.T) {
	rng := newRand(1)
	s := "one two three four five six seven eight nine ten eleven twelve"
	d, err := Perturb(rng, s, PerturbDropout)
	require.NoError(t, err)
	assert.Len(t, strings.Fields(d), 10, "a sixth of 12 words dropped")
	w, err := Perturb(rng, s, PerturbSwap)
	require.NoError(t, err)
	a, b := strings.Fields(w), strings.Fields(s)
	assert.NotEqual(t, a, b)
	slices.Sort(a)
	slices.Sort(b)
	assert.Equal(t, b, a, "the same words, reordered")
	short, err := Perturb(rng, "too short", PerturbSwap)
	require.NoError(t, err)
	assert.Equal(t, "too short", short)
	_, err = Perturb(rng, s, "rewrite")
	require.ErrorIs(t, err, ErrBadConfig)
}

func TestContinuations(t *testing.T) {
	tok := wordTokenizer{names: []string{"a", "b", "c", "d", "e", "f"}}
	sents := []string{"a b c", "d", "e f a b", "c"}
	got, err := Continuations(tok, sents, 2, 4, 10)
	require.NoError(t, err)
	// Sentences with at least 2 tokens start a continuation; each runs on into the next sentences.
	assert.Equal(t, [][]int{{0, 1, 2, 3}, {4, 5, 0, 1}}, got)
	_, err = Continuations(tok, sents, 3, 2, 10)
	require.ErrorIs(t, err, ErrBadConfig)
}
