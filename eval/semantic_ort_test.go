//go:build cgo

package eval

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/llada-go/llada"
	"github.com/llada-go/llada/onnx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const judgeFile = "../models/judge/model.onnx"

// The hidden_states output was added to the committed judge by export/add_hidden_output.py; the golden holds
// the judge's logits from BEFORE that edit (argmax, log-sum-exp and the first 8 logits of every position).
func TestJudgeLogitsUnchangedByHiddenOutput(t *testing.T) {
	var g struct {
		IDs  []int64 `json:"input_ids"`
		Rows int     `json:"rows"`
		Seq  int     `json:"seq"`
		Pos  []struct {
			Argmax int       `json:"argmax"`
			LSE    float64   `json:"logsumexp"`
			First  []float32 `json:"first8"`
		} `json:"positions"`
	}
	b, err := os.ReadFile("../testdata/goldens/judge_logits.json")
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &g))
	s, err := onnx.Open(judgeFile, onnx.WithIntraOpThreads(1))
	require.NoError(t, err)
	defer s.Close()
	v := s.VocabSize()
	logits := make([]float32, g.Rows*g.Seq*v)
	require.NoError(t, s.Forward(context.Background(), g.IDs, nil, g.Rows, g.Seq, logits))
	require.Len(t, g.Pos, g.Rows*g.Seq)
	for p, want := range g.Pos {
		l := logits[p*v : (p+1)*v]
		best := 0
		for i, x := range l {
			if x > l[best] {
				best = i
			}
		}
		lse := 0.0
		for _, x := range l {
			lse += math.Exp(float64(x - l[best]))
		}
		assert.Equal(t, want.Argmax, best, "position %d", p)
		assert.InDelta(t, want.LSE, float64(l[best])+math.Log(lse), 1e-4, "position %d", p)
		for i, x := range want.First {
			assert.InDelta(t, x, l[i], 1e-4, "position %d logit %d", p, i)
		}
	}
}

func openJudgeEncoder(t *testing.T) (*Encoder, llada.Tokenizer, []string) {
	t.Helper()
	j, err := OpenJudge(judgeFile, onnx.WithIntraOpThreads(1))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, j.Close()) })
	enc, err := j.Encoder(32)
	require.NoError(t, err)
	assert.Equal(t, 160, enc.Dim())
	tok, err := llada.LoadTokenizer("../models/brown/tokenizer.json")
	require.NoError(t, err)
	sents, err := LoadSentences("../testdata/eval/brown_heldout.json")
	require.NoError(t, err)
	return enc, tok, sents
}

// The judge's mean-pooled features tell a held-out sentence's paraphrase-like copy (words dropped or swapped)
// from another held-out sentence.
func TestJudgeFeaturesSeparateParaphrases(t *testing.T) {
	enc, tok, sents := openJudgeEncoder(t)
	s, err := ParaphraseSeparation(context.Background(), enc, tok, sents, 128, 32, 1)
	require.NoError(t, err)
	t.Logf("%+v", s)
	assert.Equal(t, 128, s.Pairs)
	assert.GreaterOrEqual(t, s.AUC, 0.95)
	assert.Greater(t, s.MeanParaphrase-s.MeanUnrelated, 0.2)
}

// MAUVE on the judge's sentence features (content and fluency, MauveVectors) at the size the eval uses: 48
// continuations of 32 tokens after 8-token prompts. Held-out text against held-out text from the same documents
// scores near 1, the prompts continued by unigram draws near 0, and a collapsed "model" that repeats three human
// continuations falls well below held-out text, its recall below its precision. Several k-means seeds, so that
// the orderings do not rest on one lucky quantisation.
func TestMauveOnJudgeFeatures(t *testing.T) {
	j, err := OpenJudge(judgeFile, onnx.WithIntraOpThreads(1))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, j.Close()) })
	enc, tok, sents := openJudgeEncoder(t)
	conts, err := Continuations(tok, sents, 8, 40, 96)
	require.NoError(t, err)
	require.Len(t, conts, 96)
	ctx := context.Background()
	s := &semantics{enc: enc, judge: j, promptLen: 8, cfg: Config{Batch: 32}}
	own := conts[:48]
	s.human, err = s.features(ctx, own)
	require.NoError(t, err)
	feats := func(seqs [][]int) SentenceFeatures {
		f, err := s.features(ctx, seqs)
		require.NoError(t, err)
		return f
	}
	half, rest := alternateBlocks(conts, sameDocsBlock)
	require.Len(t, half, 48)
	halfF, restF, otherF := feats(half), feats(rest), feats(conts[48:])
	prompts := make([][]int, 48)
	for i := range prompts {
		prompts[i] = own[i][:8]
	}
	uni, err := unigramContinuations(tok, sents, prompts, 32, 1)
	require.NoError(t, err)
	uniF := feats(uni)
	var collapsed SentenceFeatures
	for i := range 48 {
		collapsed.Content = append(collapsed.Content, s.human.Content[i%3])
		collapsed.LogProb = append(collapsed.LogProb, s.human.LogProb[i%3])
	}
	t.Logf("gen PPL: human %.1f, unigram %.1f", genPPLOf(s.human), genPPLOf(uniF))
	for _, seed := range []uint64{1, 2, 3} {
		s.cfg.Seed = seed
		measure := func(h, m SentenceFeatures) MauveResult {
			r, err := s.mauve(h, m)
			require.NoError(t, err)
			return r
		}
		same, other, mu := measure(halfF, restF), measure(s.human, otherF), measure(s.human, uniF)
		mc, self := measure(s.human, collapsed), measure(s.human, s.human)
		t.Logf("seed %d, MAUVE: itself %.3f, same documents %.3f, other documents %.3f, collapsed %.3f (P %.3f R %.3f), unigram %.3f",
			seed, self.Mauve, same.Mauve, other.Mauve, mc.Mauve, mc.Precision, mc.Recall, mu.Mauve)
		assert.InDelta(t, 1, self.Mauve, 1e-9)
		assert.Equal(t, 5, same.Buckets)
		assert.Greater(t, same.Mauve, 0.9, "held-out vs held-out, seed %d", seed)
		assert.Less(t, mu.Mauve, 0.1, "unigram samples, seed %d", seed)
		assert.Less(t, mc.Mauve, same.Mauve-0.2, "collapsed, seed %d", seed)
		assert.Greater(t, mc.Precision, mc.Recall, "collapsed, seed %d", seed)
	}
}
