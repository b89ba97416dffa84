//go:build !cgo

package onnx

import "context"

// ForwardOutputs always fails without cgo.
func (*Session) ForwardOutputs(context.Context, []int64, []int64, int, int, ...string) ([]Output, error) {
	return nil, ErrNoCGO
}
