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

// MAUVE on the judge's features at the size the eval uses (48 continuations of 32 tokens): human text from
// other documents sits well above a collapsed "model" that repeats one human continuation, whose recall falls
// below its precision. The unigram floor is logged, not asserted: these features see content more than
// word order (see the report).
func TestMauveOnJudgeFeatures(t *testing.T) {
	enc, tok, sents := openJudgeEncoder(t)
	conts, err := Continuations(tok, sents, 8, 40, 96)
	require.NoError(t, err)
	require.Len(t, conts, 96)
	s := &semantics{enc: enc, promptLen: 8}
	ctx := context.Background()
	human, err := s.features(ctx, conts[:48])
	require.NoError(t, err)
	other, err := s.features(ctx, conts[48:])
	require.NoError(t, err)
	collapsed := make([][]float64, 48)
	for i := range collapsed {
		collapsed[i] = human[i%3]
	}
	prompts := make([][]int, 48)
	for i := range prompts {
		prompts[i] = conts[i][:8]
	}
	uni, err := unigramContinuations(tok, sents, prompts, 32, 1)
	require.NoError(t, err)
	unigram, err := s.features(ctx, uni)
	require.NoError(t, err)
	cfg := MauveConfig{Seed: 1}
	mo, err := Mauve(human, other, cfg)
	require.NoError(t, err)
	mc, err := Mauve(human, collapsed, cfg)
	require.NoError(t, err)
	mu, err := Mauve(human, unigram, cfg)
	require.NoError(t, err)
	self, err := Mauve(human, human, cfg)
	require.NoError(t, err)
	t.Logf("MAUVE vs human: itself %.3f, other documents %.3f (P %.3f R %.3f), collapsed %.3f (P %.3f R %.3f), unigram %.3f",
		self.Mauve, mo.Mauve, mo.Precision, mo.Recall, mc.Mauve, mc.Precision, mc.Recall, mu.Mauve)
	assert.InDelta(t, 1, self.Mauve, 1e-9)
	assert.Equal(t, 5, mo.Buckets)
	assert.Less(t, mc.Mauve, mo.Mauve-0.2)
	assert.Greater(t, mc.Precision, mc.Recall)
}
