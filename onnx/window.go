//go:build cgo

package onnx

import (
	"context"
	"errors"
	"fmt"

	ort "github.com/yalue/onnxruntime_go"
)

// HasLogitsWindow reports whether the model takes the logits_window input (docs/contract.md, "Logits
// window"): ForwardWindow then computes the LM head only over the positions asked for.
func (s *Session) HasLogitsWindow() bool { return s.sig.hasWindow }

// ForwardWindow runs the model on rows×seq token ids like Forward but writes the logits of positions
// [start, start+n) of every row only: logits has shape [rows, n, vocab]. The model must have the
// logits_window input (HasLogitsWindow); the whole canvas still goes through the transformer, so the window's
// logits equal Forward's at those positions.
//
// Its tensors are made per call (a window pass is dominated by the network), and a cancelled ctx stops the
// run as in Forward.
func (s *Session) ForwardWindow(ctx context.Context, ids, attention []int64, rows, seq, start, n int, logits []float32) error {
	if !s.sig.hasWindow {
		return fmt.Errorf("onnx: forward window: the model has no %q input (see docs/contract.md)", LogitsWindow)
	}
	if err := s.checkFeed(ctx, ids, attention, rows, seq); err != nil {
		return err
	}
	if start < 0 || n <= 0 || start+n > seq {
		return fmt.Errorf("onnx: forward window: start=%d length=%d outside the %d positions", start, n, seq)
	}
	return s.forwardWindow(ctx, ids, attention, rows, seq, start, n, logits)
}

func (s *Session) forwardWindow(ctx context.Context, ids, attention []int64, rows, seq, start, n int, logits []float32) error {
	vocab := s.sig.vocab
	if vocab > 0 && len(logits) != rows*n*vocab {
		return fmt.Errorf("onnx: forward window: len(logits)=%d, want rows*length*vocab=%d*%d*%d=%d",
			len(logits), rows, n, vocab, rows*n*vocab)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return errors.New("onnx: forward window: session is closed")
	}
	var values []ort.Value
	defer func() {
		for _, v := range values {
			_ = v.Destroy()
		}
	}()
	shape := ort.NewShape(int64(rows), int64(seq))
	idsT, err := ort.NewTensor(shape, append([]int64(nil), ids...))
	if err != nil {
		return fmt.Errorf("onnx: forward window: %w", err)
	}
	values = append(values, idsT)
	inputs := []ort.Value{idsT}
	if s.sig.hasMask {
		m := make([]int64, rows*seq)
		if attention != nil {
			copy(m, attention)
		} else {
			for i := range m {
				m[i] = 1
			}
		}
		t, err := ort.NewTensor(shape, m)
		if err != nil {
			return fmt.Errorf("onnx: forward window: %w", err)
		}
		values = append(values, t)
		inputs = append(inputs, t)
	}
	win, err := ort.NewTensor(ort.NewShape(2), []int64{int64(start), int64(n)})
	if err != nil {
		return fmt.Errorf("onnx: forward window: %w", err)
	}
	values = append(values, win)
	inputs = append(inputs, win)
	outputs := []ort.Value{nil}
	if vocab > 0 {
		out, err := ort.NewTensor(ort.NewShape(int64(rows), int64(n), int64(vocab)), logits)
		if err != nil {
			return fmt.Errorf("onnx: forward window: binding logits: %w", err)
		}
		values = append(values, out)
		outputs[0] = out
	}
	run, err := ort.NewRunOptions()
	if err != nil {
		return fmt.Errorf("onnx: forward window: %w", err)
	}
	defer run.Destroy()
	stop := context.AfterFunc(ctx, func() { _ = run.Terminate() })
	err = s.sess.RunWithOptions(inputs, outputs, run)
	stop()
	if err != nil {
		if outputs[0] != nil && vocab == 0 {
			_ = outputs[0].Destroy()
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("onnx: forward window interrupted (%v): %w", err, ctxErr)
		}
		return fmt.Errorf("onnx: forward window on %s [%d,%d] window [%d,%d): %w", s.source, rows, seq, start, start+n, err)
	}
	if vocab == 0 {
		return copyDynamic(outputs[0], logits, rows, n)
	}
	return nil
}
