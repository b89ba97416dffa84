package onnx

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestContinuousSignature(t *testing.T) {
	good := []TensorInfo{{XT, "float32", []int64{-1, -1, 8}}, {Timestep, "float32", []int64{-1, -1}},
		{SelfCond, "float32", []int64{-1, -1, 8}}, {AttentionMask, "int64", []int64{-1, -1}}}
	outs := []TensorInfo{{Logits, "float32", []int64{-1, -1, 64}}}
	sig, err := validateContinuousSignature(good, outs)
	require.NoError(t, err)
	assert.Equal(t, continuousSignature{dim: 8, vocab: 64, timestepRank: 2, hasSelfCond: true, hasMask: true}, sig)

	// contract v1 validation sends continuous graphs to OpenContinuous
	_, err = validateSignature(good, outs)
	require.ErrorIs(t, err, ErrContinuousModel)

	for _, tc := range []struct {
		name      string
		ins, outs []TensorInfo
		want      string
	}{
		{"x_t float16", []TensorInfo{{XT, "float16", []int64{-1, -1, 8}}, good[1]}, outs, `input "x_t": want float32 of rank [3], got float16`},
		{"timestep rank 3", []TensorInfo{good[0], {Timestep, "float32", []int64{-1, -1, 1}}}, outs, `input "timestep": want float32 of rank [1 2]`},
		{"no timestep", good[:1], outs, `missing required input "timestep"`},
		{"extra input", append([]TensorInfo{{"cond", "float32", []int64{-1}}}, good...), outs, `unsupported required input "cond"`},
		{"no logits", good, []TensorInfo{{X0, "float32", []int64{-1, -1, 8}}}, `missing required output "logits"`},
		{"logits int", good, []TensorInfo{{Logits, "int64", []int64{-1, -1, 64}}}, `output "logits": want float32`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := validateContinuousSignature(tc.ins, tc.outs)
			assert.ErrorContains(t, err, tc.want)
		})
	}
}
