package llada

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// poisonWindow is a WindowDenoiser over a plain one that fills every position outside the window with NaN,
// so a sampler that read logits the generator did not ask for would fail with ErrBadLogits (or differ).
type poisonWindow struct {
	Denoiser
	passes, narrow int // window passes, and those narrower than the canvas
}

func (d *poisonWindow) ForwardWindow(ctx context.Context, in Batch, start, n int, logits []float32) error {
	full := make([]float32, len(logits))
	if err := d.Denoiser.Forward(ctx, in, full); err != nil {
		return err
	}
	v := d.VocabSize()
	nan := float32(math.NaN())
	for r := range in.Rows {
		for p := range in.Seq {
			k := (r*in.Seq + p) * v
			if p >= start && p < start+n {
				copy(logits[k:k+v], full[k:k+v])
				continue
			}
			for i := k; i < k+v; i++ {
				logits[i] = nan
			}
		}
	}
	d.passes++
	if n < in.Seq {
		d.narrow++
	}
	return nil
}

// TestWindowGivesTheSameGenerations runs every preset with and without the window (CFG, two rows of
// different prompt lengths, several blocks, both logits conventions, greedy and sampled) and requires
// identical steps. Forward passes may grow by one per block: when the step before a block starts committed
// nothing, a full pass's logits serve the new block unchanged, while a window pass never computed them.
func TestWindowGivesTheSameGenerations(t *testing.T) {
	for _, shift := range []bool{false, true} {
		c := testContract(32)
		c.LogitsShift = shift
		for _, name := range SamplerNames() {
			for _, tc := range []struct {
				temp, cfgScale float64
			}{{0, 0}, {1, 0}, {0, 1.5}} {
				cfg := GenerateConfig{GenLength: 16, BlockLength: 8, Steps: 8, Temperature: tc.temp, CFGScale: tc.cfgScale,
					Sampler: SamplerByName(name), Seed: 5}
				if cfg.Validate() != nil {
					continue // a combination the preset does not take
				}
				label := fmt.Sprintf("%s/shift=%v/T=%g/cfg=%g", name, shift, tc.temp, tc.cfgScale)
				prompts := [][]int{{5, 6, 7}, {8}}
				want := runAll(t, &patternDenoiser{vocab: 32, liftStep: 1}, c, prompts, cfg)
				pw := &poisonWindow{Denoiser: &patternDenoiser{vocab: 32, liftStep: 1}}
				got := runAll(t, pw, c, prompts, cfg)
				require.Len(t, got, len(want), label)
				extra := 0
				for i := range want {
					extra = got[i].NFE - want[i].NFE
					assert.GreaterOrEqual(t, extra, 0, label)
					assert.LessOrEqual(t, extra, want[i].Block+1, label)
					got[i].NFE = want[i].NFE
				}
				require.Equal(t, want, got, label)
				assert.Positive(t, pw.narrow, "%s: some passes were narrower than the canvas", label)
			}
		}
	}
}

func TestLogitsWindowRange(t *testing.T) {
	g := &generation{seq: 10}
	g.work = []int{13, 4, 15} // rows of 10: positions 3, 4, 5
	lo, hi, ok := g.logitsWindow()
	assert.Equal(t, []any{3, 6, true}, []any{lo, hi, ok})
	g.c.LogitsShift = true // position p reads the logits at p-1
	lo, hi, ok = g.logitsWindow()
	assert.Equal(t, []any{2, 5, true}, []any{lo, hi, ok})
	g.work = []int{0, 9}
	g.c.LogitsShift = false
	_, _, ok = g.logitsWindow()
	assert.False(t, ok, "the whole canvas: a plain pass")
	g.work = nil
	_, _, ok = g.logitsWindow()
	assert.False(t, ok)
}

// TestSpreadWindow moves packed windows into the full layout for shapes where a row's destination overlaps its
// own source or a later row's source, and checks every window value lands and nothing else is read.
func TestSpreadWindow(t *testing.T) {
	for _, tc := range []struct{ rows, seq, start, n, v int }{
		{2, 5, 0, 5, 3}, // the whole canvas: nothing moves
		{3, 5, 0, 2, 2}, // windows at the row starts
		{3, 5, 1, 3, 2}, // row 1's destination overlaps its own packed source
		{4, 6, 5, 1, 3}, // last position only
		{2, 4, 2, 2, 1},
	} {
		t.Run(fmt.Sprintf("%+v", tc), func(t *testing.T) {
			logits := make([]float32, tc.rows*tc.seq*tc.v)
			for i := range logits {
				logits[i] = -1
			}
			val := func(r, p, k int) float32 { return float32(1000*r + 10*p + k) }
			for r := range tc.rows {
				for p := range tc.n {
					for k := range tc.v {
						logits[(r*tc.n+p)*tc.v+k] = val(r, tc.start+p, k)
					}
				}
			}
			spreadWindow(logits, tc.rows, tc.seq, tc.start, tc.n, tc.v)
			for r := range tc.rows {
				for p := tc.start; p < tc.start+tc.n; p++ {
					for k := range tc.v {
						require.Equal(t, val(r, p, k), logits[(r*tc.seq+p)*tc.v+k], "row %d position %d id %d", r, p, k)
					}
				}
			}
		})
	}
}
