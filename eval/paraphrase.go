package eval

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/llada-go/llada"
)

// Perturbation kinds of paraphrase-like variants.
const (
	PerturbDropout = "dropout" // one word in six removed (at least one)
	PerturbSwap    = "swap"    // two pairs of neighbouring words exchanged
)

// Perturb returns a paraphrase-like variant of a sentence: the same words with a few dropped (PerturbDropout)
// or reordered (PerturbSwap). Words are split at white space. Sentences of fewer than four words come back
// unchanged.
func Perturb(rng *rand.Rand, sentence, kind string) (string, error) {
	w := strings.Fields(sentence)
	if len(w) < 4 {
		return sentence, nil
	}
	switch kind {
	case PerturbDropout:
		k := max(1, len(w)/6)
		drop := map[int]bool{}
		for len(drop) < k {
			drop[rng.IntN(len(w))] = true
		}
		var out []string
		for i, x := range w {
			if !drop[i] {
				out = append(out, x)
			}
		}
		return strings.Join(out, " "), nil
	case PerturbSwap:
		for range 2 {
			i := rng.IntN(len(w) - 1)
			w[i], w[i+1] = w[i+1], w[i]
		}
		return strings.Join(w, " "), nil
	}
	return "", fmt.Errorf("%w: unknown perturbation %q (want %s or %s)", ErrBadConfig, kind, PerturbDropout, PerturbSwap)
}

// SeparationScore says how well sentence features tell paraphrase-like pairs (a sentence and a perturbed copy)
// from unrelated pairs (two different held-out sentences).
type SeparationScore struct {
	Pairs int
	// AUC is the probability that a paraphrase pair's cosine exceeds an unrelated pair's (ties count half):
	// 0.5 is chance, 1 perfect separation.
	AUC float64
	// MeanParaphrase and MeanUnrelated are the mean cosines of each kind of pair.
	MeanParaphrase, MeanUnrelated float64
}

// ParaphraseSeparation builds, from up to n held-out sentences (cut to maxWords words), one paraphrase-like pair
// per sentence (a perturbation of each kind in turn) and one unrelated pair (the sentence and the next one),
// and scores their mean-pooled features with enc.
func ParaphraseSeparation(ctx context.Context, enc *Encoder, tok llada.Tokenizer, sentences []string, n, maxWords int, seed uint64) (SeparationScore, error) {
	rng := rand.New(rand.NewPCG(seed, 0x9a7a))
	var base []string
	for _, s := range sentences {
		if w := strings.Fields(s); len(w) >= 6 {
			base = append(base, strings.Join(w[:min(len(w), maxWords)], " "))
		}
		if len(base) == n {
			break
		}
	}
	if len(base) < 2 {
		return SeparationScore{}, fmt.Errorf("%w: need at least two sentences of six words", ErrEmptyDataset)
	}
	texts := append([]string(nil), base...)
	for i, s := range base {
		kind := PerturbDropout
		if i%2 == 1 {
			kind = PerturbSwap
		}
		v, err := Perturb(rng, s, kind)
		if err != nil {
			return SeparationScore{}, err
		}
		texts = append(texts, v)
	}
	seqs := make([][]int, len(texts))
	for i, t := range texts {
		ids, err := tok.Encode(t, false)
		if err != nil {
			return SeparationScore{}, fmt.Errorf("eval: tokenize %q: %w", t, err)
		}
		seqs[i] = ids
	}
	fs, err := enc.Encode(ctx, seqs)
	if err != nil {
		return SeparationScore{}, err
	}
	vec := SentenceVectors(fs, nil)
	m := len(base)
	para := make([]float64, m)
	unrel := make([]float64, m)
	for i := range base {
		para[i] = Cosine(vec[i], vec[m+i])
		unrel[i] = Cosine(vec[i], vec[(i+1)%m])
	}
	return SeparationScore{Pairs: m, AUC: AUC(para, unrel), MeanParaphrase: mean(para), MeanUnrelated: mean(unrel)}, nil
}

// AUC is the area under the ROC curve of scores that should rank pos above neg: the Mann-Whitney statistic,
// P(pos > neg) + P(pos = neg)/2 over all pairs. Empty inputs give NaN-free 0.5.
func AUC(pos, neg []float64) float64 {
	if len(pos) == 0 || len(neg) == 0 {
		return 0.5
	}
	s := append([]float64(nil), neg...)
	sort.Float64s(s)
	total := 0.0
	for _, p := range pos {
		lo := sort.SearchFloat64s(s, p)                                 // neg < p
		hi := sort.Search(len(s), func(i int) bool { return s[i] > p }) // neg <= p
		total += float64(lo) + 0.5*float64(hi-lo)
	}
	return total / float64(len(pos)*len(neg))
}
