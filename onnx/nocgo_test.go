//go:build !cgo

package onnx

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWithoutCGOEveryEntryPointSaysWhy(t *testing.T) {
	_, err := Open("model.onnx")
	require.ErrorIs(t, err, ErrNoCGO)
	_, err = OpenBytes([]byte{1})
	require.ErrorIs(t, err, ErrNoCGO)
}
