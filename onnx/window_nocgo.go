//go:build !cgo

package onnx

import "context"

// HasLogitsWindow is always false without cgo.
func (*Session) HasLogitsWindow() bool { return false }

// ForwardWindow always fails without cgo.
func (*Session) ForwardWindow(context.Context, []int64, []int64, int, int, int, int, []float32) error {
	return ErrNoCGO
}
