//go:build cgo

package onnx

import "unsafe"

// ReleaseBuffer drops every reference the session's idle cached tensors hold to logits, a buffer earlier
// Forward calls wrote into, so that nothing in the session pins it once the caller is done with it (for
// LLaDA-8B with guidance such a buffer is hundreds of MB). The next Forward with the same buffer binds it
// again, which costs one small tensor allocation. llada's step loop calls it when a generation ends.
func (s *Session) ReleaseBuffer(logits []float32) {
	if len(logits) == 0 {
		return
	}
	p := unsafe.SliceData(logits)
	s.poolMu.Lock()
	defer s.poolMu.Unlock()
	for _, b := range s.pool {
		if b.out != nil && b.outPtr == p {
			b.unbindOutput()
		}
	}
	for _, c := range s.plain {
		c.ReleaseBuffer()
	}
}

// holdsBuffer reports whether an idle binding still wraps logits (for tests).
func (s *Session) holdsBuffer(logits []float32) bool {
	p := unsafe.SliceData(logits)
	s.poolMu.Lock()
	defer s.poolMu.Unlock()
	for _, b := range s.pool {
		if b.outPtr == p || (b.out != nil && unsafe.SliceData(b.out.GetData()) == p) {
			return true
		}
	}
	return false
}

// unbindOutput destroys the output tensor wrapped around a caller's slice and clears the IoBinding's copy of
// it, so no Go or ONNX Runtime reference to the slice remains.
func (b *binding) unbindOutput() {
	if b.io != nil {
		b.io.ClearBoundOutputs()
	}
	if b.out != nil {
		_ = b.out.Destroy()
	}
	b.out, b.outPtr, b.outLen = nil, nil, 0
	b.outputs[0] = nil
}
