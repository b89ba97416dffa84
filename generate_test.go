package llada

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func collect(t *testing.T, den Denoiser, c Contract, prompts [][]int, cfg GenerateConfig) ([]Step, [][]int) {
	t.Helper()
	var steps []Step
	var committed [][]int
	for st, err := range Stream(context.Background(), den, c, prompts, cfg) {
		require.NoError(t, err)
		cp := st
		cp.Canvas = append([]int(nil), st.Canvas...)
		steps = append(steps, cp)
		committed = append(committed, append([]int(nil), st.Committed[0]...))
	}
	return steps, committed
}

func TestLLaDATransferCounts(t *testing.T) {
	for _, tc := range []struct {
		masked, steps int
		want          []int
	}{
		{10, 4, []int{3, 3, 2, 2}},
		{8, 4, []int{2, 2, 2, 2}},
		{3, 5, []int{1, 1, 1, 0, 0}},
		{0, 2, []int{0, 0}},
	} {
		got := LLaDATransferCounts(nil, tc.masked, tc.steps)
		assert.Equal(t, tc.want, got, "masked=%d steps=%d", tc.masked, tc.steps)
		sum := 0
		for _, n := range got {
			sum += n
		}
		assert.Equal(t, tc.masked, sum)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  GenerateConfig
		want string
	}{
		{"zero value", GenerateConfig{}, ""},
		{"blocks", GenerateConfig{GenLength: 64, BlockLength: 32, Steps: 64}, ""},
		{"not divisible", GenerateConfig{GenLength: 64, BlockLength: 24}, "not a multiple of block_length"},
		{"steps vs blocks", GenerateConfig{GenLength: 64, BlockLength: 16, Steps: 6}, "not a multiple of the number of blocks"},
		{"negative temperature", GenerateConfig{Temperature: -1}, "temperature"},
		{"NaN temperature", GenerateConfig{Temperature: math.NaN()}, "temperature"},
		{"negative cfg", GenerateConfig{CFGScale: -0.5}, "cfg_scale"},
		{"remasking", GenerateConfig{Remasking: "sideways"}, "remasking"},
		{"negative length", GenerateConfig{GenLength: -4}, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalidConfig)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// positionPreference makes token 4+p the argmax at position p with a confidence that grows with p, so the
// low-confidence sampler commits right to left.
func positionPreference(vocab int) *tableDenoiser {
	return &tableDenoiser{vocab: vocab, fill: func(ids, att []int64, pos int, out []float32) {
		for v := range out {
			out[v] = 0
		}
		out[4+pos%(vocab-4)] = float32(pos) * 0.5
	}}
}

func TestLowConfidenceOrderAndCounts(t *testing.T) {
	den := positionPreference(32)
	c := testContract(32)
	steps, committed := collect(t, den, c, [][]int{{5, 6}}, GenerateConfig{GenLength: 8, Steps: 4})
	require.Len(t, steps, 4)
	assert.Equal(t, 4, den.calls)
	// Two tokens per step, highest confidence (largest position) first.
	assert.Equal(t, [][]int{{8, 9}, {6, 7}, {4, 5}, {2, 3}}, committed)
	final := steps[len(steps)-1].Canvas
	assert.Equal(t, []int{5, 6, 6, 7, 8, 9, 10, 11, 12, 13}, final)
	assert.Equal(t, 4, steps[3].NFE)
}

func TestTiesBreakToLowestIndex(t *testing.T) {
	den := &tableDenoiser{vocab: 8, fill: func(ids, att []int64, pos int, out []float32) {
		for v := range out {
			out[v] = 0
		}
		out[5] = 3 // same confidence everywhere
	}}
	_, committed := collect(t, den, testContract(8), [][]int{{4}}, GenerateConfig{GenLength: 6, Steps: 3})
	assert.Equal(t, [][]int{{1, 2}, {3, 4}, {5, 6}}, committed)
}

func TestBlocksAreSemiAutoregressive(t *testing.T) {
	den := positionPreference(32)
	_, committed := collect(t, den, testContract(32), [][]int{{5}}, GenerateConfig{GenLength: 8, BlockLength: 4, Steps: 4})
	// Block 1 (positions 1..4) is finished before block 2 starts, although later positions are more confident.
	assert.Equal(t, [][]int{{3, 4}, {1, 2}, {7, 8}, {5, 6}}, committed)
}

func TestGuidanceBatchesCondAndUncond(t *testing.T) {
	// Conditional rows see the prompt token 7 and prefer token 9; unconditional rows see masks and prefer 10.
	den := guidanceDenoiser()
	c := testContract(16)
	steps, _ := collect(t, den, c, [][]int{{7}}, GenerateConfig{GenLength: 2, Steps: 2, CFGScale: 1})
	require.Equal(t, 2, den.last.Rows, "cond and uncond go through one batched forward")
	assert.Equal(t, int64(c.MaskID), den.last.IDs[den.last.Seq], "the unconditional row masks the prompt")
	// Mixed: token 9 = 1 + 2*(2-1) = 3, token 10 = 1.5 + 2*(1-1.5) = 0.5.
	assert.Equal(t, []int{7, 9, 9}, steps[1].Canvas)
	assert.Equal(t, 2, steps[1].NFE)
	assert.Equal(t, []float32{3}, func() []float32 {
		cond, un := []float32{2}, []float32{1}
		mixGuidance(cond, un, 1)
		return cond
	}())
}

func TestLeftPaddingAndAttention(t *testing.T) {
	den := positionPreference(32)
	c := testContract(32)
	steps, _ := collect(t, den, c, [][]int{{5, 6, 7}, {8}}, GenerateConfig{GenLength: 2, Steps: 1})
	last := steps[len(steps)-1]
	assert.Equal(t, 3, last.PromptLen)
	assert.Equal(t, []int{5, 6, 7, 7, 8, c.PadID, c.PadID, 8, 7, 8}, last.Canvas)
	assert.Equal(t, []int64{1, 1, 1, 1, 1, 0, 0, 1, 1, 1}, den.last.Attention)
}

func TestEqualLengthPromptsSendNoAttention(t *testing.T) {
	den := positionPreference(32)
	collect(t, den, testContract(32), [][]int{{5}, {6}}, GenerateConfig{GenLength: 2, Steps: 1})
	assert.Empty(t, den.last.Attention)
}

func TestEOSSwitches(t *testing.T) {
	c := testContract(16)
	eosEverywhere := func() *tableDenoiser {
		return &tableDenoiser{vocab: 16, fill: func(ids, att []int64, pos int, out []float32) {
			for v := range out {
				out[v] = 0
			}
			out[c.EOSID] = 5
			out[6] = float32(pos) // second best, more confident at later positions
		}}
	}
	_, committed := collect(t, eosEverywhere(), c, [][]int{{4}}, GenerateConfig{GenLength: 3, Steps: 3, SuppressEOS: true})
	steps, _ := collect(t, eosEverywhere(), c, [][]int{{4}}, GenerateConfig{GenLength: 3, Steps: 3, SuppressEOS: true})
	assert.Equal(t, []int{4, 6, 6, 6}, steps[2].Canvas, "EOS is never proposed")
	assert.Equal(t, [][]int{{3}, {2}, {1}}, committed)

	// DeferEOS: EOS is still proposed but with zero confidence, so it is committed after real tokens.
	den := &tableDenoiser{vocab: 16, fill: func(ids, att []int64, pos int, out []float32) {
		for v := range out {
			out[v] = 0
		}
		if pos == 1 {
			out[c.EOSID] = 9
		} else {
			out[6] = 1
		}
	}}
	_, committed = collect(t, den, c, [][]int{{4}}, GenerateConfig{GenLength: 3, Steps: 3, DeferEOS: true})
	assert.Equal(t, [][]int{{2}, {3}, {1}}, committed)
}

func TestBadLogits(t *testing.T) {
	for name, bad := range map[string]float32{"NaN": float32(math.NaN()), "+Inf": float32(math.Inf(1))} {
		t.Run(name, func(t *testing.T) {
			den := &tableDenoiser{vocab: 8, fill: func(ids, att []int64, pos int, out []float32) {
				for v := range out {
					out[v] = 0
				}
				if pos == 2 {
					out[3] = bad
				}
			}}
			var err error
			for _, e := range Stream(context.Background(), den, testContract(8), [][]int{{4}}, GenerateConfig{GenLength: 2, Steps: 2}) {
				if e != nil {
					err = e
				}
			}
			require.ErrorIs(t, err, ErrBadLogits)
			assert.Contains(t, err.Error(), "position 2")
		})
	}
	allNegInf := &tableDenoiser{vocab: 8, fill: func(ids, att []int64, pos int, out []float32) {
		for v := range out {
			out[v] = float32(math.Inf(-1))
		}
	}}
	var err error
	for _, e := range Stream(context.Background(), allNegInf, testContract(8), [][]int{{4}}, GenerateConfig{GenLength: 1, Steps: 1}) {
		err = e
	}
	require.ErrorIs(t, err, ErrBadLogits)
}

func TestNegInfLogitsAreAllowed(t *testing.T) {
	den := &tableDenoiser{vocab: 8, fill: func(ids, att []int64, pos int, out []float32) {
		for v := range out {
			out[v] = float32(math.Inf(-1))
		}
		out[5] = 1
	}}
	steps, _ := collect(t, den, testContract(8), [][]int{{4}}, GenerateConfig{GenLength: 2, Steps: 2})
	assert.Equal(t, []int{4, 5, 5}, steps[1].Canvas)
}

func TestGenerationErrors(t *testing.T) {
	den := positionPreference(32)
	c := testContract(32)
	c.MaxSeqLen = 8
	for _, tc := range []struct {
		name    string
		prompts [][]int
		cfg     GenerateConfig
		want    string
	}{
		{"too long", [][]int{{5, 5, 5, 5}}, GenerateConfig{GenLength: 8}, "exceeds the model's max_seq_len 8"},
		{"no prompts", nil, GenerateConfig{GenLength: 2}, "no prompts"},
		{"id out of range", [][]int{{99}}, GenerateConfig{GenLength: 2}, "outside the vocabulary"},
		{"bad config", [][]int{{5}}, GenerateConfig{GenLength: 3, BlockLength: 2}, "block_length"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			for _, e := range Stream(context.Background(), den, c, tc.prompts, tc.cfg) {
				err = e
			}
			require.ErrorIs(t, err, ErrInvalidConfig)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestCancelledContextStopsBetweenSteps(t *testing.T) {
	den := positionPreference(32)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	var err error
	for _, e := range Stream(ctx, den, testContract(32), [][]int{{5}}, GenerateConfig{GenLength: 8, Steps: 8}) {
		if e != nil {
			err = e
			break
		}
		n++
		if n == 2 {
			cancel()
		}
	}
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 2, n)
	assert.Equal(t, 2, den.calls, "no forward pass after cancellation")
}

func TestLogitsShift(t *testing.T) {
	// The model's output at position p predicts token 4+p; under the shift convention position p reads p-1.
	den := &tableDenoiser{vocab: 32, fill: func(ids, att []int64, pos int, out []float32) {
		for v := range out {
			out[v] = 0
		}
		out[4+pos] = 1
	}}
	c := testContract(32)
	c.LogitsShift = true
	steps, _ := collect(t, den, c, [][]int{{9}}, GenerateConfig{GenLength: 3, Steps: 1})
	assert.Equal(t, []int{9, 4, 5, 6}, steps[0].Canvas)
}

func TestTemperatureIsSeeded(t *testing.T) {
	den := &tableDenoiser{vocab: 64, fill: func(ids, att []int64, pos int, out []float32) {
		for v := range out {
			out[v] = float32(v%7) * 0.1
		}
	}}
	c := testContract(64)
	cfg := GenerateConfig{GenLength: 16, Steps: 4, Temperature: 1, Seed: 42}
	a, _ := collect(t, den, c, [][]int{{5}}, cfg)
	b, _ := collect(t, den, c, [][]int{{5}}, cfg)
	assert.Equal(t, a[len(a)-1].Canvas, b[len(b)-1].Canvas)
	cfg.Seed = 43
	d, _ := collect(t, den, c, [][]int{{5}}, cfg)
	assert.NotEqual(t, a[len(a)-1].Canvas, d[len(d)-1].Canvas)
}

func TestStreamStopsWhenConsumerBreaks(t *testing.T) {
	den := positionPreference(32)
	for range Stream(context.Background(), den, testContract(32), [][]int{{5}}, GenerateConfig{GenLength: 8, Steps: 8}) {
		break
	}
	assert.Equal(t, 1, den.calls)
}

func TestForwardErrorIsWrapped(t *testing.T) {
	boom := errors.New("boom")
	den := &errDenoiser{err: boom}
	var err error
	for _, e := range Stream(context.Background(), den, testContract(8), [][]int{{4}}, GenerateConfig{GenLength: 2, Steps: 2}) {
		err = e
	}
	require.ErrorIs(t, err, boom)
	assert.Contains(t, err.Error(), "forward pass 1")
}

type errDenoiser struct{ err error }

func (d *errDenoiser) VocabSize() int                                  { return 8 }
func (d *errDenoiser) Forward(context.Context, Batch, []float32) error { return d.err }
