package onnx

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSignatureLogitsWindow(t *testing.T) {
	ins := []TensorInfo{{InputIDs, "int64", []int64{-1, -1}}, {LogitsWindow, "int64", []int64{2}}}
	outs := []TensorInfo{{Logits, "float32", []int64{-1, -1, 64}}}
	sig, err := validateSignature(ins, outs)
	require.NoError(t, err)
	assert.True(t, sig.hasWindow)
	assert.False(t, sig.hasMask)

	ins[1] = TensorInfo{LogitsWindow, "int32", []int64{2}}
	_, err = validateSignature(ins, outs)
	require.ErrorContains(t, err, `input "logits_window": want int64 of rank 1`)

	sig, err = validateSignature(ins[:1], outs)
	require.NoError(t, err)
	assert.False(t, sig.hasWindow, "a model without the input has no window")
}
