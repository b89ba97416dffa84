package llada

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// plainDenoiser hides every optional capability of the denoiser it wraps.
type plainDenoiser struct{ Denoiser }

// TestLogitsReuseNeedsDeterministic: an unchanged canvas reuses the last forward pass only for a denoiser
// that declares itself Deterministic; any other runs again.
func TestLogitsReuseNeedsDeterministic(t *testing.T) {
	for _, tc := range []struct {
		name  string
		wrap  func(*patternDenoiser) Denoiser
		calls int
	}{
		{"deterministic", func(d *patternDenoiser) Denoiser { return d }, 1},
		{"no capability", func(d *patternDenoiser) Denoiser { return plainDenoiser{d} }, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inner := &patternDenoiser{vocab: 16}
			g, err := newGeneration(tc.wrap(inner), testContract(16), [][]int{{5}}, GenerateConfig{GenLength: 4, Steps: 4})
			require.NoError(t, err)
			g.collectWork(1, 5, false)
			require.NoError(t, g.forward(context.Background()))
			require.NoError(t, g.forward(context.Background()))
			assert.Equal(t, tc.calls, inner.calls)
			assert.Equal(t, tc.calls, g.nfe)
		})
	}
}

// holdingDenoiser records the buffers passed to Forward and released through BufferHolder.
type holdingDenoiser struct {
	*patternDenoiser
	mu       sync.Mutex
	forward  map[*float32]bool
	released map[*float32]bool
}

func (d *holdingDenoiser) Forward(ctx context.Context, in Batch, logits []float32) error {
	d.mu.Lock()
	d.forward[unsafe.SliceData(logits)] = true
	d.mu.Unlock()
	return d.patternDenoiser.Forward(ctx, in, logits)
}

func (d *holdingDenoiser) ReleaseBuffer(logits []float32) {
	d.mu.Lock()
	d.released[unsafe.SliceData(logits)] = true
	d.mu.Unlock()
}

// TestGenerationReleasesLogits: however a generation ends (completed, broken off by the caller, failed), the
// denoiser is told to drop the logits buffer it was given.
func TestGenerationReleasesLogits(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, tc := range []struct {
		name  string
		ctx   context.Context
		steps int // steps to consume before breaking; -1: all
	}{
		{"complete", context.Background(), -1},
		{"break", context.Background(), 1},
		{"cancelled mid-way", cancelled, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &holdingDenoiser{patternDenoiser: &patternDenoiser{vocab: 16}, forward: map[*float32]bool{}, released: map[*float32]bool{}}
			n := 0
			for _, err := range Stream(tc.ctx, d, testContract(16), [][]int{{5}}, GenerateConfig{GenLength: 8, Steps: 8, CFGScale: 1}) {
				if err != nil {
					break
				}
				n++
				if n == 2 && tc.ctx == cancelled {
					cancel()
				}
				if n == tc.steps {
					break
				}
			}
			require.Len(t, d.forward, 1, "one logits buffer per generation")
			assert.Equal(t, d.forward, d.released)
		})
	}
}

// closableDenoiser fails Forward once closed, like the ONNX session, and counts calls.
type closableDenoiser struct {
	*patternDenoiser
	closed bool
}

func (d *closableDenoiser) Close() error { d.closed = true; return nil }

func (d *closableDenoiser) Forward(ctx context.Context, in Batch, logits []float32) error {
	if d.closed {
		return errors.New("backend used after close")
	}
	return d.patternDenoiser.Forward(ctx, in, logits)
}

// TestCloseFailsGenerations: Close does not wait; a generation in flight fails at its next step with
// ErrClosed, without touching the closed backend, and so does one started after Close.
func TestCloseFailsGenerations(t *testing.T) {
	den := &closableDenoiser{patternDenoiser: &patternDenoiser{vocab: 16}}
	m, err := New(den, wordTokenizer(16), testContract(16))
	require.NoError(t, err)
	m.closer = den
	cfg := GenerateConfig{GenLength: 8, Steps: 8}
	steps := 0
	var last error
	for _, err := range m.Stream(context.Background(), [][]int{{5}}, cfg) {
		if err != nil {
			last = err
			break
		}
		steps++
		if steps == 3 {
			require.NoError(t, m.Close())
		}
	}
	assert.Equal(t, 3, steps)
	require.ErrorIs(t, last, ErrClosed)
	assert.Contains(t, last.Error(), "before step 3")
	assert.Equal(t, 3, den.calls, "no forward pass after Close")
	require.NoError(t, m.Close(), "closing twice is a no-op")

	_, err = m.Generate(context.Background(), "a b", cfg)
	require.ErrorIs(t, err, ErrClosed)
	assert.Equal(t, 3, den.calls)
}

// TestScoreWorkersShared: concurrent generations share one bounded pool of scoring goroutines rather than
// starting GOMAXPROCS each.
func TestScoreWorkersShared(t *testing.T) {
	const gens = 12
	s := SamplerByName("dream-entropy")
	cfg := GenerateConfig{GenLength: 32, Steps: 8, Sampler: s}
	// A vocabulary large enough for the parallel path: 32 positions x 4096 logits > parallelMin.
	sharedScoreWorkers()
	base := runtime.NumGoroutine()
	var mu sync.Mutex
	peak := 0
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < gens; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			den := &patternDenoiser{vocab: 4096}
			for _, err := range Stream(context.Background(), den, testContract(4096), [][]int{{5, 6}}, cfg) {
				if !assert.NoError(t, err) {
					return
				}
				mu.Lock()
				peak = max(peak, runtime.NumGoroutine())
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	assert.LessOrEqual(t, peak, base+gens, "only the generations' own goroutines are added (pool of %d already running)", scoreWorkers.n)
}

// byteTokenizer is a minimal Tokenizer for Model tests: each byte is one id above the specials.
type byteTokenizer struct{ vocab int }

func wordTokenizer(vocab int) Tokenizer { return byteTokenizer{vocab} }

func (b byteTokenizer) Encode(text string, _ bool) ([]int, error) {
	ids := make([]int, len(text))
	for i := range text {
		ids[i] = 4 + int(text[i])%(b.vocab-4)
	}
	return ids, nil
}

func (b byteTokenizer) Decode(ids []int, _ bool) (string, error) { return "", nil }
func (b byteTokenizer) VocabSize() int                           { return b.vocab }
func (b byteTokenizer) TokenID(string) (int, bool)               { return 0, false }

// TestScoreWorkersKeepNoScratch: once a filtering (top-p) generation ends, the process-wide scoring workers
// hold nothing sized by its vocabulary: the scratch of the shares they scored belonged to the generation. The
// live heap after GC must be back within half of one share's scratch (6 MB at this vocabulary).
func TestScoreWorkersKeepNoScratch(t *testing.T) {
	const vocab = 1 << 18 // above any other test's, so no earlier test can have left a worker this much
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(2, runtime.GOMAXPROCS(0))))
	sharedScoreWorkers()
	s := SamplerByName("dream-maskgit-plus")
	s.TopP = 0.9
	cfg := GenerateConfig{GenLength: 8, Steps: 4, Temperature: 1, Sampler: s, Seed: 1}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	den := &patternDenoiser{vocab: vocab}
	steps := 0
	for _, err := range Stream(context.Background(), den, testContract(vocab), [][]int{{5, 6}}, cfg) {
		require.NoError(t, err)
		steps++
	}
	require.Equal(t, 4, steps)
	runtime.GC()
	runtime.ReadMemStats(&after)
	scratch := int64(vocab) * int64(unsafe.Sizeof(entry{}))
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	assert.Less(t, grown, scratch/2, "the live heap grew by %d bytes after the generation (one share's scratch is %d)", grown, scratch)
}
