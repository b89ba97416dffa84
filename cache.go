package llada

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/llada-go/llada/onnx"
)

// CacheMode selects Fast-dLLM's KV caches for block-wise decoding (Wu et al. 2025, NVlabs/Fast-dLLM
// llada/generate.py, generate_with_prefix_cache and generate_with_dual_cache). The first pass of every block is
// a full "refresh" that rebuilds the cache and whose logits drive that step's commits; the block's later passes
// recompute only part of the canvas against the cached keys and values of the rest:
//
//   - CachePrefix recomputes [block start, seq): the prompt and the decoded blocks come from the cache.
//   - CacheDual recomputes the block alone: the prefix and the still-masked suffix come from the cache.
//
// Both are approximations of the uncached sampler (the cached keys were computed when the block held other
// tokens), as in Fast-dLLM; outputs may differ from CacheNone. The zero value is CacheNone.
type CacheMode int

const (
	CacheNone CacheMode = iota
	CachePrefix
	CacheDual
)

var cacheNames = []string{"none", "prefix", "dual"}

// String is the name the CLI and JSON use: none, prefix or dual.
func (m CacheMode) String() string {
	if m >= 0 && int(m) < len(cacheNames) {
		return cacheNames[m]
	}
	return fmt.Sprintf("CacheMode(%d)", int(m))
}

// ParseCacheMode reads none, prefix or dual ("" is none).
func ParseCacheMode(s string) (CacheMode, error) {
	if s == "" {
		return CacheNone, nil
	}
	if i := slices.Index(cacheNames, s); i >= 0 {
		return CacheMode(i), nil
	}
	return CacheNone, fmt.Errorf("%w: cache %q is unknown (want %s)", ErrInvalidConfig, s, strings.Join(cacheNames, ", "))
}

// MarshalText writes the mode's name, so JSON carries "prefix" rather than a number.
func (m CacheMode) MarshalText() ([]byte, error) {
	if m < 0 || int(m) >= len(cacheNames) {
		return nil, fmt.Errorf("llada: %v is not a cache mode", m)
	}
	return []byte(m.String()), nil
}

// UnmarshalText reads a name written by MarshalText.
func (m *CacheMode) UnmarshalText(b []byte) error {
	v, err := ParseCacheMode(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// CachedDenoiser is an optional Denoiser capability: a network that keeps the keys and values of a canvas
// (the KV-cache extension of docs/contract.md) and computes a contiguous window of positions against them.
// GenerateConfig.Cache needs it.
type CachedDenoiser interface {
	Denoiser
	// SupportsCache reports whether the network serves mode (a cached ONNX file lists its modes in
	// llada.kv_cache).
	SupportsCache(mode CacheMode) bool
	// NewCache allocates the cache of one generation over rows × seq canvases. The step loop closes it when
	// the generation ends.
	NewCache(rows, seq int) (DenoiserCache, error)
	// ForwardCached computes positions [start, start+n) of every row of in against cache and writes their
	// logits at their places in the full [Rows, Seq, VocabSize()] layout (the rest of logits is undefined
	// afterwards). start = 0, n = Seq is a refresh: the same logits as Forward, and the cache rebuilt from in.
	// Any other window reads the cache outside the window, as the last refresh left it, and replaces the
	// window's entries: so a window pass depends on the last refresh's canvas and its own only.
	ForwardCached(ctx context.Context, cache DenoiserCache, in Batch, start, n int, logits []float32) error
}

// DenoiserCache is the per-generation state of a CachedDenoiser.
type DenoiserCache interface {
	Close() error
}

// validateCache checks what GenerateConfig.Cache needs from the rest of the config (the model is checked by
// newGeneration): a block-wise sampler of the kind Fast-dLLM caches, on canvases the cache can hold.
func (c GenerateConfig) validateCache(s Sampler) error {
	if c.Cache == CacheNone {
		return nil
	}
	if c.Cache < 0 || int(c.Cache) >= len(cacheNames) {
		return fmt.Errorf("cache mode %d is unknown (want none, prefix or dual)", int(c.Cache))
	}
	switch {
	case c.guidance().enabled():
		return fmt.Errorf("cache %s: classifier-free guidance runs an unconditional batch that the cache does not hold "+
			"(Fast-dLLM's cached decoding has no guidance)", c.Cache)
	case c.Constraint != nil:
		return fmt.Errorf("cache %s: constrained decoding is not supported with a KV cache", c.Cache)
	case s.EditThreshold > 0:
		return fmt.Errorf("cache %s: token editing (sampler %q) rewrites decoded tokens, which Fast-dLLM's block cache does not allow for", c.Cache, s.Name)
	case s.ReMDM != ReMDMNone:
		return fmt.Errorf("cache %s: ReMDM remasking (sampler %q) is not a Fast-dLLM block sampler", c.Cache, s.Name)
	}
	switch s.Transfer {
	case TransferQuota, TransferThreshold, TransferFactor, TransferEntropyBound, TransferThresholdOrQuota:
	default:
		return fmt.Errorf("cache %s: transfer %q (sampler %q) is not a block-wise confidence rule; the KV cache follows "+
			"Fast-dLLM's block loop (llada-low-confidence, llada-random, fast-dllm-threshold, fast-dllm-factor, eb, llada2)",
			c.Cache, s.Transfer, s.Name)
	}
	return nil
}

// initCache checks the model side of GenerateConfig.Cache: the denoiser must be a CachedDenoiser serving the
// mode, with the unshifted logits of the LLaDA architecture (a shifted model reads position p's logits at
// p-1, outside a window that starts at the block), and no prompt may hold the mask id (Fast-dLLM's cached
// passes see only the block, so a mask before it would never be decoded).
func (g *generation) initCache() error {
	mode := g.cfg.Cache
	if mode == CacheNone {
		return nil
	}
	cd, ok := g.den.(CachedDenoiser)
	if !ok || !cd.SupportsCache(mode) {
		return fmt.Errorf("%w: cache %s: the model has no KV cache for it (a cached export advertises llada.kv_cache; see docs/contract.md)",
			ErrInvalidConfig, mode)
	}
	if g.c.LogitsShift {
		return fmt.Errorf("%w: cache %s: the model shifts its logits (llada.logits_shift = 1), which the block window cannot serve", ErrInvalidConfig, mode)
	}
	mask := int64(g.c.MaskID)
	for j, id := range g.canvas {
		if p := j % g.seq; p < g.promptLen && id == mask && (g.attention == nil || g.attention[j] != 0) {
			return fmt.Errorf("%w: cache %s: prompt %d holds the mask id at position %d; cached passes decode the block only",
				ErrInvalidConfig, mode, j/g.seq, p)
		}
	}
	g.kv = &cacheState{den: cd, lo: -1}
	return nil
}

// cacheState is the generation's side of the KV cache.
type cacheState struct {
	den   CachedDenoiser
	cache DenoiserCache // made at the first pass, closed when the generation ends
	lo    int           // the block the cache was refreshed for, -1 when it must be refreshed
	blkLo int           // the block being decoded: [blkLo, blkHi)
	blkHi int
}

func (k *cacheState) close() error {
	if k == nil || k.cache == nil {
		return nil
	}
	err := k.cache.Close()
	k.cache = nil
	return err
}

// forwardCached is forward under a KV cache: the first pass of a block refreshes the cache over the whole
// canvas; later passes compute [block start, seq) (prefix) or the block (dual) against it. An unchanged
// canvas reuses the last pass's logits as forward does: a cached pass over the same canvas with the same
// cache computes the same logits.
func (g *generation) forwardCached(ctx context.Context) error {
	k := g.kv
	refresh := k.lo != k.blkLo
	if !refresh && g.reuse && g.haveLogits && slices.Equal(g.canvas, g.lastIDs) {
		return nil
	}
	if k.cache == nil {
		c, err := k.den.NewCache(g.rows, g.seq)
		if err != nil {
			return fmt.Errorf("llada: KV cache for [%d,%d]: %w", g.rows, g.seq, err)
		}
		k.cache = c
	}
	start, n := 0, g.seq
	if !refresh {
		start = k.blkLo
		n = g.seq - start
		if g.cfg.Cache == CacheDual {
			n = k.blkHi - start
		}
		// The step's positions must lie in the window: a mask before the block (none: prompts are checked and
		// earlier blocks end full) would read stale logits.
		if lo, hi, _ := g.logitsWindow(); len(g.work) > 0 && (lo < start || hi > start+n) {
			return fmt.Errorf("llada: cache %s: step reads positions [%d,%d) outside the window [%d,%d)", g.cfg.Cache, lo, hi, start, start+n)
		}
	}
	in := Batch{IDs: g.canvas, Attention: g.attention, Rows: g.rows, Seq: g.seq}
	g.winLo, g.winHi = 0, 0
	if err := k.den.ForwardCached(ctx, k.cache, in, start, n, g.logits); err != nil {
		g.haveLogits = false
		k.lo = -1
		if errors.Is(err, onnx.ErrClosed) {
			err = fmt.Errorf("%w: %w", ErrClosed, err)
		}
		kind := "refresh"
		if !refresh {
			kind = g.cfg.Cache.String()
		}
		return fmt.Errorf("llada: forward pass %d (%s, window [%d,%d)): %w", g.nfe+1, kind, start, start+n, err)
	}
	if refresh {
		k.lo = k.blkLo
	}
	g.winLo, g.winHi = start, start+n
	g.nfe++
	copy(g.lastIDs, g.canvas)
	g.haveLogits = true
	clear(g.mixed)
	return nil
}

// onnxCachedDenoiser is the ONNX Runtime denoiser of a model with the KV-cache extension. Its Forward (a
// refresh on a pooled cache, in package onnx) serves every sampler; ForwardCached serves GenerateConfig.Cache.
type onnxCachedDenoiser struct {
	onnxDenoiser
	modes []CacheMode
}

func newONNXCachedDenoiser(d onnxDenoiser) *onnxCachedDenoiser {
	info, _ := d.s.KVCache()
	c := &onnxCachedDenoiser{onnxDenoiser: d}
	for _, m := range info.Modes {
		if mode, err := ParseCacheMode(m); err == nil && mode != CacheNone {
			c.modes = append(c.modes, mode)
		}
	}
	return c
}

func (d *onnxCachedDenoiser) SupportsCache(mode CacheMode) bool {
	return slices.Contains(d.modes, mode)
}

func (d *onnxCachedDenoiser) NewCache(rows, seq int) (DenoiserCache, error) {
	return d.s.NewKVCache(rows, seq)
}

func (d *onnxCachedDenoiser) ForwardCached(ctx context.Context, cache DenoiserCache, in Batch, start, n int, logits []float32) error {
	c, ok := cache.(*onnx.KVCache)
	if !ok {
		return fmt.Errorf("llada: forward cached: cache %T was not made by this denoiser", cache)
	}
	return d.s.ForwardCached(ctx, c, in.IDs, in.Attention, start, n, logits)
}

var (
	_ CachedDenoiser = (*onnxCachedDenoiser)(nil)
	_ Deterministic  = (*onnxCachedDenoiser)(nil)
	_ BufferHolder   = (*onnxCachedDenoiser)(nil)
)
