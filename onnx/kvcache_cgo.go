//go:build cgo

package onnx

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"unsafe"

	ort "github.com/yalue/onnxruntime_go"
)

// KVCache holds the cached keys and values of one canvas shape, rows × seq, for ForwardCached: two
// [layers, rows, kv_heads, seq, head_dim] buffers per tensor, one fed as past and one written as present, whose
// roles swap after every pass. Because present is past with the pass's positions replaced, the buffer just
// written is the next pass's past as it is, and no step copies the cache on the Go side.
//
// A KVCache serves one generation at a time (its methods serialise), belongs to the Session that made it, and
// must be closed to free its tensors.
type KVCache struct {
	s         *Session
	rows, seq int
	info      KVCacheInfo

	mu     sync.Mutex
	closed bool
	filled bool // a refresh succeeded and no pass failed since
	cur    int  // keys[cur], vals[cur] hold the latest present
	keys   [2]*ort.Tensor[float32]
	vals   [2]*ort.Tensor[float32]
	mask   *ort.Tensor[int64] // [rows, seq]; nil when the model has no attention_mask
	start  *ort.Tensor[int64] // [1]
	ids    []idsTensor        // input_ids [rows, q] per q seen, few: a generation uses two or three
	outs   []outTensor        // logits wrappers around caller memory, per (pointer, q)
	in     []ort.Value
	out    []ort.Value
	run    *ort.RunOptions
	watch  *watcher
	// io[p] binds the tensors of a pass whose past is buffer p, for the allocation-free run (RunWithBinding)
	// when ctx can never be cancelled (onnxruntime_go's binding run takes no run options, so it cannot be
	// terminated, while RunWithOptions allocates a few small values per call). The mask, the start and the
	// cache buffers are bound once; ids and logits are rebound when a pass uses other tensors. They belong to
	// the session: Session.Close destroys them.
	io       [2]*ort.IoBinding
	ioIDs    [2]*ort.Tensor[int64]
	ioOut    [2]*ort.Tensor[float32]
	ioFailed bool // making a binding failed once: this cache runs through RunWithOptions
}

type idsTensor struct {
	n int
	t *ort.Tensor[int64]
}

type outTensor struct {
	p *float32
	n int
	t *ort.Tensor[float32]
}

// maxCachedShapes bounds the per-cache tensor wrappers: a prefix-cache generation asks for one q per block,
// so old ones are dropped rather than kept for the whole generation.
const maxCachedShapes = 4

// HasKVCache reports whether the model has the KV-cache extension (ForwardCached and NewKVCache work).
func (s *Session) HasKVCache() bool { return s.sig.hasCache }

// KVCache returns the cache the model advertises; ok is false for a model without the extension.
func (s *Session) KVCache() (info KVCacheInfo, ok bool) {
	if !s.sig.hasCache {
		return KVCacheInfo{}, false
	}
	info = s.cacheInfo
	info.Modes = append([]string(nil), info.Modes...)
	return info, true
}

// NewKVCache allocates a cache for canvases of rows × seq tokens. Its contents are undefined until a refresh
// (ForwardCached with start 0 and n = seq) fills them.
func (s *Session) NewKVCache(rows, seq int) (*KVCache, error) {
	if !s.sig.hasCache {
		return nil, fmt.Errorf("onnx: new KV cache: the model has no KV-cache inputs (%s, see docs/contract.md)", MetaKVCache)
	}
	if rows <= 0 || seq <= 0 {
		return nil, fmt.Errorf("onnx: new KV cache: rows=%d seq=%d, both must be positive", rows, seq)
	}
	i := s.cacheInfo
	c := &KVCache{s: s, rows: rows, seq: seq, info: i}
	fail := func(err error) (*KVCache, error) {
		c.destroy()
		return nil, fmt.Errorf("onnx: new KV cache [%d,%d]: %w", rows, seq, err)
	}
	shape := ort.NewShape(int64(i.Layers), int64(rows), int64(i.KVHeads), int64(seq), int64(i.HeadDim))
	var err error
	for k := range 2 {
		if c.keys[k], err = ort.NewEmptyTensor[float32](shape); err != nil {
			return fail(err)
		}
		if c.vals[k], err = ort.NewEmptyTensor[float32](shape); err != nil {
			return fail(err)
		}
	}
	if s.sig.hasMask {
		if c.mask, err = ort.NewEmptyTensor[int64](ort.NewShape(int64(rows), int64(seq))); err != nil {
			return fail(err)
		}
	}
	if c.start, err = ort.NewEmptyTensor[int64](ort.NewShape(1)); err != nil {
		return fail(err)
	}
	if c.run, err = ort.NewRunOptions(); err != nil {
		return fail(err)
	}
	c.in = make([]ort.Value, len(s.feedName))
	c.out = make([]ort.Value, 3)
	s.poolMu.Lock()
	defer s.poolMu.Unlock()
	if s.closedPool {
		c.destroy()
		return nil, fmt.Errorf("onnx: new KV cache: %w", ErrClosed)
	}
	if s.liveCaches == nil {
		s.liveCaches = map[*KVCache]struct{}{}
	}
	s.liveCaches[c] = struct{}{}
	return c, nil
}

// destroyIO releases the cache's IoBindings (before its session is destroyed, or with the cache).
func (c *KVCache) destroyIO() {
	for p := range 2 {
		if c.io[p] != nil {
			_ = c.io[p].Destroy()
		}
		c.io[p], c.ioIDs[p], c.ioOut[p] = nil, nil, nil
	}
}

// bindingFor returns the IoBinding of a pass whose past is buffer p with idsT and out bound, or nil when
// bindings cannot be made (the pass then runs through RunWithOptions).
func (c *KVCache) bindingFor(p int, idsT *ort.Tensor[int64], out *ort.Tensor[float32]) *ort.IoBinding {
	if c.io[p] == nil {
		if c.ioFailed {
			return nil
		}
		io, err := c.s.sess.CreateIoBinding()
		if err != nil {
			c.ioFailed = true
			return nil
		}
		bind := []struct {
			name  string
			v     ort.Value
			input bool
		}{{PastKeys, c.keys[p], true}, {PastValues, c.vals[p], true}, {CacheStart, c.start, true},
			{PresentKeys, c.keys[1-p], false}, {PresentValues, c.vals[1-p], false}}
		if c.mask != nil {
			bind = append(bind, struct {
				name  string
				v     ort.Value
				input bool
			}{AttentionMask, c.mask, true})
		}
		for _, b := range bind {
			if b.input {
				err = io.BindInput(b.name, b.v)
			} else {
				err = io.BindOutput(b.name, b.v)
			}
			if err != nil {
				_ = io.Destroy()
				c.ioFailed = true
				return nil
			}
		}
		c.io[p] = io
	}
	if c.ioIDs[p] != idsT {
		if c.io[p].BindInput(InputIDs, idsT) != nil {
			c.ioIDs[p] = nil
			return nil
		}
		c.ioIDs[p] = idsT
	}
	if c.ioOut[p] != out {
		if c.io[p].BindOutput(Logits, out) != nil {
			c.ioOut[p] = nil
			return nil
		}
		c.ioOut[p] = out
	}
	return c.io[p]
}

// Rows and Seq give the canvas shape the cache was made for.
func (c *KVCache) Rows() int { return c.rows }
func (c *KVCache) Seq() int  { return c.seq }

// Filled reports whether a refresh filled the cache and no pass failed since.
func (c *KVCache) Filled() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.filled
}

// Invalidate marks the cache as empty: the next cached pass must be a refresh.
func (c *KVCache) Invalidate() {
	c.mu.Lock()
	c.filled = false
	c.mu.Unlock()
}

// Close frees the cache's tensors. Closing twice is a no-op.
func (c *KVCache) Close() error {
	c.s.poolMu.Lock()
	delete(c.s.liveCaches, c)
	c.s.poolMu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		c.destroy()
	}
	return nil
}

func (c *KVCache) destroy() {
	c.destroyIO()
	for k := range 2 {
		for _, t := range []*ort.Tensor[float32]{c.keys[k], c.vals[k]} {
			if t != nil {
				_ = t.Destroy()
			}
		}
		c.keys[k], c.vals[k] = nil, nil
	}
	for _, t := range []*ort.Tensor[int64]{c.mask, c.start} {
		if t != nil {
			_ = t.Destroy()
		}
	}
	c.mask, c.start = nil, nil
	for _, t := range c.ids {
		_ = t.t.Destroy()
	}
	c.ids = nil
	c.dropOutputs()
	if c.run != nil {
		_ = c.run.Destroy()
		c.run = nil
	}
	if c.watch != nil {
		c.watch.stop()
		c.watch = nil
	}
	c.filled = false
}

func (c *KVCache) dropOutputs() {
	for p := range 2 {
		if c.io[p] != nil && c.ioOut[p] != nil {
			c.io[p].ClearBoundOutputs()
			c.ioOut[p] = nil
			// ClearBoundOutputs drops the cache buffers too: the binding is rebuilt on its next use.
			_ = c.io[p].Destroy()
			c.io[p], c.ioIDs[p] = nil, nil
		}
	}
	for _, o := range c.outs {
		_ = o.t.Destroy()
	}
	c.outs = c.outs[:0]
}

// ReleaseBuffer drops the cache's wrappers around logits buffers, so that nothing pins the caller's memory.
func (c *KVCache) ReleaseBuffer() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropOutputs()
}

// idsFor returns the input_ids tensor of q = n positions, made on first use.
func (c *KVCache) idsFor(n int) (*ort.Tensor[int64], error) {
	for _, t := range c.ids {
		if t.n == n {
			return t.t, nil
		}
	}
	t, err := ort.NewEmptyTensor[int64](ort.NewShape(int64(c.rows), int64(n)))
	if err != nil {
		return nil, err
	}
	if len(c.ids) >= maxCachedShapes {
		_ = c.ids[0].t.Destroy()
		c.ids = append(c.ids[:0], c.ids[1:]...)
	}
	c.ids = append(c.ids, idsTensor{n: n, t: t})
	return t, nil
}

// outFor wraps dst ([rows, n, vocab] floats) as the logits output, reusing the wrapper of an earlier pass that
// wrote into the same memory (within a block every step passes the same place of the same buffer).
func (c *KVCache) outFor(dst []float32, n, vocab int) (*ort.Tensor[float32], error) {
	p := unsafe.SliceData(dst)
	for _, o := range c.outs {
		if o.p == p && o.n == n {
			return o.t, nil
		}
	}
	t, err := ort.NewTensor(ort.NewShape(int64(c.rows), int64(n), int64(vocab)), dst)
	if err != nil {
		return nil, err
	}
	if len(c.outs) >= maxCachedShapes {
		_ = c.outs[0].t.Destroy()
		c.outs = append(c.outs[:0], c.outs[1:]...)
	}
	c.outs = append(c.outs, outTensor{p: p, n: n, t: t})
	return t, nil
}

// ForwardCached runs positions [start, start+n) of every row of the rows×seq canvas ids against cache and
// writes their logits at their places in the full [rows, seq, vocab] layout of logits (the rest of logits is
// left as it was, or used as scratch when rows > 1). attention (rows×seq, or nil for all ones) masks keys.
//
// start = 0 with n = seq is a refresh: it fills the cache from scratch. Any other window reads the cache
// outside [start, start+n) and recomputes the window, Fast-dLLM's prefix pass (n = seq - start) or dual pass
// (n = the block length); the cache then holds the window's new keys and values, so a later pass over the
// same or a larger window sees the same cache outside it as the refresh left. A cached pass needs a filled
// cache of the same shape; a failed or cancelled pass empties the cache.
func (s *Session) ForwardCached(ctx context.Context, cache *KVCache, ids, attention []int64, start, n int, logits []float32) error {
	if cache == nil {
		return errors.New("onnx: forward cached: nil KV cache")
	}
	if cache.s != s {
		return errors.New("onnx: forward cached: the KV cache belongs to another session")
	}
	rows, seq := cache.rows, cache.seq
	if len(ids) != rows*seq {
		return fmt.Errorf("onnx: forward cached: len(ids)=%d, but the KV cache was made for rows*seq=%d*%d=%d",
			len(ids), rows, seq, rows*seq)
	}
	if err := s.checkFeed(ctx, ids, attention, rows, seq); err != nil {
		return err
	}
	if start < 0 || n <= 0 || start+n > seq {
		return fmt.Errorf("onnx: forward cached: window start=%d length=%d outside the %d positions", start, n, seq)
	}
	vocab := s.sig.vocab
	if vocab > 0 && len(logits) != rows*seq*vocab {
		return fmt.Errorf("onnx: forward cached: len(logits)=%d, want rows*seq*vocab=%d*%d*%d=%d",
			len(logits), rows, seq, vocab, rows*seq*vocab)
	}
	refresh := start == 0 && n == seq

	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return fmt.Errorf("onnx: forward cached: %w", ErrClosed)
	}
	c := cache
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errors.New("onnx: forward cached: the KV cache is closed")
	}
	if !refresh && !c.filled {
		return fmt.Errorf("onnx: forward cached: window [%d,%d) needs a filled cache: run a refresh (start 0, length %d) first",
			start, start+n, seq)
	}
	c.filled = false // until this pass succeeds: a failed pass may have half-written the present buffers

	idsT, err := c.idsFor(n)
	if err != nil {
		return fmt.Errorf("onnx: forward cached: %w", err)
	}
	dst := idsT.GetData()
	for r := 0; r < rows; r++ {
		copy(dst[r*n:(r+1)*n], ids[r*seq+start:r*seq+start+n])
	}
	if c.mask != nil {
		m := c.mask.GetData()
		if attention != nil {
			copy(m, attention)
		} else {
			for i := range m {
				m[i] = 1
			}
		}
	}
	c.start.GetData()[0] = int64(start)
	k := 0
	for _, name := range s.feedName {
		switch name {
		case InputIDs:
			c.in[k] = idsT
		case AttentionMask:
			c.in[k] = c.mask
		case PastKeys:
			c.in[k] = c.keys[c.cur]
		case PastValues:
			c.in[k] = c.vals[c.cur]
		case CacheStart:
			c.in[k] = c.start
		}
		k++
	}
	// One row: the window is contiguous in the full layout, so ONNX Runtime writes it in place; several rows:
	// packed at the front, then spread.
	var packed []float32
	switch {
	case vocab == 0:
		c.out[0] = nil
	case rows == 1:
		packed = logits[start*vocab : (start+n)*vocab]
	default:
		packed = logits[:rows*n*vocab]
	}
	if packed != nil {
		if c.out[0], err = c.outFor(packed, n, vocab); err != nil {
			return fmt.Errorf("onnx: forward cached: binding logits: %w", err)
		}
	}
	c.out[1], c.out[2] = c.keys[1-c.cur], c.vals[1-c.cur]

	done := ctx.Done()
	var io *ort.IoBinding
	if done == nil && c.out[0] != nil {
		io = c.bindingFor(c.cur, idsT, c.out[0].(*ort.Tensor[float32]))
	}
	switch {
	case io != nil:
		err = s.sess.RunWithBinding(io)
	case done != nil:
		if c.watch == nil {
			c.watch = newWatcher(c.run)
		}
		c.watch.begin(done)
		err = s.sess.RunWithOptions(c.in, c.out, c.run)
		if c.watch.end() {
			_ = c.run.UnsetTerminate()
		}
	default:
		err = s.sess.RunWithOptions(c.in, c.out, c.run)
	}
	if err != nil {
		if vocab == 0 && c.out[0] != nil {
			_ = c.out[0].Destroy()
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("onnx: forward cached interrupted (%v): %w", err, ctxErr)
		}
		return fmt.Errorf("onnx: forward cached on %s [%d,%d] window [%d,%d): %w", s.source, rows, seq, start, start+n, err)
	}
	c.cur = 1 - c.cur
	c.filled = true
	if vocab == 0 {
		return copyDynamicWindow(c.out[0], logits, rows, seq, start, n)
	}
	if rows > 1 {
		spreadRows(logits, rows, seq, start, n, vocab)
	}
	return nil
}

// spreadRows moves a packed [rows, n, v] window at the front of logits to its places in the [rows, seq, v]
// layout. Row r's destination never starts before the end of packed rows 0..r-1, so moving the last row first
// overwrites only rows already moved or row r's own source, which copy handles.
func spreadRows(logits []float32, rows, seq, start, n, v int) {
	for r := rows - 1; r >= 0; r-- {
		copy(logits[(r*seq+start)*v:(r*seq+start+n)*v], logits[r*n*v:(r+1)*n*v])
	}
}

// copyDynamicWindow copies the ONNX-Runtime-allocated logits of a model with a dynamic vocab into place.
func copyDynamicWindow(v ort.Value, logits []float32, rows, seq, start, n int) error {
	defer v.Destroy()
	t, ok := v.(*ort.Tensor[float32])
	if !ok {
		return fmt.Errorf("onnx: forward cached: output %q is %T, want a float32 tensor", Logits, v)
	}
	shape := t.GetShape()
	if len(shape) != 3 || shape[0] != int64(rows) || shape[1] != int64(n) || shape[2] <= 0 {
		return fmt.Errorf("onnx: forward cached: output %q has shape %v, want [%d %d vocab]", Logits, shape, rows, n)
	}
	vocab := int(shape[2])
	if len(logits) != rows*seq*vocab {
		return fmt.Errorf("onnx: forward cached: len(logits)=%d, but the model produced vocab %d: want %d",
			len(logits), vocab, rows*seq*vocab)
	}
	data := t.GetData()
	for r := 0; r < rows; r++ {
		copy(logits[(r*seq+start)*vocab:(r*seq+start+n)*vocab], data[r*n*vocab:(r+1)*n*vocab])
	}
	return nil
}

// forwardFull is Forward on a KV-cache model: a refresh on a pooled cache of the shape, so that a cached file
// is a complete model for every sampler.
func (s *Session) forwardFull(ctx context.Context, ids, attention []int64, rows, seq int, logits []float32) error {
	c, err := s.plainCache(rows, seq)
	if err != nil {
		return fmt.Errorf("onnx: forward: %w", err)
	}
	err = s.ForwardCached(ctx, c, ids, attention, 0, seq, logits)
	s.putPlainCache(c)
	return err
}

func (s *Session) plainCache(rows, seq int) (*KVCache, error) {
	s.poolMu.Lock()
	for i := len(s.plain) - 1; i >= 0; i-- {
		if c := s.plain[i]; c.rows == rows && c.seq == seq {
			s.plain = append(s.plain[:i], s.plain[i+1:]...)
			s.poolMu.Unlock()
			return c, nil
		}
	}
	s.poolMu.Unlock()
	return s.NewKVCache(rows, seq)
}

// putPlainCache keeps a few idle caches for Forward (a sampler uses one or two shapes). Caches are closed
// outside poolMu, which KVCache.Close takes.
func (s *Session) putPlainCache(c *KVCache) {
	s.poolMu.Lock()
	var drop *KVCache
	switch {
	case s.closedPool:
		drop = c
	case len(s.plain) >= 2:
		drop = s.plain[0]
		s.plain = append(s.plain[:0], s.plain[1:]...)
		fallthrough
	default:
		s.plain = append(s.plain, c)
	}
	s.poolMu.Unlock()
	if drop != nil {
		_ = drop.Close()
	}
}
