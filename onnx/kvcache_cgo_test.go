//go:build cgo

package onnx

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// kvModel is the tiny cached-graph fixture (testdata/kvcache, written by export/make_kvcache_testdata.py).
func kvModel(t testing.TB) *Session {
	t.Helper()
	requireLibrary(t)
	s, err := Open(filepath.Join("..", "testdata", "kvcache", "model.onnx"), WithIntraOpThreads(testThreads))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func kvCanvas(rows, seq, vocab int, salt int64) []int64 {
	ids := make([]int64, rows*seq)
	for i := range ids {
		ids[i] = (int64(i)*7 + salt) % int64(vocab)
	}
	return ids
}

func maxDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

func TestKVCacheOpen(t *testing.T) {
	s := kvModel(t)
	require.True(t, s.HasKVCache())
	info, ok := s.KVCache()
	require.True(t, ok)
	assert.Equal(t, []string{"prefix", "dual"}, info.Modes)
	assert.Positive(t, info.Layers)
	assert.Positive(t, info.KVHeads)
	assert.Positive(t, info.HeadDim)
	assert.Positive(t, s.VocabSize())

	plain := shared(t, "tiny.onnx")
	assert.False(t, plain.HasKVCache())
	_, err := plain.NewKVCache(1, 8)
	require.ErrorContains(t, err, "no KV-cache inputs")
}

// TestForwardCachedUnchangedCanvas: a cached pass over an unchanged canvas sees the same keys as the refresh
// did (the prefix and suffix from the cache, the window recomputed from the same tokens), so its logits equal
// the refresh's in the window; Forward on the cached file is that refresh.
func TestForwardCachedUnchangedCanvas(t *testing.T) {
	s := kvModel(t)
	V := s.VocabSize()
	for _, tc := range []struct {
		name      string
		rows, seq int
		start, n  int
		pad       int
	}{
		{"prefix one row", 1, 12, 4, 8, 0},
		{"dual one row", 1, 12, 4, 4, 0},
		{"prefix two rows padded", 2, 12, 5, 7, 2},
		{"dual two rows padded", 2, 12, 5, 3, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ids := kvCanvas(tc.rows, tc.seq, V, 3)
			var att []int64
			if tc.pad > 0 {
				att = make([]int64, len(ids))
				for r := 0; r < tc.rows; r++ {
					for p := 0; p < tc.seq; p++ {
						if r == 1 || p >= tc.pad {
							att[r*tc.seq+p] = 1
						}
					}
				}
			}
			full := make([]float32, tc.rows*tc.seq*V)
			require.NoError(t, s.Forward(context.Background(), ids, att, tc.rows, tc.seq, full))

			c, err := s.NewKVCache(tc.rows, tc.seq)
			require.NoError(t, err)
			defer c.Close()
			ref := make([]float32, len(full))
			require.NoError(t, s.ForwardCached(context.Background(), c, ids, att, 0, tc.seq, ref))
			assert.Less(t, maxDiff(full, ref), 1e-5, "Forward is a refresh")

			got := make([]float32, len(full))
			for i := range got {
				got[i] = 12345 // the window must overwrite its places; the rest is left alone for one row
			}
			require.NoError(t, s.ForwardCached(context.Background(), c, ids, att, tc.start, tc.n, got))
			for r := 0; r < tc.rows; r++ {
				lo, hi := (r*tc.seq+tc.start)*V, (r*tc.seq+tc.start+tc.n)*V
				assert.Less(t, maxDiff(got[lo:hi], ref[lo:hi]), 1e-4, "row %d window", r)
			}
			if tc.rows == 1 {
				assert.Equal(t, float32(12345), got[0], "outside the window untouched")
			}
		})
	}
}

// TestForwardCachedHistory: the cache after any sequence of window passes within a block holds the refresh's
// keys outside the window, so a pass's result depends only on the refresh canvas and its own canvas, not on
// the passes between (the buffers swap roles every pass).
func TestForwardCachedHistory(t *testing.T) {
	s := kvModel(t)
	V := s.VocabSize()
	const seq, start, n = 12, 4, 4
	base := kvCanvas(1, seq, V, 1)
	step := func(k int64) []int64 {
		ids := append([]int64(nil), base...)
		for p := start; p < start+n; p++ {
			ids[p] = (ids[p] + k) % int64(V)
		}
		return ids
	}
	run := func(passes ...[]int64) []float32 {
		c, err := s.NewKVCache(1, seq)
		require.NoError(t, err)
		defer c.Close()
		out := make([]float32, seq*V)
		require.NoError(t, s.ForwardCached(context.Background(), c, base, nil, 0, seq, out))
		for _, ids := range passes {
			require.NoError(t, s.ForwardCached(context.Background(), c, ids, nil, start, n, out))
		}
		return append([]float32(nil), out[start*V:(start+n)*V]...)
	}
	direct := run(step(5))
	after := run(step(1), step(2), step(3), step(5))
	assert.Less(t, maxDiff(direct, after), 1e-5)

	// The stale cache is visible: a full pass over the changed canvas differs from the cached one.
	full := make([]float32, seq*V)
	require.NoError(t, s.Forward(context.Background(), step(5), nil, 1, seq, full))
	assert.Greater(t, maxDiff(full[start*V:(start+n)*V], direct), 1e-4, "the cached pass read the refresh's keys, not the new canvas's")
}

func TestForwardCachedErrors(t *testing.T) {
	s := kvModel(t)
	V := s.VocabSize()
	ctx := context.Background()
	c, err := s.NewKVCache(1, 8)
	require.NoError(t, err)
	defer c.Close()
	ids := kvCanvas(1, 8, V, 0)
	logits := make([]float32, 8*V)

	err = s.ForwardCached(ctx, c, ids, nil, 2, 6, logits)
	require.ErrorContains(t, err, "needs a filled cache")
	require.NoError(t, s.ForwardCached(ctx, c, ids, nil, 0, 8, logits))
	assert.True(t, c.Filled())

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	for _, tc := range []struct {
		name    string
		run     func() error
		wantErr string
	}{
		{"nil cache", func() error { return s.ForwardCached(ctx, nil, ids, nil, 0, 8, logits) }, "nil KV cache"},
		{"other shape", func() error {
			return s.ForwardCached(ctx, c, kvCanvas(1, 9, V, 0), nil, 0, 9, make([]float32, 9*V))
		}, "made for rows*seq=1*8=8"},
		{"window out of range", func() error { return s.ForwardCached(ctx, c, ids, nil, 6, 3, logits) }, "outside the 8 positions"},
		{"empty window", func() error { return s.ForwardCached(ctx, c, ids, nil, 2, 0, logits) }, "outside the 8 positions"},
		{"short logits", func() error { return s.ForwardCached(ctx, c, ids, nil, 2, 6, logits[:V]) }, "want rows*seq*vocab"},
		{"bad attention", func() error { return s.ForwardCached(ctx, c, ids, []int64{1, 2, 1, 1, 1, 1, 1, 1}, 2, 6, logits) }, "want 0 or 1"},
		{"cancelled", func() error { return s.ForwardCached(cancelled, c, ids, nil, 2, 6, logits) }, "context canceled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorContains(t, tc.run(), tc.wantErr)
		})
	}
	assert.True(t, c.Filled(), "rejected calls leave the cache as it was")

	other := kvModel(t)
	oc, err := other.NewKVCache(1, 8)
	require.NoError(t, err)
	defer oc.Close()
	require.ErrorContains(t, s.ForwardCached(ctx, oc, ids, nil, 0, 8, logits), "another session")

	c.Invalidate()
	require.ErrorContains(t, s.ForwardCached(ctx, c, ids, nil, 2, 6, logits), "needs a filled cache")

	require.NoError(t, c.Close())
	require.NoError(t, c.Close(), "closing twice is a no-op")
	require.ErrorContains(t, s.ForwardCached(ctx, c, ids, nil, 0, 8, logits), "KV cache is closed")

	_, err = s.NewKVCache(0, 8)
	require.ErrorContains(t, err, "both must be positive")
	_, err = s.ForwardOutputs(ctx, ids, nil, 1, 8, Logits)
	require.ErrorContains(t, err, "not supported on a KV-cache model")

	require.NoError(t, s.Close())
	require.NoError(t, other.ForwardCached(ctx, oc, ids, nil, 0, 8, logits), "a cache of another open session still works")
	c2, err := other.NewKVCache(1, 8)
	require.NoError(t, err)
	defer c2.Close()
	require.NoError(t, other.Close())
	require.ErrorIs(t, other.ForwardCached(ctx, c2, ids, nil, 0, 8, logits), ErrClosed)
}

// TestForwardCachedAllocs: a steady-state cached pass (same window, same buffer) allocates only what
// onnxruntime_go's RunWithOptions does (two slices, and one small value per tensor from GetInternals: eight
// tensors), nothing on llada's side; no tensor is made and nothing is copied per step on the Go side.
func TestForwardCachedAllocs(t *testing.T) {
	s := kvModel(t)
	V := s.VocabSize()
	c, err := s.NewKVCache(1, 16)
	require.NoError(t, err)
	defer c.Close()
	ids := kvCanvas(1, 16, V, 2)
	logits := make([]float32, 16*V)
	ctx := context.Background()
	require.NoError(t, s.ForwardCached(ctx, c, ids, nil, 0, 16, logits))
	require.NoError(t, s.ForwardCached(ctx, c, ids, nil, 8, 4, logits))
	allocs := testing.AllocsPerRun(5, func() {
		if err := s.ForwardCached(ctx, c, ids, nil, 8, 4, logits); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)
}

// TestKVCachePoolsAndRelease: Forward on a cached file pools a few caches by shape (evicting the oldest), a
// released buffer is bound again on the next pass with the same results, the allocation-free binding and the
// cancellable run agree, and closing the session first leaves the caller's cache safe to close.
func TestKVCachePoolsAndRelease(t *testing.T) {
	s := kvModel(t)
	V := s.VocabSize()
	ctx := context.Background()
	for _, seq := range []int{6, 7, 8, 6} {
		logits := make([]float32, seq*V)
		require.NoError(t, s.Forward(ctx, kvCanvas(1, seq, V, 1), nil, 1, seq, logits))
	}

	c, err := s.NewKVCache(1, 10)
	require.NoError(t, err)
	ids := kvCanvas(1, 10, V, 4)
	ref := make([]float32, 10*V)
	require.NoError(t, s.ForwardCached(ctx, c, ids, nil, 0, 10, ref))
	bound := make([]float32, 10*V)
	require.NoError(t, s.ForwardCached(ctx, c, ids, nil, 3, 7, bound))
	s.ReleaseBuffer(bound)
	c.ReleaseBuffer()
	again := make([]float32, 10*V)
	require.NoError(t, s.ForwardCached(ctx, c, ids, nil, 3, 7, again))
	cancellable, cancel := context.WithCancel(ctx)
	defer cancel()
	watched := make([]float32, 10*V)
	require.NoError(t, s.ForwardCached(cancellable, c, ids, nil, 3, 7, watched))
	assert.Equal(t, again[3*V:], bound[3*V:])
	assert.Equal(t, again[3*V:], watched[3*V:])
	assert.Less(t, maxDiff(again[3*V:], ref[3*V:]), 1e-4)

	require.NoError(t, s.Close())
	require.ErrorIs(t, s.Forward(ctx, ids, nil, 1, 10, ref), ErrClosed)
	require.ErrorIs(t, s.ForwardCached(ctx, c, ids, nil, 0, 10, ref), ErrClosed)
	_, err = s.NewKVCache(1, 10)
	require.ErrorIs(t, err, ErrClosed)
	require.NoError(t, c.Close())
}
