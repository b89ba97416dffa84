//go:build cgo

package onnx

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// ContinuousInput is one forward pass of a continuous-family model. Slices are row-major.
type ContinuousInput struct {
	X         []float32 // rows*seq*dim noisy embeddings
	Timestep  []float32 // rows*seq noise levels (a rank-1 graph gets the first of each row, which must all be equal)
	SelfCond  []float32 // rows*seq*dim, or nil for zeros; ignored when the graph has no self_cond input
	Attention []int64   // rows*seq, 1 = token, 0 = padding; nil = all ones
	Rows, Seq int
}

// ContinuousSession is a loaded continuous-family model (float inputs x_t, timestep, optional self_cond). It is
// safe for concurrent use; Close waits for calls in flight.
type ContinuousSession struct {
	sess    *ort.DynamicAdvancedSession
	source  string
	sig     continuousSignature
	inputs  []TensorInfo
	outputs []TensorInfo
	meta    map[string]string
	feed    []string

	mu     sync.RWMutex
	closed bool
}

// OpenContinuous loads a continuous-family ONNX model file and checks its signature.
func OpenContinuous(modelPath string, opts ...Option) (*ContinuousSession, error) {
	if st, err := os.Stat(modelPath); err != nil {
		return nil, fmt.Errorf("onnx: model file: %w", err)
	} else if st.IsDir() {
		return nil, fmt.Errorf("onnx: model file %q is a directory, want an .onnx file", modelPath)
	}
	return openContinuous(modelPath, nil, opts)
}

// OpenContinuousBytes loads a continuous-family model held in memory.
func OpenContinuousBytes(model []byte, opts ...Option) (*ContinuousSession, error) {
	if len(model) == 0 {
		return nil, errors.New("onnx: model bytes are empty")
	}
	return openContinuous("", model, opts)
}

func openContinuous(path string, data []byte, opts []Option) (*ContinuousSession, error) {
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	lib, err := ensureEnvironment(c.libraryPath)
	if err != nil {
		return nil, err
	}
	s := &ContinuousSession{source: path}
	if data != nil {
		s.source = fmt.Sprintf("<%d bytes>", len(data))
	}
	var ins, outs []ort.InputOutputInfo
	if data != nil {
		ins, outs, err = ort.GetInputOutputInfoWithONNXData(data)
	} else {
		ins, outs, err = ort.GetInputOutputInfo(path)
	}
	if err != nil {
		return nil, fmt.Errorf("onnx: model %s: not a loadable ONNX model: %w", s.source, err)
	}
	for _, io := range ins {
		s.inputs = append(s.inputs, infoFromORT(io))
	}
	for _, io := range outs {
		s.outputs = append(s.outputs, infoFromORT(io))
	}
	if s.sig, err = validateContinuousSignature(s.inputs, s.outputs); err != nil {
		return nil, fmt.Errorf("onnx: model %s: %w", s.source, err)
	}
	s.feed = []string{XT, Timestep}
	if s.sig.hasSelfCond {
		s.feed = append(s.feed, SelfCond)
	}
	if s.sig.hasMask {
		s.feed = append(s.feed, AttentionMask)
	}
	so, err := sessionOptions(c, lib)
	if err != nil {
		return nil, err
	}
	defer so.Destroy()
	if data != nil {
		s.sess, err = ort.NewDynamicAdvancedSessionWithONNXData(data, s.feed, []string{Logits}, so)
	} else {
		s.sess, err = ort.NewDynamicAdvancedSession(path, s.feed, []string{Logits}, so)
	}
	if err != nil {
		return nil, fmt.Errorf("onnx: model %s: creating session: %w", s.source, err)
	}
	if s.meta, err = readMetadata(s.sess); err != nil {
		s.sess.Destroy()
		return nil, fmt.Errorf("onnx: model %s: reading metadata: %w", s.source, err)
	}
	return s, nil
}

// Metadata returns a copy of the model's metadata_props.
func (s *ContinuousSession) Metadata() map[string]string {
	m := make(map[string]string, len(s.meta))
	for k, v := range s.meta {
		m[k] = v
	}
	return m
}

// EmbedDim is the static last dimension of x_t, 0 when dynamic.
func (s *ContinuousSession) EmbedDim() int { return s.sig.dim }

// VocabSize is the static last dimension of logits, 0 when dynamic.
func (s *ContinuousSession) VocabSize() int { return s.sig.vocab }

// TimestepRank is 1 when the graph takes one noise level per row, 2 when it takes one per position.
func (s *ContinuousSession) TimestepRank() int { return s.sig.timestepRank }

// HasSelfCond reports whether the graph takes a self_cond input.
func (s *ContinuousSession) HasSelfCond() bool { return s.sig.hasSelfCond }

// Inputs describes the model's inputs.
func (s *ContinuousSession) Inputs() []TensorInfo { return cloneInfos(s.inputs) }

// Outputs describes the model's outputs.
func (s *ContinuousSession) Outputs() []TensorInfo { return cloneInfos(s.outputs) }

// Forward runs the network and writes float32 logits [rows, seq, vocab] into logits. dim is the embedding
// dimension of in.X. Wrong lengths, non-finite inputs and, for a rank-1 timestep graph, unequal noise levels
// within a row are errors; a cancelled ctx stops the run (the error wraps ctx.Err()).
func (s *ContinuousSession) Forward(ctx context.Context, in ContinuousInput, dim int, logits []float32) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("onnx: forward not started: %w", err)
	}
	rows, seq := in.Rows, in.Seq
	if rows <= 0 || seq <= 0 || dim <= 0 {
		return fmt.Errorf("onnx: forward: rows=%d seq=%d dim=%d, all must be positive", rows, seq, dim)
	}
	if s.sig.dim > 0 && dim != s.sig.dim {
		return fmt.Errorf("onnx: forward: dim %d, the graph's x_t has dim %d", dim, s.sig.dim)
	}
	n := rows * seq
	switch {
	case len(in.X) != n*dim:
		return fmt.Errorf("onnx: forward: len(x_t)=%d, want rows*seq*dim=%d", len(in.X), n*dim)
	case len(in.Timestep) != n:
		return fmt.Errorf("onnx: forward: len(timestep)=%d, want rows*seq=%d", len(in.Timestep), n)
	case in.SelfCond != nil && len(in.SelfCond) != n*dim:
		return fmt.Errorf("onnx: forward: len(self_cond)=%d, want rows*seq*dim=%d", len(in.SelfCond), n*dim)
	case in.Attention != nil && len(in.Attention) != n:
		return fmt.Errorf("onnx: forward: len(attention)=%d, want rows*seq=%d", len(in.Attention), n)
	case s.sig.vocab > 0 && len(logits) != n*s.sig.vocab:
		return fmt.Errorf("onnx: forward: len(logits)=%d, want rows*seq*vocab=%d", len(logits), n*s.sig.vocab)
	}
	for i, v := range in.X {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("onnx: forward: x_t[%d] = %v is not finite", i, v)
		}
	}
	for i, v := range in.Timestep {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) || v < 0 {
			return fmt.Errorf("onnx: forward: timestep[%d] = %v must be finite and >= 0", i, v)
		}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return errors.New("onnx: forward: session is closed")
	}
	var vals []ort.Value
	defer func() {
		for _, v := range vals {
			_ = v.Destroy()
		}
	}()
	add := func(shape ort.Shape, data []float32) error {
		t, err := ort.NewTensor(shape, data)
		if err != nil {
			return err
		}
		vals = append(vals, t)
		return nil
	}
	if err := add(ort.NewShape(int64(rows), int64(seq), int64(dim)), in.X); err != nil {
		return fmt.Errorf("onnx: forward: x_t: %w", err)
	}
	if s.sig.timestepRank == 1 {
		ts := make([]float32, rows)
		for r := 0; r < rows; r++ {
			ts[r] = in.Timestep[r*seq]
			for p := 1; p < seq; p++ {
				if in.Timestep[r*seq+p] != ts[r] {
					return fmt.Errorf("onnx: forward: row %d has per-position noise levels but the graph's %q is [batch]; "+
						"prompts held clean need a [batch, seq] timestep", r, Timestep)
				}
			}
		}
		if err := add(ort.NewShape(int64(rows)), ts); err != nil {
			return fmt.Errorf("onnx: forward: timestep: %w", err)
		}
	} else if err := add(ort.NewShape(int64(rows), int64(seq)), in.Timestep); err != nil {
		return fmt.Errorf("onnx: forward: timestep: %w", err)
	}
	if s.sig.hasSelfCond {
		sc := in.SelfCond
		if sc == nil {
			sc = make([]float32, n*dim)
		}
		if err := add(ort.NewShape(int64(rows), int64(seq), int64(dim)), sc); err != nil {
			return fmt.Errorf("onnx: forward: self_cond: %w", err)
		}
	}
	if s.sig.hasMask {
		m := in.Attention
		if m == nil {
			m = make([]int64, n)
			for i := range m {
				m[i] = 1
			}
		}
		t, err := ort.NewTensor(ort.NewShape(int64(rows), int64(seq)), m)
		if err != nil {
			return fmt.Errorf("onnx: forward: attention_mask: %w", err)
		}
		vals = append(vals, t)
	} else if in.Attention != nil {
		for i, a := range in.Attention {
			if a == 0 {
				return fmt.Errorf("onnx: forward: attention[%d]=0 (padding) but the model has no %q input", i, AttentionMask)
			}
		}
	}
	outs := []ort.Value{nil}
	run, err := ort.NewRunOptions()
	if err != nil {
		return fmt.Errorf("onnx: forward: run options: %w", err)
	}
	defer run.Destroy()
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() { _ = run.Terminate(); close(fired) })
	err = s.sess.RunWithOptions(vals, outs, run)
	if !stop() {
		<-fired // the callback may still be using run, which the deferred Destroy frees
	}
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("onnx: forward interrupted (%v): %w", err, ctxErr)
		}
		return fmt.Errorf("onnx: forward on %s [%d,%d]: %w", s.source, rows, seq, err)
	}
	return copyDynamic(outs[0], logits, rows, seq)
}

// Close releases the session after calls in flight. Closing twice is a no-op.
func (s *ContinuousSession) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if err := s.sess.Destroy(); err != nil {
		return fmt.Errorf("onnx: close: %w", err)
	}
	return nil
}
