//go:build cgo

package onnx

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	ort "github.com/yalue/onnxruntime_go"
)

// TestGraphSignatureMatchesORT checks the protobuf signature reader against ONNX Runtime's own report for
// every model in the repository (the test models, including the contract-breaking ones, and the shipped ones).
func TestGraphSignatureMatchesORT(t *testing.T) {
	_, err := ensureEnvironment("")
	require.NoError(t, err)
	paths, err := filepath.Glob(filepath.Join("..", "testdata", "onnx", "*.onnx"))
	require.NoError(t, err)
	more, err := filepath.Glob(filepath.Join("..", "models", "*", "model.onnx"))
	require.NoError(t, err)
	paths = append(append(paths, more...), filepath.Join("..", "testdata", "tiny", "model.onnx"))
	require.GreaterOrEqual(t, len(paths), 15)
	for _, p := range paths {
		t.Run(p, func(t *testing.T) {
			oi, oo, err := ort.GetInputOutputInfo(p)
			require.NoError(t, err)
			var wantIn, wantOut []TensorInfo
			for _, io := range oi {
				wantIn = append(wantIn, infoFromORT(io))
			}
			for _, io := range oo {
				wantOut = append(wantOut, infoFromORT(io))
			}
			in, out, err := readSignatureFile(p)
			require.NoError(t, err)
			assert.Equal(t, wantIn, in)
			assert.Equal(t, wantOut, out)
		})
	}
}

// TestGraphSignatureTruncated feeds every prefix of a model to the reader: each is an error or a result,
// never a panic, and cutting inside the graph is always an error.
func TestGraphSignatureTruncated(t *testing.T) {
	data, err := os.ReadFile(modelPath("tiny.onnx"))
	require.NoError(t, err)
	_, _, err = readGraphSignature(bytes.NewReader(data), int64(len(data)))
	require.NoError(t, err)
	failed := 0
	for n := 0; n < len(data); n++ {
		if _, _, err := readGraphSignature(bytes.NewReader(data[:n]), int64(n)); err != nil {
			failed++
		}
	}
	assert.Greater(t, failed, len(data)*9/10, "almost every prefix cuts the graph")
	_, _, err = readGraphSignature(bytes.NewReader([]byte("this is not a model\n")), 20)
	assert.ErrorContains(t, err, "unsupported wire type")
}
