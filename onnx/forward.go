//go:build cgo

package onnx

import (
	"context"
	"fmt"
	"unsafe"

	ort "github.com/yalue/onnxruntime_go"
)

// maxIdleBindings bounds the per-session buffer cache. A sampler uses one or two shapes (with and without the
// classifier-free-guidance batch), so a handful covers concurrent callers without holding memory forever.
const maxIdleBindings = 4

// binding is the reusable state of one Forward: ONNX Runtime tensors for one [rows, seq] shape, the output
// tensor wrapped around the caller's logits slice, and run options that can be terminated. A binding is used by
// one Forward at a time; idle bindings wait in Session.pool.
type binding struct {
	rows, seq int
	ids       *ort.Tensor[int64]
	mask      *ort.Tensor[int64] // nil when the model has no attention_mask input
	out       *ort.Tensor[float32]
	outPtr    *float32 // the caller slice out wraps, to reuse it when the caller reuses its buffer
	outLen    int
	inputs    []ort.Value
	outputs   []ort.Value
	run       *ort.RunOptions
	watch     *watcher // sets run's terminate flag when a cancellable ctx is cancelled mid-run; see watch.go
	// io binds the same tensors for the allocation-free path (RunWithBinding), used when the vocab is static
	// and ctx can never be cancelled: onnxruntime_go's binding run takes no run options, so it cannot be
	// terminated, while RunWithOptions allocates a few small slices per call.
	io *ort.IoBinding
}

func (s *Session) newBinding(rows, seq int) (*binding, error) {
	b := &binding{rows: rows, seq: seq}
	shape := ort.NewShape(int64(rows), int64(seq))
	var err error
	if b.ids, err = ort.NewEmptyTensor[int64](shape); err != nil {
		return nil, err
	}
	b.inputs = []ort.Value{b.ids}
	if s.sig.hasMask {
		if b.mask, err = ort.NewEmptyTensor[int64](shape); err != nil {
			b.destroy()
			return nil, err
		}
		b.inputs = append(b.inputs, b.mask)
	}
	b.outputs = make([]ort.Value, 1)
	if b.run, err = ort.NewRunOptions(); err != nil {
		b.destroy()
		return nil, err
	}
	if s.sig.vocab > 0 {
		if b.io, err = s.sess.CreateIoBinding(); err != nil {
			b.destroy()
			return nil, err
		}
		for i, name := range s.feedName {
			if err = b.io.BindInput(name, b.inputs[i]); err != nil {
				b.destroy()
				return nil, err
			}
		}
	}
	return b, nil
}

func (b *binding) destroy() {
	if b.ids != nil {
		_ = b.ids.Destroy()
	}
	if b.mask != nil {
		_ = b.mask.Destroy()
	}
	if b.out != nil {
		_ = b.out.Destroy()
	}
	if b.run != nil {
		_ = b.run.Destroy()
	}
	if b.io != nil {
		_ = b.io.Destroy()
	}
	if b.watch != nil {
		b.watch.stop()
	}
	b.watch = nil
	b.ids, b.mask, b.out, b.run, b.io = nil, nil, nil, nil, nil
}

// bindOutput points the output tensor at the caller's logits, reusing the previous wrapper when the caller
// passes the same buffer again (the common case: a sampler reuses one logits slice for every step).
func (b *binding) bindOutput(logits []float32, vocab int) error {
	n := b.rows * b.seq * vocab
	p := unsafe.SliceData(logits)
	if b.out != nil && b.outPtr == p && b.outLen == n {
		b.outputs[0] = b.out
		return nil
	}
	if b.out != nil {
		_ = b.out.Destroy()
		b.out = nil
	}
	t, err := ort.NewTensor(ort.NewShape(int64(b.rows), int64(b.seq), int64(vocab)), logits[:n])
	if err != nil {
		return err
	}
	b.out, b.outPtr, b.outLen = t, p, n
	b.outputs[0] = t
	if b.io != nil {
		return b.io.BindOutput(Logits, t)
	}
	return nil
}

func (s *Session) getBinding(rows, seq int) (*binding, error) {
	s.poolMu.Lock()
	for i := len(s.pool) - 1; i >= 0; i-- {
		if b := s.pool[i]; b.rows == rows && b.seq == seq {
			s.pool = append(s.pool[:i], s.pool[i+1:]...)
			s.poolMu.Unlock()
			return b, nil
		}
	}
	s.poolMu.Unlock()
	return s.newBinding(rows, seq)
}

func (s *Session) putBinding(b *binding) {
	s.poolMu.Lock()
	defer s.poolMu.Unlock()
	if len(s.pool) >= maxIdleBindings {
		s.pool[0].destroy()
		s.pool = append(s.pool[:0], s.pool[1:]...)
	}
	s.pool = append(s.pool, b)
}

// Forward runs the model on rows×seq token ids (row-major) and writes float32 logits of shape [rows, seq, vocab]
// into logits.
//
// attention may be nil (every position attends); otherwise it has rows×seq entries, 1 for real tokens and 0 for
// padding. A model without an attention_mask input accepts only all-ones attention. When VocabSize is known,
// len(logits) must be exactly rows×seq×VocabSize; otherwise it must match the vocab the run produces.
//
// Forward is safe for concurrent use. With a static vocab, ONNX Runtime writes straight into logits, and the
// tensors for each shape are cached, so a steady-state call allocates only what the onnxruntime_go Run wrapper
// does. Until ReleaseBuffer (or eviction, or Close) the session keeps a reference to the last logits slice
// bound per cached shape.
//
// A cancelled ctx stops the run: before it starts, or in flight through ONNX Runtime's terminate flag (checked
// between graph nodes). The error then wraps ctx.Err().
func (s *Session) Forward(ctx context.Context, ids, attention []int64, rows, seq int, logits []float32) error {
	if err := s.checkFeed(ctx, ids, attention, rows, seq); err != nil {
		return err
	}
	if s.sig.hasWindow {
		return s.forwardWindow(ctx, ids, attention, rows, seq, 0, seq, logits) // the window of every position
	}
	if s.sig.hasCache {
		return s.forwardFull(ctx, ids, attention, rows, seq, logits) // a refresh pass on a pooled cache
	}
	n := rows * seq
	vocab := s.sig.vocab
	if vocab > 0 && len(logits) != n*vocab {
		return fmt.Errorf("onnx: forward: len(logits)=%d, want rows*seq*vocab=%d*%d*%d=%d",
			len(logits), rows, seq, vocab, n*vocab)
	}

	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return fmt.Errorf("onnx: forward: %w", ErrClosed)
	}
	b, err := s.getBinding(rows, seq)
	if err != nil {
		return fmt.Errorf("onnx: forward: allocating tensors for [%d,%d]: %w", rows, seq, err)
	}
	defer s.putBinding(b)

	copy(b.ids.GetData(), ids)
	if b.mask != nil {
		m := b.mask.GetData()
		if attention != nil {
			copy(m, attention)
		} else {
			for i := range m {
				m[i] = 1
			}
		}
	}
	if vocab > 0 {
		if err := b.bindOutput(logits, vocab); err != nil {
			return fmt.Errorf("onnx: forward: binding logits: %w", err)
		}
	} else {
		b.outputs[0] = nil // ONNX Runtime allocates; we copy out below
	}

	err = s.runCancellable(ctx, b)
	if err != nil {
		if b.outputs[0] != nil && b.outputs[0] != ort.Value(b.out) {
			_ = b.outputs[0].Destroy()
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("onnx: forward interrupted (%v): %w", err, ctxErr)
		}
		return fmt.Errorf("onnx: forward on %s [%d,%d]: %w", s.source, rows, seq, err)
	}
	if vocab == 0 {
		return copyDynamic(b.outputs[0], logits, rows, seq)
	}
	return nil
}

// checkFeed validates a forward pass's ids and attention (and that ctx is still live).
func (s *Session) checkFeed(ctx context.Context, ids, attention []int64, rows, seq int) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("onnx: forward not started: %w", err)
	}
	if rows <= 0 || seq <= 0 {
		return fmt.Errorf("onnx: forward: rows=%d seq=%d, both must be positive", rows, seq)
	}
	n := rows * seq
	if len(ids) != n {
		return fmt.Errorf("onnx: forward: len(ids)=%d, want rows*seq=%d*%d=%d", len(ids), rows, seq, n)
	}
	if attention != nil {
		if len(attention) != n {
			return fmt.Errorf("onnx: forward: len(attention)=%d, want rows*seq=%d", len(attention), n)
		}
		for i, a := range attention {
			if a != 0 && a != 1 {
				return fmt.Errorf("onnx: forward: attention[%d]=%d, want 0 or 1", i, a)
			}
			if a == 0 && !s.sig.hasMask {
				return fmt.Errorf("onnx: forward: attention[%d]=0 (padding) but the model has no %q input, so it "+
					"cannot ignore padded positions", i, AttentionMask)
			}
		}
	}
	return nil
}

// runCancellable runs with the binding's RunOptions and, while ctx can still be cancelled, has the binding's
// watcher set ONNX Runtime's terminate flag on cancellation. Before the binding is reused the flag is cleared
// again. The watcher is a goroutine per binding rather than context.AfterFunc, which allocates on every call.
func (s *Session) runCancellable(ctx context.Context, b *binding) error {
	done := ctx.Done()
	if done == nil {
		if b.io != nil && b.outputs[0] != nil {
			return s.sess.RunWithBinding(b.io)
		}
		return s.sess.RunWithOptions(b.inputs, b.outputs, b.run)
	}
	if b.watch == nil {
		b.watch = newWatcher(b.run)
	}
	b.watch.begin(done)
	err := s.sess.RunWithOptions(b.inputs, b.outputs, b.run)
	if b.watch.end() {
		_ = b.run.UnsetTerminate()
	}
	return err
}

func copyDynamic(v ort.Value, logits []float32, rows, seq int) error {
	defer v.Destroy()
	t, ok := v.(*ort.Tensor[float32])
	if !ok {
		return fmt.Errorf("onnx: forward: output %q is %T, want a float32 tensor", Logits, v)
	}
	shape := t.GetShape()
	if len(shape) != 3 || shape[0] != int64(rows) || shape[1] != int64(seq) || shape[2] <= 0 {
		return fmt.Errorf("onnx: forward: output %q has shape %v, want [%d %d vocab]", Logits, shape, rows, seq)
	}
	data := t.GetData()
	if len(logits) != len(data) {
		return fmt.Errorf("onnx: forward: len(logits)=%d, but the model produced rows*seq*vocab=%d*%d*%d=%d",
			len(logits), rows, seq, shape[2], len(data))
	}
	copy(logits, data)
	return nil
}
