package llada

import (
	"context"
	"fmt"

	"github.com/llada-go/llada/onnx"
)

// WindowDenoiser is a Denoiser that can compute the logits of a window of positions only (the logits-window
// extension of docs/contract.md): at a large vocabulary the LM head over every position, and moving its
// [rows, seq, vocab] output, is a large part of a step, while a sampler reads only the positions it scores.
// The generator asks for the smallest window holding every position it scores in a step, whatever the sampler.
type WindowDenoiser interface {
	Denoiser
	// ForwardWindow computes the same logits as Forward for positions [start, start+n) of every row and writes
	// them at their places in the full [Rows, Seq, VocabSize()] layout of logits. The rest of logits is
	// undefined afterwards (an implementation may use it as scratch): the generator reads only the window.
	ForwardWindow(ctx context.Context, in Batch, start, n int, logits []float32) error
}

// logitsWindow returns the canvas positions [lo, hi) whose logits this step reads (the logits rows of the work
// positions, the same range in every row), or ok=false when the whole canvas is needed or nothing is scored.
func (g *generation) logitsWindow() (lo, hi int, ok bool) {
	if len(g.work) == 0 {
		return 0, g.seq, false
	}
	lo, hi = g.seq, 0
	for _, j := range g.work {
		p := g.logitsRow(j) % g.seq
		lo, hi = min(lo, p), max(hi, p+1)
	}
	return lo, hi, hi-lo < g.seq
}

// windowCovers reports whether the logits held from the last pass cover every position this step reads:
// a window pass leaves the rest of the buffer stale, so an unchanged canvas alone does not make them reusable.
func (g *generation) windowCovers() bool {
	if _, ok := g.den.(WindowDenoiser); !ok {
		return true
	}
	lo, hi, _ := g.logitsWindow()
	return g.winLo <= lo && hi <= g.winHi
}

// forwardLogits runs the denoiser over in into logits (sized for in), through the window when the denoiser has
// one and the step reads less than the whole canvas, and records which positions the logits now hold.
func (g *generation) forwardLogits(ctx context.Context, in Batch, logits []float32) error {
	if wd, ok := g.den.(WindowDenoiser); ok {
		if lo, hi, ok := g.logitsWindow(); ok {
			g.winLo, g.winHi = 0, 0
			if err := wd.ForwardWindow(ctx, in, lo, hi-lo, logits); err != nil {
				return err
			}
			g.winLo, g.winHi = lo, hi
			return nil
		}
	}
	g.winLo, g.winHi = 0, 0
	if err := g.den.Forward(ctx, in, logits); err != nil {
		return err
	}
	g.winLo, g.winHi = 0, g.seq
	return nil
}

// onnxWindowDenoiser is the ONNX Runtime denoiser of a model with the logits_window input. It keeps no
// buffer of its own: a multi-row window pass lands in the caller's logits and is moved into place there, so
// nothing outlives the generation that owns logits (a [rows, n, vocab] scratch would be hundreds of MB at an 8B
// model's vocabulary with guidance).
type onnxWindowDenoiser struct {
	onnxDenoiser
}

// newONNXDenoiser adapts sess, with the window when the model advertises it.
func newONNXDenoiser(sess *onnx.Session, vocab int) Denoiser {
	d := onnxDenoiser{s: sess, vocab: vocab}
	if sess.HasKVCache() {
		return newONNXCachedDenoiser(d)
	}
	if sess.HasLogitsWindow() {
		return withReductions(sess, &onnxWindowDenoiser{onnxDenoiser: d})
	}
	return withReductions(sess, &d)
}

func (d *onnxWindowDenoiser) ForwardWindow(ctx context.Context, in Batch, start, n int, logits []float32) error {
	v := d.vocab
	if in.Rows == 1 {
		// One row: the window is contiguous in the full layout, so ONNX Runtime writes it in place.
		return d.s.ForwardWindow(ctx, in.IDs, in.Attention, in.Rows, in.Seq, start, n, logits[start*v:(start+n)*v])
	}
	if len(logits) < in.Rows*in.Seq*v {
		return fmt.Errorf("llada: forward window: len(logits)=%d, want rows*seq*vocab=%d*%d*%d", len(logits), in.Rows, in.Seq, v)
	}
	if err := d.s.ForwardWindow(ctx, in.IDs, in.Attention, in.Rows, in.Seq, start, n, logits[:in.Rows*n*v]); err != nil {
		return err
	}
	spreadWindow(logits, in.Rows, in.Seq, start, n, v)
	return nil
}

// spreadWindow moves a packed [rows, n, v] window at the front of logits to its places in the [rows, seq, v]
// layout (row r's window starts at (r*seq+start)*v). Row r's destination never starts before the end of
// packed rows 0..r-1 (r*n <= r*seq+start), so moving the last row first overwrites only rows already moved or
// row r's own source, an overlap copy handles.
func spreadWindow(logits []float32, rows, seq, start, n, v int) {
	for r := rows - 1; r >= 0; r-- {
		copy(logits[(r*seq+start)*v:(r*seq+start+n)*v], logits[r*n*v:(r+1)*n*v])
	}
}
