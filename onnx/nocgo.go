//go:build !cgo

package onnx

import (
	"context"
	"errors"
)

// ErrNoCGO is returned by every entry point of a build without cgo: onnxruntime_go loads ONNX Runtime through
// cgo. The rest of llada (tokenizer, samplers, schedules) builds and works without it.
var ErrNoCGO = errors.New("onnx: this binary was built with CGO_ENABLED=0; ONNX Runtime needs cgo (rebuild with CGO_ENABLED=1)")

// Session is unavailable without cgo; see ErrNoCGO.
type Session struct{}

// Open always fails without cgo.
func Open(string, ...Option) (*Session, error) { return nil, ErrNoCGO }

// OpenBytes always fails without cgo.
func OpenBytes([]byte, ...Option) (*Session, error) { return nil, ErrNoCGO }

// LoadedLibrary is always "" without cgo.
func LoadedLibrary() string { return "" }

func (*Session) Metadata() map[string]string { return nil }
func (*Session) Inputs() []TensorInfo        { return nil }
func (*Session) Outputs() []TensorInfo       { return nil }
func (*Session) HasAttentionMask() bool      { return false }
func (*Session) VocabSize() int              { return 0 }
func (*Session) Library() string             { return "" }
func (*Session) Close() error                { return nil }

func (*Session) Forward(context.Context, []int64, []int64, int, int, []float32) error {
	return ErrNoCGO
}

// ReleaseBuffer does nothing without cgo.
func (*Session) ReleaseBuffer([]float32) {}
