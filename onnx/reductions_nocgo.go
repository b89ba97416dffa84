//go:build !cgo

package onnx

import "context"

// ForwardReductions always fails without cgo.
func (*Session) ForwardReductions(context.Context, []int64, []int64, int, int, int, int, *Reductions) error {
	return ErrNoCGO
}
