package eval

import (
	"context"
	"fmt"
	"math"
)

// MAUVE's reference implementation (krishnap25/mauve, src/mauve/utils.py featurize_tokens_from_model) takes
// GPT-2 large's final hidden state at the last token as a text's feature: a strong LM's state there reflects
// both what the text is about and whether it reads like text. The shipped judge is far smaller, and on held-out
// Brown text its final hidden states see content only. Measured on 128 held-out continuations (8-token prompt,
// 32 tokens scored) against the same prompts continued by tokens drawn from the unigram distribution, the
// leave-one-out nearest-neighbour accuracy of telling the two apart is 0.72 with mean-pooled states and 0.56
// with the last token's (0.5 is chance), and MAUVE on either pooling stays between 0.5 and 1 for the unigram
// "model" at 48 to 128 samples: a bag of the right words passes. The judge's per-token log-probabilities do
// separate them (mean 4.56 ± 0.51 nats of surprisal for human text, 10.1 ± 0.7 for unigram text). So MAUVE's
// features here are the content vector and that fluency value together (MauveVectors).

// SentenceFeatures are the judge's view of a set of continuations, one entry per continuation.
type SentenceFeatures struct {
	// Content holds the judge's final hidden states mean-pooled over the continuation, L2-normalised.
	Content [][]float64
	// LogProb is the mean log-probability (nats) of the continuation's tokens under the judge, given everything
	// before them (Judge.MeanLogProbs).
	LogProb []float64
}

// JudgeSentenceFeatures computes the features of seqs[i] from position from[i] on (from[i] >= 1: the first
// token has no context to be scored in) with the judge's encoder and its logits.
func JudgeSentenceFeatures(ctx context.Context, j *Judge, enc *Encoder, seqs [][]int, from []int, batch int) (SentenceFeatures, error) {
	if j == nil || enc == nil {
		return SentenceFeatures{}, fmt.Errorf("%w: sentence features need a judge and its encoder", ErrBadConfig)
	}
	lp, err := j.MeanLogProbs(ctx, seqs, from, batch)
	if err != nil {
		return SentenceFeatures{}, err
	}
	fs, err := enc.Encode(ctx, seqs)
	if err != nil {
		return SentenceFeatures{}, err
	}
	content := SentenceVectors(fs, from)
	for _, v := range content {
		normalize(v)
	}
	return SentenceFeatures{Content: content, LogProb: lp}, nil
}

// normalize scales v to unit L2 norm in place (a zero vector stays zero).
func normalize(v []float64) {
	n := 0.0
	for _, x := range v {
		n += x * x
	}
	if n == 0 {
		return
	}
	n = math.Sqrt(n)
	for i := range v {
		v[i] /= n
	}
}

// MauveVectors joins each continuation's content vector with its fluency into one feature vector for Mauve:
// [content..., w·(LogProb − μ)/σ], where μ and σ are the mean and standard deviation of the reference's
// (the human text's) LogProb and w² is the total variance of the reference's content vectors (the sum of the
// per-dimension variances). On the reference the fluency coordinate then carries as much variance as the
// whole content block, so neither drowns the other in Mauve's PCA and k-means, and every set measured against
// the same reference is placed on the same scale. The reference needs two entries or more whose LogProb and
// content vary.
func MauveVectors(ref, x SentenceFeatures) ([][]float64, error) {
	if err := ref.check("reference"); err != nil {
		return nil, err
	}
	if err := x.check("features"); err != nil {
		return nil, err
	}
	n := float64(len(ref.LogProb))
	if n < 2 {
		return nil, fmt.Errorf("%w: the reference of MauveVectors needs 2 continuations or more, got %d", ErrEmptyDataset, len(ref.LogProb))
	}
	d := len(ref.Content[0])
	if len(x.Content[0]) != d {
		return nil, fmt.Errorf("%w: content dimension %d, the reference's %d", ErrBadConfig, len(x.Content[0]), d)
	}
	mu := 0.0
	for _, v := range ref.LogProb {
		mu += v
	}
	mu /= n
	sd := 0.0
	for _, v := range ref.LogProb {
		sd += (v - mu) * (v - mu)
	}
	sd = math.Sqrt(sd / n)
	mean := make([]float64, d)
	for _, v := range ref.Content {
		for k, c := range v {
			mean[k] += c / n
		}
	}
	w2 := 0.0
	for _, v := range ref.Content {
		for k, c := range v {
			w2 += (c - mean[k]) * (c - mean[k]) / n
		}
	}
	if !(sd > 0) || !(w2 > 0) {
		return nil, fmt.Errorf("%w: the reference's log-probabilities (σ %g) or content vectors (variance %g) do not vary", ErrBadConfig, sd, w2)
	}
	w := math.Sqrt(w2)
	out := make([][]float64, len(x.Content))
	for i, v := range x.Content {
		if len(v) != d {
			return nil, fmt.Errorf("%w: content vector %d has dimension %d, want %d", ErrBadConfig, i, len(v), d)
		}
		out[i] = append(append(make([]float64, 0, d+1), v...), w*(x.LogProb[i]-mu)/sd)
	}
	return out, nil
}

func (f SentenceFeatures) check(what string) error {
	if len(f.Content) == 0 || len(f.Content) != len(f.LogProb) {
		return fmt.Errorf("%w: %s: %d content vectors and %d log-probabilities", ErrEmptyDataset, what, len(f.Content), len(f.LogProb))
	}
	for i, v := range f.Content {
		if len(v) == 0 || len(v) != len(f.Content[0]) {
			return fmt.Errorf("%w: %s: content vector %d has dimension %d", ErrBadConfig, what, i, len(v))
		}
	}
	for i, v := range f.LogProb {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: %s: log-probability %d is not finite", ErrBadConfig, what, i)
		}
	}
	return nil
}
