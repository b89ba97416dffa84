//go:build cgo

package onnx

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type goldenCase struct {
	Model         string    `json:"model"`
	Rows          int       `json:"rows"`
	Seq           int       `json:"seq"`
	IDs           []int64   `json:"ids"`
	AttentionMask []int64   `json:"attention_mask"`
	Logits        []float32 `json:"logits"`
}

func loadGolden(t testing.TB) (vocab int, cases []goldenCase) {
	t.Helper()
	raw, err := os.ReadFile(modelPath("tiny_golden.json"))
	require.NoError(t, err)
	var g struct {
		Vocab int          `json:"vocab"`
		Cases []goldenCase `json:"cases"`
	}
	require.NoError(t, json.Unmarshal(raw, &g))
	require.NotEmpty(t, g.Cases)
	return g.Vocab, g.Cases
}

// TestForwardMatchesTorch proves the binding feeds inputs and reads logits in the right layout: torch computed
// these logits for the same weights and inputs (export/make_test_models.py).
func TestForwardMatchesTorch(t *testing.T) {
	vocab, cases := loadGolden(t)
	for i, c := range cases {
		t.Run(fmt.Sprintf("%d_%s_%dx%d", i, c.Model, c.Rows, c.Seq), func(t *testing.T) {
			s := shared(t, c.Model)
			require.Equal(t, vocab, s.VocabSize())
			got := make([]float32, c.Rows*c.Seq*vocab)
			require.NoError(t, s.Forward(context.Background(), c.IDs, c.AttentionMask, c.Rows, c.Seq, got))
			require.Len(t, c.Logits, len(got))
			for j := range got {
				tol := 1e-4 * (1 + math.Abs(float64(c.Logits[j])))
				require.InDelta(t, c.Logits[j], got[j], tol, "logit %d (row %d, pos %d, token %d)", j,
					j/(c.Seq*vocab), j/vocab%c.Seq, j%vocab)
			}
		})
	}
}

// TestAttentionMaskMatters guards against the mask being dropped on the way in: padding a row must change the
// logits of its real tokens, and nil attention must equal all ones.
func TestAttentionMaskMatters(t *testing.T) {
	s := shared(t, "tiny.onnx")
	v := s.VocabSize()
	ids := []int64{0, 0, 5, 6, 7}
	ones := []int64{1, 1, 1, 1, 1}
	padded := []int64{0, 0, 1, 1, 1}
	run := func(att []int64) []float32 {
		out := make([]float32, len(ids)*v)
		require.NoError(t, s.Forward(context.Background(), ids, att, 1, len(ids), out))
		return out
	}
	withNil, withOnes, withPad := run(nil), run(ones), run(padded)
	assert.Equal(t, withOnes, withNil)
	assert.NotEqual(t, withOnes[2*v:], withPad[2*v:])
}

func TestDynamicVocab(t *testing.T) {
	s := shared(t, "gather_dynvocab.onnx")
	require.Equal(t, 0, s.VocabSize(), "vocab dimension is symbolic in this model")
	const vocab = 7 // the model's table width (make_test_models.py)
	ids := []int64{3, 9, 0, 4, 1, 2}
	att := []int64{0, 1, 1, 1, 1, 1}
	got := make([]float32, len(ids)*vocab)
	require.NoError(t, s.Forward(context.Background(), ids, att, 2, 3, got))
	for i, id := range ids {
		for j := 0; j < vocab; j++ {
			want := float32(100*id+int64(j)) * float32(att[i])
			require.Equal(t, want, got[i*vocab+j], "position %d token %d", i, j)
		}
	}
	err := s.Forward(context.Background(), ids, att, 2, 3, make([]float32, len(ids)*vocab+1))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the model produced rows*seq*vocab=2*3*7=42")
}

func TestForwardBadArguments(t *testing.T) {
	tiny := shared(t, "tiny.onnx")
	nomask := shared(t, "tiny_nomask.onnx")
	v := tiny.VocabSize()
	ids := []int64{2, 3, 4, 5}
	cases := []struct {
		name      string
		s         *Session
		ids, att  []int64
		rows, seq int
		logits    int
		want      string
	}{
		{"zero rows", tiny, nil, nil, 0, 4, 0, "rows=0 seq=4, both must be positive"},
		{"ids too short", tiny, ids[:3], nil, 1, 4, 4 * v, "len(ids)=3, want rows*seq=1*4=4"},
		{"ids too long", tiny, ids, nil, 1, 3, 3 * v, "len(ids)=4, want rows*seq=1*3=3"},
		{"attention length", tiny, ids, []int64{1, 1}, 1, 4, 4 * v, "len(attention)=2, want rows*seq=4"},
		{"attention value", tiny, ids, []int64{1, 2, 1, 1}, 1, 4, 4 * v, "attention[1]=2, want 0 or 1"},
		{"logits short", tiny, ids, nil, 2, 2, 4*v - 1, fmt.Sprintf("len(logits)=%d, want rows*seq*vocab=2*2*%d=%d", 4*v-1, v, 4*v)},
		{"padding without mask input", nomask, ids, []int64{0, 1, 1, 1}, 1, 4, 4 * v, `attention[0]=0 (padding) but the model has no "attention_mask" input`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.s.Forward(context.Background(), c.ids, c.att, c.rows, c.seq, make([]float32, c.logits))
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
	// All-ones attention is fine for a model without the input: nothing is being masked.
	require.NoError(t, nomask.Forward(context.Background(), ids, []int64{1, 1, 1, 1}, 1, 4, make([]float32, 4*v)))
}

func TestOutOfRangeTokenIsAnError(t *testing.T) {
	s := shared(t, "tiny.onnx")
	err := s.Forward(context.Background(), []int64{1, int64(s.VocabSize())}, nil, 1, 2, make([]float32, 2*s.VocabSize()))
	require.Error(t, err, "ONNX Runtime's Gather rejects an id outside the embedding")
	assert.Contains(t, err.Error(), "onnx: forward on")
}

// TestConcurrentForward runs one session from many goroutines with different shapes and checks every result
// against a serial run; -race checks the buffer pool.
func TestConcurrentForward(t *testing.T) {
	s := shared(t, "tiny.onnx")
	v := s.VocabSize()
	type job struct {
		ids       []int64
		rows, seq int
		want      []float32
	}
	var jobs []job
	for i := 0; i < 12; i++ {
		rows, seq := 1+i%3, 2+i%4
		ids := make([]int64, rows*seq)
		for j := range ids {
			ids[j] = int64(2 + (i*7+j*3)%(v-2))
		}
		want := make([]float32, rows*seq*v)
		require.NoError(t, s.Forward(context.Background(), ids, nil, rows, seq, want))
		jobs = append(jobs, job{ids, rows, seq, want})
	}
	// Half the calls take the cancellable path (RunWithOptions + AfterFunc), half the IoBinding path.
	live, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(jobs)*3)
	outs := make([][]float32, len(jobs)*3)
	for k := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			j := jobs[k%len(jobs)]
			outs[k] = make([]float32, len(j.want))
			ctx := context.Background()
			if k%2 == 1 {
				ctx = live
			}
			errs[k] = s.Forward(ctx, j.ids, nil, j.rows, j.seq, outs[k])
		}()
	}
	wg.Wait()
	for k := range errs {
		require.NoError(t, errs[k])
		require.Equal(t, jobs[k%len(jobs)].want, outs[k], "job %d", k)
	}
}

// TestBufferReuseFollowsCaller checks the cached output binding: a new logits slice of the same shape must
// receive the result, and the old slice must not be written.
func TestBufferReuseFollowsCaller(t *testing.T) {
	s := shared(t, "tiny_nomask.onnx")
	v := s.VocabSize()
	ids := []int64{2, 3, 4}
	a, b := make([]float32, 3*v), make([]float32, 3*v)
	require.NoError(t, s.Forward(context.Background(), ids, nil, 1, 3, a))
	require.NoError(t, s.Forward(context.Background(), []int64{5, 6, 7}, nil, 1, 3, b))
	require.NotEqual(t, a, b)
	a2 := make([]float32, 3*v)
	require.NoError(t, s.Forward(context.Background(), ids, nil, 1, 3, a2))
	assert.Equal(t, a, a2)
}

func TestClose(t *testing.T) {
	requireLibrary(t)
	s, err := Open(modelPath("tiny_nomask.onnx"), WithIntraOpThreads(testThreads))
	require.NoError(t, err)
	out := make([]float32, 2*s.VocabSize())
	require.NoError(t, s.Forward(context.Background(), []int64{2, 3}, nil, 1, 2, out))
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "closing twice is a no-op")
	err = s.Forward(context.Background(), []int64{2, 3}, nil, 1, 2, out)
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrClosed)
	assert.Contains(t, err.Error(), "session is closed")
}

// TestCloseDuringForward: calls racing with Close either finish normally or report the closed session.
func TestCloseDuringForward(t *testing.T) {
	requireLibrary(t)
	s, err := Open(modelPath("tiny.onnx"), WithIntraOpThreads(testThreads))
	require.NoError(t, err)
	v := s.VocabSize()
	var wg sync.WaitGroup
	results := make([][]error, 4)
	for g := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := make([]float32, 8*v)
			for i := 0; i < 50; i++ {
				results[g] = append(results[g], s.Forward(context.Background(), []int64{2, 3, 4, 5, 6, 7, 8, 9}, nil, 2, 4, out))
			}
		}()
	}
	require.NoError(t, s.Close())
	wg.Wait()
	closed := 0
	for _, errs := range results {
		for _, err := range errs {
			if err != nil {
				require.Contains(t, err.Error(), "session is closed")
				closed++
			}
		}
	}
	t.Logf("%d of %d calls saw the closed session", closed, 4*50)
}
