package eval

import (
	"context"
	"fmt"
	"math"
)

// SimilarityScore compares candidates (infills, repairs, paraphrases, ...) with their references through the
// judge's features, averaged over pairs.
type SimilarityScore struct {
	Pairs int
	// BERTScore-style greedy matching of token features (Zhang et al. 2020, "BERTScore: Evaluating Text
	// Generation with BERT", without idf weighting or baseline rescaling): precision is the mean over candidate
	// tokens of the best cosine with a reference token, recall the same the other way, F1 their harmonic mean.
	Precision, Recall, F1 float64
	// Cosine is the cosine of the mean-pooled features (sentence-level similarity).
	Cosine float64
}

// GreedyMatch is the BERTScore-style precision, recall and F1 of candidate token features against reference
// token features, over positions candFrom.. and refFrom.. of each.
func GreedyMatch(cand, ref Features, candFrom, refFrom int) (p, r, f1 float64) {
	nc, nr := cand.Len-candFrom, ref.Len-refFrom
	if nc <= 0 || nr <= 0 {
		return 0, 0, 0
	}
	norm := func(f Features, from int) [][]float64 {
		out := make([][]float64, f.Len-from)
		for i := range out {
			v := f.Token(from + i)
			u := make([]float64, len(v))
			n := 0.0
			for j, x := range v {
				u[j] = float64(x)
				n += u[j] * u[j]
			}
			if n > 0 {
				n = 1 / math.Sqrt(n)
			}
			for j := range u {
				u[j] *= n
			}
			out[i] = u
		}
		return out
	}
	c, rf := norm(cand, candFrom), norm(ref, refFrom)
	bestC := make([]float64, nc)
	bestR := make([]float64, nr)
	for i := range bestC {
		bestC[i] = math.Inf(-1)
	}
	for j := range bestR {
		bestR[j] = math.Inf(-1)
	}
	for i, a := range c {
		for j, b := range rf {
			s := 0.0
			for k := range a {
				s += a[k] * b[k]
			}
			bestC[i] = math.Max(bestC[i], s)
			bestR[j] = math.Max(bestR[j], s)
		}
	}
	p, r = mean(bestC), mean(bestR)
	if p+r > 0 {
		f1 = 2 * p * r / (p + r)
	}
	return p, r, f1
}

// SemanticSimilarity scores each candidate against its reference with enc. Both are full token sequences;
// only positions from[i] on are compared (greedy matching and mean pooling), because with a causal featurizer
// (the judge) the features before the first position a candidate may differ at are equal by construction and
// would only inflate the score. from may be nil (compare everything).
func SemanticSimilarity(ctx context.Context, enc *Encoder, cands, refs [][]int, from []int) (SimilarityScore, error) {
	if len(cands) == 0 || len(cands) != len(refs) || (from != nil && len(from) != len(cands)) {
		return SimilarityScore{}, fmt.Errorf("%w: %d candidates, %d references, %d start positions", ErrBadConfig, len(cands), len(refs), len(from))
	}
	for i := range cands {
		if from != nil && (from[i] < 0 || from[i] >= len(cands[i]) || from[i] >= len(refs[i])) {
			return SimilarityScore{}, fmt.Errorf("%w: pair %d compares from position %d of %d and %d tokens", ErrBadConfig, i, from[i], len(cands[i]), len(refs[i]))
		}
	}
	rf, err := enc.Encode(ctx, refs)
	if err != nil {
		return SimilarityScore{}, err
	}
	return similarityTo(ctx, enc, cands, rf, from)
}

// similarityTo is SemanticSimilarity against references already encoded (the infill task scores every sampler
// setting against the same references).
func similarityTo(ctx context.Context, enc *Encoder, cands [][]int, refs []Features, from []int) (SimilarityScore, error) {
	cf, err := enc.Encode(ctx, cands)
	if err != nil {
		return SimilarityScore{}, err
	}
	n := len(cands)
	s := SimilarityScore{Pairs: n}
	for i := 0; i < n; i++ {
		f := 0
		if from != nil {
			f = from[i]
		}
		p, r, f1 := GreedyMatch(cf[i], refs[i], f, f)
		s.Precision += p / float64(n)
		s.Recall += r / float64(n)
		s.F1 += f1 / float64(n)
		s.Cosine += Cosine(cf[i].Mean(f), refs[i].Mean(f)) / float64(n)
	}
	return s, nil
}
