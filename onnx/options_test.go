//go:build cgo

package onnx

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOptions(t *testing.T) {
	cases := []struct {
		name string
		opts []Option
		want config
		err  string
	}{
		{"zero", nil, config{}, ""},
		{"nil option ignored", []Option{nil}, config{}, ""},
		{"all set", []Option{WithLibraryPath("/x.so"), WithIntraOpThreads(3),
			WithGraphOptimization(GraphOptimizationBasic), WithCUDA(1)},
			config{libraryPath: "/x.so", intraThreads: 3, optimization: GraphOptimizationBasic, cuda: true, cudaDevice: 1}, ""},
		{"cuda device 0", []Option{WithCUDA(0)}, config{cuda: true}, ""},
		{"no spinning", []Option{WithThreadSpinning(false)}, config{noSpin: true}, ""},
		{"spinning is the default", []Option{WithThreadSpinning(true)}, config{}, ""},
		{"negative threads", []Option{WithIntraOpThreads(-1)}, config{}, "WithIntraOpThreads(-1)"},
		{"bad level", []Option{WithGraphOptimization(GraphOptimization(9))}, config{}, "unknown graph optimisation level 9"},
		{"negative device", []Option{WithCUDA(-2)}, config{}, "WithCUDA(-2): device id must be non-negative"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := newConfig(c.opts)
			if c.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), c.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
		})
	}
	assert.Equal(t, "all", GraphOptimization(0).String(), "the zero value is the runtime default")
	assert.Equal(t, "extended", GraphOptimizationExtended.String())
}

// TestSessionOptionsApplied checks what can be read back from ORT's session options.
func TestSessionOptionsApplied(t *testing.T) {
	lib := requireLibrary(t)
	shared(t, "tiny.onnx")
	for _, spin := range []bool{true, false} {
		c, err := newConfig([]Option{WithThreadSpinning(spin), WithIntraOpThreads(2)})
		require.NoError(t, err)
		so, err := sessionOptions(c, lib)
		require.NoError(t, err)
		has, err := so.HasSessionConfigEntry("session.intra_op.allow_spinning")
		require.NoError(t, err)
		assert.Equal(t, !spin, has)
		if has {
			v, err := so.GetSessionConfigEntry("session.intra_op.allow_spinning")
			require.NoError(t, err)
			assert.Equal(t, "0", v)
		}
		require.NoError(t, so.Destroy())
	}
}

func TestOptionErrorsReachOpen(t *testing.T) {
	_, err := Open(modelPath("tiny.onnx"), WithIntraOpThreads(-4))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "WithIntraOpThreads(-4)")
}

// TestCUDAUnavailable: the installed library is CPU-only, so WithCUDA must fail clearly, not fall back silently.
func TestCUDAUnavailable(t *testing.T) {
	lib := requireLibrary(t)
	s, err := Open(modelPath("tiny.onnx"), WithCUDA(0))
	require.Error(t, err)
	assert.Nil(t, s)
	assert.Contains(t, err.Error(), "CUDA execution provider unavailable")
	assert.Contains(t, err.Error(), "has no CUDA EP")
	assert.Contains(t, err.Error(), lib)
}

func TestValidateSignature(t *testing.T) {
	ids := TensorInfo{"input_ids", "int64", []int64{-1, -1}}
	mask := TensorInfo{"attention_mask", "int64", []int64{-1, -1}}
	logits := TensorInfo{"logits", "float32", []int64{-1, -1, 128}}
	cases := []struct {
		name     string
		ins, out []TensorInfo
		want     signature
		errs     []string
	}{
		{"minimal", []TensorInfo{ids}, []TensorInfo{logits}, signature{vocab: 128}, nil},
		{"mask and extra outputs", []TensorInfo{mask, ids}, []TensorInfo{{"hidden", "float32", []int64{-1, -1, 8}}, logits},
			signature{hasMask: true, vocab: 128}, nil},
		{"dynamic vocab", []TensorInfo{ids}, []TensorInfo{{"logits", "float32", []int64{-1, -1, -1}}}, signature{}, nil},
		{"nothing", nil, nil, signature{}, []string{`missing required input "input_ids"`, "the model has inputs (none)",
			`missing required output "logits"`}},
		{"every problem at once", []TensorInfo{{"input_ids", "int32", []int64{-1}}, {"attention_mask", "bool", []int64{-1, -1}},
			{"past", "float32", []int64{-1}}}, []TensorInfo{{"logits", "sequence", nil}}, signature{},
			[]string{`input "input_ids": want int64 of rank 2, got int32 of rank 1`,
				`input "attention_mask": want int64 of rank 2, got bool of rank 2`,
				`unsupported required input "past"`,
				`output "logits": want float32 of rank 3, got sequence of rank 0`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := validateSignature(c.ins, c.out)
			if c.errs == nil {
				require.NoError(t, err)
				assert.Equal(t, c.want, got)
				return
			}
			require.Error(t, err)
			for _, e := range c.errs {
				assert.Contains(t, err.Error(), e)
			}
		})
	}
}
