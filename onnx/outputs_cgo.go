//go:build cgo

package onnx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// extraOutputs holds the sessions that fetch outputs other than logits. The main session binds only "logits"
// (onnxruntime_go fixes a session's outputs at creation), so ForwardOutputs opens a second session over the
// same model the first time it is asked for a given set of names. reopen is nil for a model with no output
// but logits: nothing is kept for it.
type extraOutputs struct {
	mu       sync.Mutex
	reopen   func(names []string) (*ort.DynamicAdvancedSession, error)
	sessions map[string]*ort.DynamicAdvancedSession
}

// newReopener returns how to open the model again with other outputs, or nil when it has only logits. A model
// opened from bytes is copied (only then): the second session is made later, after OpenBytes returned.
func newReopener(c config, lib, path string, data []byte, feed []string, outputs []TensorInfo) func([]string) (*ort.DynamicAdvancedSession, error) {
	if len(outputs) < 2 {
		return nil
	}
	data = bytes.Clone(data)
	feed = slices.Clone(feed)
	return func(names []string) (*ort.DynamicAdvancedSession, error) {
		so, err := sessionOptions(c, lib)
		if err != nil {
			return nil, err
		}
		defer so.Destroy()
		if data != nil {
			return ort.NewDynamicAdvancedSessionWithONNXData(data, feed, names, so)
		}
		return ort.NewDynamicAdvancedSession(path, feed, names, so)
	}
}

func (e *extraOutputs) session(names []string) (*ort.DynamicAdvancedSession, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	key := strings.Join(names, "\x00")
	if s, ok := e.sessions[key]; ok {
		return s, nil
	}
	s, err := e.reopen(names)
	if err != nil {
		return nil, err
	}
	if e.sessions == nil {
		e.sessions = map[string]*ort.DynamicAdvancedSession{}
	}
	e.sessions[key] = s
	return s, nil
}

func (e *extraOutputs) close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	var errs []error
	for k, s := range e.sessions {
		errs = append(errs, s.Destroy())
		delete(e.sessions, k)
	}
	return errors.Join(errs...)
}

// ForwardOutputs runs the model on rows×seq token ids, like Forward, and returns the float32 outputs named
// (for example HiddenStates, or Logits together with it), in the order asked. Every name must be a float32
// output of the graph (see Outputs). attention follows Forward's rules.
//
// It serves optional outputs of contract extensions: it runs a second ONNX Runtime session over the same model,
// created on first use with the same options and kept until Close, and allocates the returned slices on every
// call, so it suits feature extraction rather than a sampling loop. A cancelled ctx stops the run like Forward.
func (s *Session) ForwardOutputs(ctx context.Context, ids, attention []int64, rows, seq int, want ...string) ([]Output, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("onnx: forward not started: %w", err)
	}
	if len(want) == 0 {
		return nil, errors.New("onnx: forward outputs: no output named")
	}
	if s.sig.hasCache {
		return nil, errors.New("onnx: forward outputs: not supported on a KV-cache model (its graph needs the cache inputs); use Forward or ForwardCached")
	}
	for i, n := range want {
		k := slices.IndexFunc(s.outputs, func(t TensorInfo) bool { return t.Name == n })
		if k < 0 {
			return nil, fmt.Errorf("onnx: forward outputs: the model has no output %q (it has %s)", n, names(s.outputs))
		}
		if s.outputs[k].ElementType != "float32" {
			return nil, fmt.Errorf("onnx: forward outputs: output %q is %s, only float32 outputs can be read", n, s.outputs[k].ElementType)
		}
		if slices.Contains(want[:i], n) {
			return nil, fmt.Errorf("onnx: forward outputs: output %q named twice", n)
		}
	}
	if rows <= 0 || seq <= 0 {
		return nil, fmt.Errorf("onnx: forward outputs: rows=%d seq=%d, both must be positive", rows, seq)
	}
	n := rows * seq
	if len(ids) != n {
		return nil, fmt.Errorf("onnx: forward outputs: len(ids)=%d, want rows*seq=%d", len(ids), n)
	}
	if attention != nil && len(attention) != n {
		return nil, fmt.Errorf("onnx: forward outputs: len(attention)=%d, want rows*seq=%d", len(attention), n)
	}
	for i, a := range attention {
		if a != 0 && a != 1 {
			return nil, fmt.Errorf("onnx: forward outputs: attention[%d]=%d, want 0 or 1", i, a)
		}
		if a == 0 && !s.sig.hasMask {
			return nil, fmt.Errorf("onnx: forward outputs: attention[%d]=0 (padding) but the model has no %q input", i, AttentionMask)
		}
	}

	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, errors.New("onnx: forward outputs: session is closed")
	}
	if s.extra.reopen == nil {
		return nil, fmt.Errorf("onnx: forward outputs: the model has no output but %q", Logits)
	}
	sess, err := s.extra.session(want)
	if err != nil {
		return nil, fmt.Errorf("onnx: forward outputs: opening a session for %q: %w", want, err)
	}
	shape := ort.NewShape(int64(rows), int64(seq))
	idT, err := ort.NewTensor(shape, slices.Clone(ids))
	if err != nil {
		return nil, fmt.Errorf("onnx: forward outputs: %w", err)
	}
	defer idT.Destroy()
	inputs := []ort.Value{idT}
	if s.sig.hasMask {
		m := attention
		if m == nil {
			m = make([]int64, n)
			for i := range m {
				m[i] = 1
			}
		}
		mT, err := ort.NewTensor(shape, slices.Clone(m))
		if err != nil {
			return nil, fmt.Errorf("onnx: forward outputs: %w", err)
		}
		defer mT.Destroy()
		inputs = append(inputs, mT)
	}
	run, err := ort.NewRunOptions()
	if err != nil {
		return nil, fmt.Errorf("onnx: forward outputs: %w", err)
	}
	defer run.Destroy()
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() { _ = run.Terminate(); close(fired) })
	outs := make([]ort.Value, len(want)) // nil: ONNX Runtime allocates them
	err = sess.RunWithOptions(inputs, outs, run)
	if !stop() {
		<-fired // the callback may still be using run
	}
	defer func() {
		for _, v := range outs {
			if v != nil {
				_ = v.Destroy()
			}
		}
	}()
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("onnx: forward outputs interrupted (%v): %w", err, ctxErr)
		}
		return nil, fmt.Errorf("onnx: forward outputs on %s [%d,%d]: %w", s.source, rows, seq, err)
	}
	res := make([]Output, len(want))
	for i, v := range outs {
		t, ok := v.(*ort.Tensor[float32])
		if !ok {
			return nil, fmt.Errorf("onnx: forward outputs: output %q is %T, want a float32 tensor", want[i], v)
		}
		sh := t.GetShape()
		if len(sh) < 2 || sh[0] != int64(rows) || sh[1] != int64(seq) {
			return nil, fmt.Errorf("onnx: forward outputs: output %q has shape %v, want [%d %d ...]", want[i], sh, rows, seq)
		}
		res[i] = Output{Name: want[i], Shape: slices.Clone([]int64(sh)), Data: slices.Clone(t.GetData())}
	}
	return res, nil
}
