package llada

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadDistill(t *testing.T) {
	full := map[string]string{
		"llada.family":      "continuous",
		DistillMethodKey:    "progressive",
		DistillTeacherKey:   "continuous sha256:3304b0bf475ebb83",
		DistillSamplerKey:   "ddim",
		DistillStepsKey:     "4",
		DistillGenLengthKey: "32",
		DistillSeedKey:      "1",
		DistillRoundsKey:    "3",
	}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range full {
			m[a] = b
		}
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		name     string
		meta     map[string]string
		want     *Distill
		problems []string
	}{
		{"no keys", map[string]string{"llada.family": "masked"}, nil, nil},
		{"full", full, &Distill{Method: "progressive", Teacher: "continuous sha256:3304b0bf475ebb83", Sampler: "ddim",
			Steps: 4, GenLength: 32, Seed: "1", Rounds: 3}, nil},
		{"masked sampler name", with(DistillSamplerKey, "fast-dllm-threshold"), nil, nil},
		{"unknown method", with(DistillMethodKey, "consistency"), nil,
			[]string{`llada.distill.method = "consistency" is not a method this build knows (sdtt, certainty-forcing, progressive)`}},
		{"missing method", with(DistillMethodKey, ""), nil, []string{"llada.distill.method is missing"}},
		{"unknown sampler", with(DistillSamplerKey, "ddim2"), nil, []string{`llada.distill.sampler = "ddim2" is not a sampler this build knows`}},
		{"bad steps and rounds", func() map[string]string { m := with(DistillStepsKey, "four"); m[DistillRoundsKey] = "0"; return m }(), nil,
			[]string{`llada.distill.rounds = "0" is not a positive integer`, `llada.distill.steps = "four" is not a positive integer`}},
		{"bad teacher hash", with(DistillTeacherKey, "continuous sha256:33"), nil,
			[]string{`llada.distill.teacher = "continuous sha256:33": want NAME sha256:<16 hex digits>`}},
		{"bad seed", with(DistillSeedKey, "x"), nil, []string{`llada.distill.seed = "x" is not an integer`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ReadDistill(tc.meta)
			if tc.want == nil && tc.problems == nil && tc.name == "no keys" {
				assert.Nil(t, got)
				return
			}
			require.NotNil(t, got)
			if tc.want != nil {
				assert.Equal(t, tc.want, got)
			}
			assert.Equal(t, tc.problems, got.Problems)
		})
	}
}

// TestReadDistillFromContract: ParseContract keeps the llada.distill.* keys in Extra, so a model opened by the
// runtime yields its provenance and runs like any model of its family.
func TestReadDistillFromContract(t *testing.T) {
	meta := map[string]string{"llada.contract": "1", "llada.family": "masked", "llada.vocab_size": "50",
		"llada.mask_token_id": "49", "llada.eos_token_id": "1", "llada.pad_token_id": "0", "llada.max_seq_len": "64",
		"llada.logits_shift": "0", DistillMethodKey: "sdtt", DistillStepsKey: "8", DistillSamplerKey: "llada-low-confidence"}
	c, err := ParseContract(meta)
	require.NoError(t, err)
	d := ReadDistill(c.Extra)
	require.NotNil(t, d)
	assert.Equal(t, Distill{Method: "sdtt", Sampler: "llada-low-confidence", Steps: 8}, *d)
}
