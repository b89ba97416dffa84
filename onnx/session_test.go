//go:build cgo

package onnx

import (
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSignatureAndMetadata(t *testing.T) {
	cases := []struct {
		model   string
		inputs  []TensorInfo
		outputs []TensorInfo
		mask    bool
		vocab   int
		meta    map[string]string
	}{
		{"tiny.onnx",
			[]TensorInfo{{"input_ids", "int64", []int64{-1, -1}}, {"attention_mask", "int64", []int64{-1, -1}}},
			[]TensorInfo{{"logits", "float32", []int64{-1, -1, 50}}}, true, 50,
			map[string]string{"llada.contract": "1", "llada.family": "masked", "llada.mask_token_id": "49",
				"llada.eos_token_id": "1", "llada.pad_token_id": "0", "llada.vocab_size": "50",
				"llada.max_seq_len": "32", "llada.logits_shift": "0", "test.note": "unknown keys must survive"}},
		{"tiny_nomask.onnx",
			[]TensorInfo{{"input_ids", "int64", []int64{-1, -1}}},
			[]TensorInfo{{"logits", "float32", []int64{-1, -1, 50}}}, false, 50, nil},
		{"gather_dynvocab.onnx",
			[]TensorInfo{{"input_ids", "int64", []int64{-1, -1}}, {"attention_mask", "int64", []int64{-1, -1}}},
			[]TensorInfo{{"logits", "float32", []int64{-1, -1, -1}}}, true, 0,
			map[string]string{"llada.vocab_size": "7"}},
	}
	for _, c := range cases {
		t.Run(c.model, func(t *testing.T) {
			s := shared(t, c.model)
			assert.Equal(t, c.inputs, s.Inputs())
			assert.Equal(t, c.outputs, s.Outputs())
			assert.Equal(t, c.mask, s.HasAttentionMask())
			assert.Equal(t, c.vocab, s.VocabSize())
			if c.meta != nil {
				assert.Equal(t, c.meta, s.Metadata())
			}
			// Callers get copies: mutating them must not reach the session.
			s.Metadata()["llada.contract"] = "x"
			s.Inputs()[0].Shape[0] = 99
			assert.NotEqual(t, "x", s.Metadata()["llada.contract"])
			assert.Equal(t, int64(-1), s.Inputs()[0].Shape[0])
		})
	}
	assert.Equal(t, "logits float32 [?,?,50]", shared(t, "tiny.onnx").Outputs()[0].String())
}

// TestBadModels opens well-formed ONNX files that break the contract and checks the error names the problem.
func TestBadModels(t *testing.T) {
	requireLibrary(t)
	cases := []struct {
		file string
		want []string
	}{
		{"bad_no_input_ids.onnx", []string{`missing required input "input_ids"`, `the model has inputs "tokens"`,
			`unsupported required input "tokens"`}},
		{"bad_no_logits.onnx", []string{`missing required output "logits"`, `the model has outputs "scores"`}},
		{"bad_ids_int32.onnx", []string{`input "input_ids": want int64 of rank 2, got int32 of rank 2`}},
		{"bad_logits_fp16.onnx", []string{`output "logits": want float32 of rank 3, got float16 of rank 3`}},
		{"bad_logits_rank2.onnx", []string{`output "logits": want float32 of rank 3, got float32 of rank 2`}},
		{"bad_ids_rank3.onnx", []string{`input "input_ids": want int64 of rank 2, got int64 of rank 3`}},
		{"bad_extra_input.onnx", []string{`unsupported required input "position_ids"`}},
		{"bad_mask_float.onnx", []string{`input "attention_mask": want int64 of rank 2, got float32 of rank 2`}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			for _, open := range openers(t, modelPath(c.file)) {
				s, err := open()
				require.Error(t, err)
				require.Nil(t, s)
				assert.Contains(t, err.Error(), "model does not follow contract v1")
				for _, w := range c.want {
					assert.Contains(t, err.Error(), w)
				}
			}
		})
	}
}

// openers opens a file both ways, so every bad-input case also covers OpenBytes.
func openers(t *testing.T, path string) []func() (*Session, error) {
	return []func() (*Session, error){
		func() (*Session, error) { return Open(path, WithIntraOpThreads(testThreads)) },
		func() (*Session, error) {
			data, err := os.ReadFile(path)
			if err != nil {
				return nil, err
			}
			return OpenBytes(data, WithIntraOpThreads(testThreads))
		},
	}
}

func TestBadModelFiles(t *testing.T) {
	requireLibrary(t)
	dir := t.TempDir()
	good, err := os.ReadFile(modelPath("tiny.onnx"))
	require.NoError(t, err)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, data, 0o644))
		return p
	}
	noise := make([]byte, 4096)
	rand.New(rand.NewSource(7)).Read(noise)
	cases := []struct {
		name string
		path string
		want string
	}{
		{"missing", filepath.Join(dir, "nope.onnx"), "no such file or directory"},
		{"directory", dir, "is a directory"},
		{"empty", write("empty.onnx", nil), "is empty"},
		{"truncated", write("truncated.onnx", good[:len(good)/2]), "not a loadable ONNX model"},
		{"random bytes", write("noise.onnx", noise), "not a loadable ONNX model"},
		{"text", write("notes.onnx", []byte("this is not a model\n")), "not a loadable ONNX model"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := Open(c.path, WithIntraOpThreads(testThreads))
			require.Error(t, err)
			require.Nil(t, s)
			assert.Contains(t, err.Error(), c.want)
		})
	}
	s, err := OpenBytes(nil)
	require.Error(t, err)
	assert.Nil(t, s)
	assert.Contains(t, err.Error(), "model bytes are empty")
	for _, data := range [][]byte{good[:len(good)/2], noise} {
		s, err := OpenBytes(data, WithIntraOpThreads(testThreads))
		require.Error(t, err)
		assert.Nil(t, s)
		assert.Contains(t, err.Error(), "not a loadable ONNX model")
	}
}

func TestOpenBytesMatchesOpen(t *testing.T) {
	data, err := os.ReadFile(modelPath("tiny.onnx"))
	require.NoError(t, err)
	s, err := OpenBytes(data, WithIntraOpThreads(testThreads), WithGraphOptimization(GraphOptimizationDisabled))
	require.NoError(t, err)
	defer s.Close()
	ref := shared(t, "tiny.onnx")
	assert.Equal(t, ref.Metadata(), s.Metadata())
	ids := []int64{2, 9, 14, 30}
	want, got := make([]float32, 4*50), make([]float32, 4*50)
	require.NoError(t, ref.Forward(t.Context(), ids, nil, 2, 2, want))
	require.NoError(t, s.Forward(t.Context(), ids, nil, 2, 2, got))
	assert.InDeltaSlice(t, want, got, 1e-4, "optimised and unoptimised graphs agree")
}
