package llada

import (
	"context"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGuidanceFormsAgainstHandComputation(t *testing.T) {
	cond, uncond := []float32{2, -1, 0.5}, []float32{1, 1, 0.5}
	mix := func(g Guidance) []float32 {
		out := append([]float32(nil), cond...)
		mixGuidance(out, uncond, g.Strength(0, 0))
		return out
	}
	// LLaDA: uncond + (s+1)(cond-uncond), s = 2: 1+3*1 = 4, 1+3*(-2) = -5, 0.5.
	assert.Equal(t, []float32{4, -5, 0.5}, mix(Guidance{Scale: 2}))
	// Weight: w*cond + (1-w)*uncond, w = 3: 6-2 = 4, -3-2 = -5, 0.5; w = 0.5: 1.5, 0, 0.5; w = 1: cond.
	assert.Equal(t, []float32{4, -5, 0.5}, mix(Guidance{Scale: 3, Form: GuidanceWeight}))
	assert.Equal(t, []float32{1.5, 0, 0.5}, mix(Guidance{Scale: 0.5, Form: GuidanceWeight}))
	assert.Equal(t, cond, mix(Guidance{Scale: 1, Form: GuidanceWeight}))
	assert.Equal(t, cond, mix(Guidance{}))
	assert.Equal(t, uncond, mix(Guidance{Scale: 0, Form: GuidanceWeight}), "w = 0 is the unconditional model")
}

func TestGuidanceSchedulesAtTheirEndpoints(t *testing.T) {
	for _, tc := range []struct {
		g             Guidance
		at0, mid, at1 float64
	}{
		{Guidance{Scale: 2}, 2, 2, 2},
		{Guidance{Scale: 2, Schedule: GuidanceConstant}, 2, 2, 2},
		{Guidance{Scale: 2, Schedule: GuidanceRampUp}, 0, 1, 2},
		{Guidance{Scale: 2, Schedule: GuidanceRampDown}, 2, 1, 0},
		{Guidance{Scale: 3, Form: GuidanceWeight, Schedule: GuidanceRampUp}, 0, 1, 2},
		{Guidance{Scale: 2, Schedule: GuidanceInterval, Start: 0, End: 0.5}, 2, 0, 0},
		{Guidance{Scale: 2, Schedule: GuidanceInterval, Start: 0.5, End: 1}, 0, 2, 2},
		{Guidance{Scale: 2, Schedule: GuidanceInterval, Start: 0.25, End: 0.75}, 0, 2, 0},
	} {
		assert.InDelta(t, tc.at0, tc.g.Strength(0, 0), 1e-12, "%+v at 0", tc.g)
		assert.InDelta(t, tc.mid, tc.g.Strength(0, 0.5), 1e-12, "%+v at 0.5", tc.g)
		assert.InDelta(t, tc.at1, tc.g.Strength(0, 1), 1e-12, "%+v at 1", tc.g)
	}
	rows := Guidance{Scale: 9, RowScales: []float64{0, 1.5}}
	assert.Equal(t, 0.0, rows.Strength(0, 0))
	assert.Equal(t, 1.5, rows.Strength(1, 0))
}

// TestGuidanceIntervalInTheStepLoop: with w = 0 (the unconditional model) on the second half of the
// generation only, the first two tokens follow the conditional model (9) and the last two the unconditional
// one (10). Progress before step i of 4 is i/4.
func TestGuidanceIntervalInTheStepLoop(t *testing.T) {
	den := guidanceDenoiser()
	c := testContract(16)
	g := Guidance{Form: GuidanceWeight, Scale: 0, Schedule: GuidanceInterval, Start: 0.5, End: 1}
	rows := &rowCounter{Denoiser: den}
	steps := runAll(t, rows, c, [][]int{{7}}, GenerateConfig{GenLength: 4, Steps: 4, Guidance: g})
	assert.Equal(t, []int{7, 9, 9, 10, 10}, steps[len(steps)-1].Canvas)
	assert.Equal(t, []int{1, 1, 2, 2}, rows.rows, "the unconditional half runs only inside the interval")
	assert.Equal(t, 4, steps[len(steps)-1].NFE)
	// The same with ramp-down: full strength (uncond) at first, none at the end. w-1 = -1 times 1-p: at
	// p=0 pure uncond (10); at p=0.25 the mix is 0.25*cond+0.75*uncond: 9: 1.25, 10: 1.375 -> 10; at p=0.5:
	// 9: 1.5, 10: 1.25 -> 9; p=0.75: 9.
	g = Guidance{Form: GuidanceWeight, Scale: 0, Schedule: GuidanceRampDown}
	steps = runAll(t, den, c, [][]int{{7}}, GenerateConfig{GenLength: 4, Steps: 4, Guidance: g})
	assert.Equal(t, []int{7, 10, 10, 9, 9}, steps[len(steps)-1].Canvas)
}

func TestGuidancePerRowScale(t *testing.T) {
	den := guidanceDenoiser()
	c := testContract(16)
	g := Guidance{Form: GuidanceWeight, RowScales: []float64{1, 0}}
	steps := runAll(t, den, c, [][]int{{7}, {7}}, GenerateConfig{GenLength: 2, Steps: 2, Guidance: g})
	last := steps[len(steps)-1]
	assert.Equal(t, []int{7, 9, 9, 7, 10, 10}, last.Canvas, "row 0 unguided (w=1), row 1 unconditional (w=0)")
}

func TestGuidanceNegativePrompt(t *testing.T) {
	// The unconditional rows carry the negative prompt, left-padded to the longest prompt.
	den := &tableDenoiser{vocab: 16, fill: func(ids, att []int64, pos int, out []float32) {
		for v := range out {
			out[v] = 0
		}
		switch {
		case ids[len(ids)-3] == 8: // the negative prompt ends with 8
			out[9], out[10] = 2, 0
		default:
			out[9], out[10] = 2, 1.9
		}
	}}
	c := testContract(16)
	cfg := GenerateConfig{GenLength: 2, Steps: 2, Guidance: Guidance{Scale: 1, NegativeIDs: [][]int{{4, 8}}}}
	steps := runAll(t, den, c, [][]int{{7}}, cfg)
	last := steps[len(steps)-1]
	// Mixed: 9 = 2 + 2*(2-2) = 2, 10 = 0 + 2*(1.9-0) = 3.8: guidance away from the negative prompt flips 9 to 10.
	assert.Equal(t, []int{c.PadID, 7, 10, 10}, last.Canvas)
	require.Equal(t, 2, den.last.Rows)
	assert.Equal(t, []int64{int64(c.PadID), 7, 10, 0, 4, 8, 10, 0}, den.last.IDs, "the last pass, before the last commit")
	assert.Equal(t, []int64{0, 1, 1, 1, 1, 1, 1, 1}, den.last.Attention)
}

func TestGuidanceBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  GenerateConfig
		want string
	}{
		{"both", GenerateConfig{CFGScale: 1, Guidance: Guidance{Scale: 2}}, "both set"},
		{"form", GenerateConfig{Guidance: Guidance{Scale: 1, Form: "cfg++"}}, `form "cfg++" is unknown`},
		{"schedule", GenerateConfig{Guidance: Guidance{Scale: 1, Schedule: "cosine"}}, `schedule "cosine" is unknown`},
		{"interval", GenerateConfig{Guidance: Guidance{Scale: 1, Schedule: GuidanceInterval, Start: 0.5, End: 0.5}}, "0 <= start < end <= 1"},
		{"start without interval", GenerateConfig{Guidance: Guidance{Scale: 1, Start: 0.2}}, "only apply to the \"interval\""},
		{"negative llada", GenerateConfig{Guidance: Guidance{Scale: -1}}, "s >= 0"},
		{"negative weight", GenerateConfig{Guidance: Guidance{Scale: -1, Form: GuidanceWeight}}, "w >= 0"},
		{"row NaN", GenerateConfig{Guidance: Guidance{RowScales: []float64{1, math.NaN()}}}, "row 1 scale NaN"},
		{"empty negative", GenerateConfig{Guidance: Guidance{Scale: 1, NegativeIDs: [][]int{{}}}}, "negative prompt 0 is empty"},
	} {
		err := tc.cfg.Validate()
		require.ErrorIs(t, err, ErrInvalidConfig, tc.name)
		assert.Contains(t, err.Error(), tc.want, tc.name)
	}
	c := testContract(16)
	for _, tc := range []struct {
		name string
		g    Guidance
		want string
	}{
		{"row count", Guidance{RowScales: []float64{1, 2, 3}}, "3 row scales for 2 rows"},
		{"negative count", Guidance{Scale: 1, NegativeIDs: [][]int{{4}, {4}, {4}}}, "3 negative prompts for 2 rows"},
		{"negative id", Guidance{Scale: 1, NegativeIDs: [][]int{{99}}}, "id 99 outside the vocabulary"},
	} {
		var err error
		for _, e := range Stream(context.Background(), guidanceDenoiser(), c, [][]int{{7}, {7}}, GenerateConfig{GenLength: 2, Guidance: tc.g}) {
			err = e
		}
		require.ErrorIs(t, err, ErrInvalidConfig, tc.name)
		assert.Contains(t, err.Error(), tc.want, tc.name)
	}
}

// rowCounter records the rows of every forward pass.
type rowCounter struct {
	Denoiser
	rows []int
}

func (r *rowCounter) Forward(ctx context.Context, in Batch, logits []float32) error {
	r.rows = append(r.rows, in.Rows)
	return r.Denoiser.Forward(ctx, in, logits)
}
