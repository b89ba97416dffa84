package llada

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tinyModelDir copies testdata/tiny (a random vocab-50 model with a WordLevel tokenizer; see its README) into
// a temporary directory that a test may damage.
func tinyModelDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{ModelFile, TokenizerFile} {
		b, err := os.ReadFile(filepath.Join("testdata", "tiny", f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), b, 0o644))
	}
	return dir
}

func openTiny(t testing.TB) *Model {
	t.Helper()
	m, err := Open(tinyModelDir(t))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, m.Close()) })
	return m
}

func TestOpenAndGenerate(t *testing.T) {
	m := openTiny(t)
	assert.Equal(t, 49, m.Contract().MaskID)
	res, err := m.Generate(context.Background(), "w5 w6 w7", GenerateConfig{GenLength: 8, Steps: 8, BlockLength: 4})
	require.NoError(t, err)
	require.Len(t, res.Sequences, 1)
	s := res.Sequences[0]
	assert.Equal(t, 3, s.PromptLen)
	assert.Equal(t, []int{5, 6, 7}, s.IDs[:3])
	assert.Len(t, s.IDs, 11)
	assert.NotContains(t, s.IDs, 49, "no mask survives")
	assert.Equal(t, 8, res.NFE)
	assert.Equal(t, 8, res.Steps)

	again, err := m.Generate(context.Background(), "w5 w6 w7", GenerateConfig{GenLength: 8, Steps: 8, BlockLength: 4})
	require.NoError(t, err)
	assert.Equal(t, s.IDs, again.Sequences[0].IDs, "greedy decoding is deterministic")
}

func TestGenerateBatchMatchesSingleRows(t *testing.T) {
	m := openTiny(t)
	cfg := GenerateConfig{GenLength: 4, Steps: 4}
	batch, err := m.GenerateIDs(context.Background(), [][]int{{5, 6, 7, 8}, {9, 10}}, cfg)
	require.NoError(t, err)
	require.Len(t, batch.Sequences, 2)
	assert.Equal(t, 2, batch.Sequences[1].PromptLen)
	assert.Equal(t, []int{9, 10}, batch.Sequences[1].IDs[:2], "padding is stripped from the result")
	// The unpadded row is unaffected by its neighbour.
	single, err := m.GenerateIDs(context.Background(), [][]int{{5, 6, 7, 8}}, cfg)
	require.NoError(t, err)
	assert.Equal(t, single.Sequences[0].IDs, batch.Sequences[0].IDs)
}

func TestModelConcurrentUse(t *testing.T) {
	m := openTiny(t)
	cfg := GenerateConfig{GenLength: 6, Steps: 3}
	want, err := m.GenerateIDs(context.Background(), [][]int{{5, 6}}, cfg)
	require.NoError(t, err)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := m.GenerateIDs(context.Background(), [][]int{{5, 6}}, cfg)
			if err == nil && fmt.Sprint(got.Sequences[0].IDs) != fmt.Sprint(want.Sequences[0].IDs) {
				err = fmt.Errorf("concurrent result %v differs from %v", got.Sequences[0].IDs, want.Sequences[0].IDs)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

func TestOpenErrors(t *testing.T) {
	t.Run("missing directory", func(t *testing.T) {
		_, err := Open(filepath.Join(t.TempDir(), "nope"))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "model directory")
	})
	t.Run("missing tokenizer", func(t *testing.T) {
		dir := tinyModelDir(t)
		require.NoError(t, os.Remove(filepath.Join(dir, TokenizerFile)))
		_, err := Open(dir)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "tokenizer")
	})
	t.Run("not an onnx file", func(t *testing.T) {
		dir := tinyModelDir(t)
		require.NoError(t, os.WriteFile(filepath.Join(dir, ModelFile), []byte("this is not a protobuf"), 0o644))
		_, err := Open(dir)
		require.Error(t, err)
		assert.Contains(t, err.Error(), ModelFile)
	})
	t.Run("truncated onnx file", func(t *testing.T) {
		dir := tinyModelDir(t)
		b, err := os.ReadFile(filepath.Join(dir, ModelFile))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, ModelFile), b[:len(b)/2], 0o644))
		_, err = Open(dir)
		require.Error(t, err)
	})
	t.Run("no contract metadata", func(t *testing.T) {
		dir := tinyModelDir(t)
		b, err := os.ReadFile(filepath.Join("testdata", "onnx", "gather_dynvocab.onnx"))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, ModelFile), b, 0o644))
		_, err = Open(dir)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "llada.")
	})
}

func TestGenerateRejectsBadInput(t *testing.T) {
	m := openTiny(t)
	ctx := context.Background()
	_, err := m.Generate(ctx, "w5", GenerateConfig{GenLength: 40})
	require.ErrorIs(t, err, ErrInvalidConfig)
	assert.Contains(t, err.Error(), "max_seq_len 32")

	_, err = m.Generate(ctx, "w5 \xff", GenerateConfig{GenLength: 4})
	require.Error(t, err, "invalid UTF-8 is refused, not tokenized into garbage")

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = m.Generate(cancelled, "w5", GenerateConfig{GenLength: 4})
	require.ErrorIs(t, err, context.Canceled)
}

// TestThreadSpinningDefault: Open passes ONNX Runtime "no spinning" unless WithThreadSpinning(true) says
// otherwise (see WithThreadSpinning for the measurements), and the caller's choice is the one applied last.
func TestThreadSpinningDefault(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []Option
		want bool
	}{
		{"default off", nil, false},
		{"turned on", []Option{WithThreadSpinning(true)}, true},
		{"last setting wins", []Option{WithThreadSpinning(true), WithIntraOpThreads(2), WithThreadSpinning(false)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := applyOptions(tc.opts)
			assert.Equal(t, tc.want, o.spin)
			require.NotEmpty(t, o.onnx, "the spinning option is passed to onnx")
		})
	}
}
