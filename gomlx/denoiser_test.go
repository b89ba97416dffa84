package gomlx

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/llada-go/llada"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSigmoidLowering checks the rewritten Sigmoid against float64 math over extreme inputs
// (testdata/sigmoid.onnx: logits = Sigmoid(id*scale + bias), see make_testdata.py).
func TestSigmoidLowering(t *testing.T) {
	d, err := Open(filepath.Join("testdata", "sigmoid.onnx"))
	require.NoError(t, err)
	defer d.Close()
	require.Equal(t, 1, d.Lowered())
	bias := []float64{-100, -20, -1, 0, 1, 20, 100, 0}
	scale := []float64{0, 0, 0, 0, 0, 0, 0, 0.75}
	b := llada.Batch{Rows: 1, Seq: 8, IDs: []int64{0, 1, 2, 3, 4, 5, 6, 7}}
	got := make([]float32, 8*8)
	require.NoError(t, d.Forward(t.Context(), b, got))
	for p, id := range b.IDs {
		for v := range 8 {
			x := float64(id)*scale[v] + bias[v]
			want := 1 / (1 + math.Exp(-x))
			assert.InDelta(t, want, got[p*8+v], 1e-7, "sigmoid(%g)", x)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	for _, tc := range []struct {
		name, path, want string
		opts             []Option
	}{
		{"unsupported op", filepath.Join("testdata", "unsupported.onnx"),
			`onnx-gomlx cannot convert these ops of the model: Selu (1 nodes, e.g. "the_selu")`, nil},
		{"ids int32", filepath.Join("..", "testdata", "onnx", "bad_ids_int32.onnx"), `input "input_ids": want int64 of rank 2`, nil},
		{"no logits", filepath.Join("..", "testdata", "onnx", "bad_no_logits.onnx"), `no "logits" output`, nil},
		{"fp16 logits", filepath.Join("..", "testdata", "onnx", "bad_logits_fp16.onnx"), `unsupported/unknown ONNX data type FLOAT16`, nil},
		{"extra input", filepath.Join("..", "testdata", "onnx", "bad_extra_input.onnx"), `unexpected input`, nil},
		{"missing file", filepath.Join("testdata", "nope.onnx"), "no such file", nil},
		{"not onnx", filepath.Join("testdata", "make_testdata.py"), "parsing ONNX model", nil},
		{"zero shapes", testModels["tiny"], "WithMaxShapes(0)", []Option{WithMaxShapes(0)}},
		{"plugin on cpu", testModels["tiny"], "takes no plugin", []Option{WithPJRTPlugin("/x/pjrt.so")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Open(tc.path, tc.opts...)
			require.Error(t, err)
			require.Nil(t, d)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestForwardBadInput(t *testing.T) {
	d := gomlxModel(t, "tiny")
	nomask := gomlxModel(t, "tiny_nomask")
	ok := llada.Batch{Rows: 1, Seq: 2, IDs: []int64{3, 4}}
	logits := make([]float32, 2*d.VocabSize())
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name   string
		d      *Denoiser
		ctx    context.Context
		b      llada.Batch
		logits []float32
		want   string
	}{
		{"zero rows", d, t.Context(), llada.Batch{Seq: 2}, logits, "rows=0 seq=2"},
		{"short ids", d, t.Context(), llada.Batch{Rows: 1, Seq: 3, IDs: []int64{1}}, logits, "len(ids)=1"},
		{"id too large", d, t.Context(), llada.Batch{Rows: 1, Seq: 2, IDs: []int64{3, 50}}, logits, "ids[1]=50 is outside the vocabulary"},
		{"negative id", d, t.Context(), llada.Batch{Rows: 1, Seq: 2, IDs: []int64{-1, 0}}, logits, "ids[0]=-1"},
		{"attention length", d, t.Context(), llada.Batch{Rows: 1, Seq: 2, IDs: ok.IDs, Attention: []int64{1}}, logits, "len(attention)=1"},
		{"attention value", d, t.Context(), llada.Batch{Rows: 1, Seq: 2, IDs: ok.IDs, Attention: []int64{1, 2}}, logits, "attention[1]=2"},
		{"padding without mask input", nomask, t.Context(), llada.Batch{Rows: 1, Seq: 2, IDs: ok.IDs, Attention: []int64{0, 1}}, logits, "cannot ignore padded positions"},
		{"logits size", d, t.Context(), ok, logits[:5], "len(logits)=5"},
		{"cancelled", d, cancelled, ok, logits, "forward not started"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.d.Forward(tc.ctx, tc.b, tc.logits)
			require.ErrorContains(t, err, tc.want)
		})
	}
	require.ErrorIs(t, d.Forward(cancelled, ok, logits), context.Canceled)
}

// TestForwardInterrupted: a deadline that passes while the graph runs returns at once, wrapping the
// context's error, and the denoiser stays usable.
func TestForwardInterrupted(t *testing.T) {
	d := gomlxModel(t, "brown")
	b := llada.Batch{Rows: 4, Seq: 64, IDs: make([]int64, 4*64)}
	logits := make([]float32, len(b.IDs)*d.VocabSize())
	require.NoError(t, d.Forward(t.Context(), b, logits)) // compiles [4,64] outside the deadline
	ctx, cancel := context.WithTimeout(t.Context(), time.Millisecond)
	defer cancel()
	err := d.Forward(ctx, b, logits)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorContains(t, err, "forward interrupted")
	require.NoError(t, d.Forward(t.Context(), b, logits))
}

// TestShapeCache: executables are cached per shape, bounded by WithMaxShapes, and an evicted shape still
// computes the same logits when it comes back.
func TestShapeCache(t *testing.T) {
	d, err := Open(testModels["tiny"], WithMaxShapes(2))
	require.NoError(t, err)
	defer d.Close()
	run := func(seq int) []float32 {
		b := llada.Batch{Rows: 1, Seq: seq, IDs: make([]int64, seq)}
		for i := range b.IDs {
			b.IDs[i] = int64(i % d.VocabSize())
		}
		out := make([]float32, seq*d.VocabSize())
		require.NoError(t, d.Forward(t.Context(), b, out))
		return out
	}
	first := run(4)
	run(4)
	require.Equal(t, 1, d.cache.len())
	run(5)
	run(6)
	require.Equal(t, 2, d.cache.len())
	require.Nil(t, d.cache.get(shapeKey{kind: kindLogits, rows: 1, seq: 4}), "the least recently used shape is dropped")
	require.Equal(t, first, run(4))
}

func TestClose(t *testing.T) {
	d, err := Open(testModels["tiny"])
	require.NoError(t, err)
	b := llada.Batch{Rows: 1, Seq: 2, IDs: []int64{1, 2}}
	out := make([]float32, 2*d.VocabSize())
	require.NoError(t, d.Forward(t.Context(), b, out))
	require.NoError(t, d.Close())
	require.NoError(t, d.Close(), "Close is idempotent")
	require.ErrorContains(t, d.Forward(t.Context(), b, out), "closed")
}

func TestContractAndMetadata(t *testing.T) {
	d := gomlxModel(t, "tiny")
	c, err := d.Contract()
	require.NoError(t, err)
	assert.Equal(t, 49, c.MaskID)
	assert.Equal(t, 50, c.VocabSize)
	meta := d.Metadata()
	assert.Equal(t, "unknown keys must survive", meta["test.note"])
	meta["test.note"] = "changed"
	assert.Equal(t, "unknown keys must survive", d.Metadata()["test.note"], "Metadata returns a copy")
	assert.Equal(t, DeviceCPU, d.Device())
	assert.Contains(t, d.Backend(), "go")
	_, statErr := os.Stat(testModels["brown"])
	require.False(t, errors.Is(statErr, os.ErrNotExist), "the brown model is part of the repository")
}

func TestSignature(t *testing.T) {
	d := gomlxModel(t, "tiny")
	require.Len(t, d.Inputs(), 2)
	assert.Equal(t, "input_ids int64 [?,?]", d.Inputs()[0].String())
	assert.Equal(t, "attention_mask int64 [?,?]", d.Inputs()[1].String())
	assert.Equal(t, "logits float32 [?,?,50]", d.Outputs()[0].String())
}

// TestExternalData: weights in a file beside model.onnx (how ONNX stores models above 2 GB) load and give
// the same logits as the self-contained model.
func TestExternalData(t *testing.T) {
	d, err := Open(filepath.Join("testdata", "external", "model.onnx"))
	require.NoError(t, err)
	defer d.Close()
	ref := gomlxModel(t, "tiny")
	b := llada.Batch{Rows: 1, Seq: 6, IDs: []int64{2, 9, 17, 49, 49, 3}}
	got := make([]float32, 6*50)
	want := make([]float32, 6*50)
	require.NoError(t, d.Forward(t.Context(), b, got))
	require.NoError(t, ref.Forward(t.Context(), b, want))
	require.Equal(t, want, got)

	data, err := os.ReadFile(filepath.Join("testdata", "external", "model.onnx"))
	require.NoError(t, err)
	_, err = OpenBytes(data)
	require.ErrorContains(t, err, "open it by path")
	_, err = Open(filepath.Join("testdata", "escape.onnx"))
	require.ErrorContains(t, err, `external data location "../outside.bin" must be a file beside the model`)
}

// TestConcurrentForward: goroutines sharing a Denoiser, on two shapes compiled concurrently, each get the
// logits of a sequential run (run under -race in CI).
func TestConcurrentForward(t *testing.T) {
	d, err := Open(testModels["tiny"])
	require.NoError(t, err)
	defer d.Close()
	batches := []llada.Batch{
		{Rows: 1, Seq: 5, IDs: []int64{1, 2, 3, 4, 5}},
		{Rows: 2, Seq: 3, IDs: []int64{9, 8, 7, 6, 5, 4}, Attention: []int64{0, 1, 1, 1, 1, 1}},
	}
	want := make([][]float32, len(batches))
	for i, b := range batches {
		want[i] = make([]float32, b.Rows*b.Seq*d.VocabSize())
		require.NoError(t, gomlxModel(t, "tiny").Forward(t.Context(), b, want[i]))
	}
	errs := make(chan error, 8)
	got := make([][]float32, 8)
	for g := range 8 {
		go func() {
			b := batches[g%2]
			got[g] = make([]float32, b.Rows*b.Seq*d.VocabSize())
			errs <- d.Forward(t.Context(), b, got[g])
		}()
	}
	for range 8 {
		require.NoError(t, <-errs)
	}
	for g := range 8 {
		require.Equal(t, want[g%2], got[g], "goroutine %d", g)
	}
}
