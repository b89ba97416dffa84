//go:build cgo

package onnx

import (
	"context"
	"errors"
	"fmt"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// reductionState caches, per session, the tensors of ForwardReductions for the few shapes a sampler uses, so
// that a steady-state call allocates nothing on the Go side (the allocation-free IoBinding path when ctx
// cannot be cancelled, as in Forward).
type reductionState struct {
	mu   sync.Mutex
	idle []*redBinding
}

// redBinding holds the ONNX Runtime tensors of one [rows, seq] canvas reduced over a window of n positions.
type redBinding struct {
	rows, seq, n int
	ids, mask    *ort.Tensor[int64]
	win          *ort.Tensor[int64] // nil for a model without the logits_window input
	tok          *ort.Tensor[int64]
	f            [3]*ort.Tensor[float32] // prob, margin, entropy
	inputs       []ort.Value
	outputs      []ort.Value
	run          *ort.RunOptions
	watch        *watcher
	io           *ort.IoBinding
}

func (b *redBinding) destroy() {
	for _, v := range append(b.inputs, b.outputs...) {
		if v != nil {
			_ = v.Destroy()
		}
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
	b.inputs, b.outputs, b.run, b.io, b.watch = nil, nil, nil, nil, nil
}

func (s *Session) newRedBinding(sess *ort.DynamicAdvancedSession, rows, seq, n int) (*redBinding, error) {
	b := &redBinding{rows: rows, seq: seq, n: n}
	fail := func(err error) (*redBinding, error) {
		b.destroy()
		return nil, err
	}
	shape := ort.NewShape(int64(rows), int64(seq))
	var err error
	if b.ids, err = ort.NewEmptyTensor[int64](shape); err != nil {
		return fail(err)
	}
	b.inputs = append(b.inputs, b.ids)
	if s.sig.hasMask {
		if b.mask, err = ort.NewEmptyTensor[int64](shape); err != nil {
			return fail(err)
		}
		b.inputs = append(b.inputs, b.mask)
	}
	if s.sig.hasWindow {
		if b.win, err = ort.NewEmptyTensor[int64](ort.NewShape(2)); err != nil {
			return fail(err)
		}
		b.inputs = append(b.inputs, b.win)
	}
	out := ort.NewShape(int64(rows), int64(n))
	if b.tok, err = ort.NewEmptyTensor[int64](out); err != nil {
		return fail(err)
	}
	b.outputs = append(b.outputs, b.tok)
	for i := range b.f {
		if b.f[i], err = ort.NewEmptyTensor[float32](out); err != nil {
			return fail(err)
		}
		b.outputs = append(b.outputs, b.f[i])
	}
	if b.run, err = ort.NewRunOptions(); err != nil {
		return fail(err)
	}
	if b.io, err = sess.CreateIoBinding(); err != nil {
		return fail(err)
	}
	for i, name := range s.feedName {
		if err = b.io.BindInput(name, b.inputs[i]); err != nil {
			return fail(err)
		}
	}
	for i, name := range reductionNames {
		if err = b.io.BindOutput(name, b.outputs[i]); err != nil {
			return fail(err)
		}
	}
	return b, nil
}

func (r *reductionState) get(rows, seq, n int) *redBinding {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.idle) - 1; i >= 0; i-- {
		if b := r.idle[i]; b.rows == rows && b.seq == seq && b.n == n {
			r.idle = append(r.idle[:i], r.idle[i+1:]...)
			return b
		}
	}
	return nil
}

func (r *reductionState) put(b *redBinding) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.idle) >= maxIdleBindings {
		r.idle[0].destroy()
		r.idle = append(r.idle[:0], r.idle[1:]...)
	}
	r.idle = append(r.idle, b)
}

func (r *reductionState) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.idle {
		b.destroy()
	}
	r.idle = nil
}

// ForwardReductions runs the model on rows×seq token ids, like Forward, and fetches only the in-graph
// reduction outputs (docs/contract.md, "In-graph reductions") of positions [start, start+n) of every row:
// the [rows, n, vocab] logits never leave ONNX Runtime. A model with the logits_window input computes the LM
// head over that window only; one without it takes start=0, n=seq alone. Each slice of out must hold
// exactly rows×n values. The model must have the outputs (Reductions). attention and ctx follow Forward.
//
// The first call opens a second ONNX Runtime session over the same model whose outputs are the four
// reductions (onnxruntime_go fixes a session's outputs at creation); its tensors are cached per shape.
func (s *Session) ForwardReductions(ctx context.Context, ids, attention []int64, rows, seq, start, n int, out *Reductions) error {
	if _, ok, err := s.Reductions(); !ok {
		if err == nil {
			err = fmt.Errorf("the model has no in-graph reductions (metadata %s)", MetaReductions)
		}
		return fmt.Errorf("onnx: forward reductions: %w", err)
	}
	if err := s.checkFeed(ctx, ids, attention, rows, seq); err != nil {
		return err
	}
	if start < 0 || n <= 0 || start+n > seq {
		return fmt.Errorf("onnx: forward reductions: start=%d length=%d outside the %d positions", start, n, seq)
	}
	if !s.sig.hasWindow && (start != 0 || n != seq) {
		return fmt.Errorf("onnx: forward reductions: window [%d,%d) of %d positions asked of a model without the %q input",
			start, start+n, seq, LogitsWindow)
	}
	if out == nil {
		return errors.New("onnx: forward reductions: nil output")
	}
	want := rows * n
	if len(out.Token) != want || len(out.Prob) != want || len(out.Margin) != want || len(out.Entropy) != want {
		return fmt.Errorf("onnx: forward reductions: output slices hold %d, %d, %d and %d values, want rows*length=%d*%d=%d each",
			len(out.Token), len(out.Prob), len(out.Margin), len(out.Entropy), rows, n, want)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return fmt.Errorf("onnx: forward reductions: %w", ErrClosed)
	}
	sess, err := s.extra.session(reductionNames)
	if err != nil {
		return fmt.Errorf("onnx: forward reductions: opening a session for the reductions: %w", err)
	}
	b := s.red.get(rows, seq, n)
	if b == nil {
		if b, err = s.newRedBinding(sess, rows, seq, n); err != nil {
			return fmt.Errorf("onnx: forward reductions: allocating tensors for [%d,%d] window %d: %w", rows, seq, n, err)
		}
	}
	defer s.red.put(b)
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
	if b.win != nil {
		w := b.win.GetData()
		w[0], w[1] = int64(start), int64(n)
	}
	if done := ctx.Done(); done == nil {
		err = sess.RunWithBinding(b.io)
	} else {
		if b.watch == nil {
			b.watch = newWatcher(b.run)
		}
		b.watch.begin(done)
		err = sess.RunWithOptions(b.inputs, b.outputs, b.run)
		if b.watch.end() {
			_ = b.run.UnsetTerminate()
		}
	}
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("onnx: forward reductions interrupted (%v): %w", err, ctxErr)
		}
		return fmt.Errorf("onnx: forward reductions on %s [%d,%d] window [%d,%d): %w", s.source, rows, seq, start, start+n, err)
	}
	copy(out.Token, b.tok.GetData())
	copy(out.Prob, b.f[0].GetData())
	copy(out.Margin, b.f[1].GetData())
	copy(out.Entropy, b.f[2].GetData())
	return nil
}
