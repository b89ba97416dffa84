package llada

import "sync/atomic"

// Deterministic is an optional Denoiser capability. A Denoiser whose Deterministic method returns true
// promises that its logits are a pure function of the Batch: the same ids and attention always give the same
// logits (no time or step input, no dropout, no sampling inside the network). Only for such a denoiser does the
// step loop reuse the last forward pass when the canvas did not change since it (a step that committed
// nothing, or a block's editing pass); every other Denoiser runs on every step, which is always correct.
//
// Networks under model contract v1 take no time input, so the ONNX Runtime backend of Open is deterministic.
type Deterministic interface {
	Deterministic() bool
}

// reusesLogits reports whether the step loop may skip a forward pass on an unchanged canvas.
func reusesLogits(den Denoiser) bool {
	d, ok := den.(Deterministic)
	return ok && d.Deterministic()
}

// BufferHolder is an optional Denoiser capability: a Denoiser that keeps references to the logits slices
// passed to Forward between calls (the ONNX Runtime backend caches a tensor wrapped around each, so that a
// step allocates nothing) implements ReleaseBuffer to drop them. The step loop calls it with its logits buffer
// when a generation ends, so that nothing outlives the generation.
type BufferHolder interface {
	ReleaseBuffer(logits []float32)
}

func releaseBuffer(den Denoiser, logits []float32) {
	if h, ok := den.(BufferHolder); ok {
		h.ReleaseBuffer(logits)
	}
}

// closedFlag is set by Model.Close; generations of the model check it before every step.
type closedFlag = atomic.Bool

// The ONNX Runtime backend has both capabilities.
var (
	_ Deterministic = (*onnxDenoiser)(nil)
	_ BufferHolder  = (*onnxDenoiser)(nil)
)
