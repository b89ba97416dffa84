package llada

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestZeroKnobs: a knob listed in Sampler.Zero keeps a literal 0 instead of its default, also over a preset
// resolved by name; unlisted zeros still take defaults; a listed zero outside a knob's range is an error.
func TestZeroKnobs(t *testing.T) {
	eb := SamplerByName("eb")
	eb.Gamma = 0
	assert.Equal(t, 0.1, eb.withDefaults().Gamma, "0 without its bit is the default")
	eb.Zero = KnobGamma
	assert.Equal(t, 0.0, eb.withDefaults().Gamma)

	rc := SamplerByName("remdm-cap")
	rc.Eta = 0
	assert.Equal(t, 0.04, rc.withDefaults().Eta)
	rc.Zero = KnobEta
	assert.Equal(t, 0.0, rc.withDefaults().Eta)

	edit := SamplerByName("llada2-edit")
	edit.MaxPostSteps = 0
	assert.Equal(t, 16, edit.withDefaults().MaxPostSteps)
	edit.Zero = KnobMaxPostSteps
	assert.Equal(t, 0, edit.withDefaults().MaxPostSteps)

	// By name: the listed zero replaces the preset's value; a non-zero value ignores the bit.
	s, err := Sampler{Name: "remdm-cap", Zero: KnobEta}.resolve()
	require.NoError(t, err)
	assert.Equal(t, 0.0, s.Eta)
	s, err = Sampler{Name: "remdm-cap"}.resolve()
	require.NoError(t, err)
	assert.Equal(t, 0.04, s.Eta)
	s, err = Sampler{Name: "remdm-cap", Eta: 0.5, Zero: KnobEta}.resolve()
	require.NoError(t, err)
	assert.Equal(t, 0.5, s.Eta)

	for _, tc := range []struct {
		s    Sampler
		want string
	}{
		{Sampler{Name: "fast-dllm-threshold", Zero: KnobThreshold}, "threshold (tau) 0"},
		{Sampler{Name: "fast-dllm-factor", Zero: KnobFactor}, "factor 0"},
		{Sampler{Name: "mdlm", Zero: KnobEps}, "eps 0"},
		{Sampler{Name: "remdm-loop", Zero: KnobAlphaOn}, "alpha_on 0"},
	} {
		err := GenerateConfig{Sampler: tc.s}.Validate()
		require.ErrorIs(t, err, ErrInvalidConfig)
		assert.Contains(t, err.Error(), tc.want)
	}
	require.NoError(t, GenerateConfig{Sampler: Sampler{Name: "eb", Zero: KnobGamma}}.Validate())
}

// TestZeroEtaTurnsRemaskingOff: ReMDM with eta = 0 (listed in Zero) never remasks; with its default it does.
func TestZeroEtaTurnsRemaskingOff(t *testing.T) {
	remasks := func(s Sampler) int {
		n := 0
		cfg := GenerateConfig{GenLength: 32, Steps: 64, Temperature: 1, Seed: 3, Sampler: s}
		for st, err := range Stream(context.Background(), &patternDenoiser{vocab: 16}, testContract(16), [][]int{{5}}, cfg) {
			require.NoError(t, err)
			for _, r := range st.Remasked {
				n += len(r)
			}
		}
		return n
	}
	s := SamplerByName("remdm-rescale")
	assert.Positive(t, remasks(s))
	s.Eta, s.Zero = 0, KnobEta
	assert.Zero(t, remasks(s))
}

// TestOnlyMaskKeptError: a top-k filter that keeps only the mask token is reported as such, not as bad logits.
func TestOnlyMaskKeptError(t *testing.T) {
	c := testContract(8)
	den := &tableDenoiser{vocab: 8, fill: func(ids, att []int64, pos int, out []float32) {
		for v := range out {
			out[v] = 0
		}
		out[c.MaskID] = 5 // the mask token is the favourite
	}}
	s := SamplerByName("dream-entropy")
	s.TopK = 1
	var err error
	for _, e := range Stream(context.Background(), den, c, [][]int{{4}}, GenerateConfig{GenLength: 2, Steps: 2, Sampler: s}) {
		if e != nil {
			err = e
		}
	}
	require.ErrorIs(t, err, ErrBadLogits)
	assert.Contains(t, err.Error(), "kept only the mask token")
	assert.NotContains(t, err.Error(), "NaN")
}
