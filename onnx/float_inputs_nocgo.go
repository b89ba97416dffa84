//go:build !cgo

package onnx

import "context"

// ContinuousInput is one forward pass of a continuous-family model (see the cgo build).
type ContinuousInput struct {
	X, Timestep, SelfCond []float32
	Attention             []int64
	Rows, Seq             int
}

// ContinuousSession is unavailable without cgo; see ErrNoCGO.
type ContinuousSession struct{}

// OpenContinuous always fails without cgo.
func OpenContinuous(string, ...Option) (*ContinuousSession, error) { return nil, ErrNoCGO }

// OpenContinuousBytes always fails without cgo.
func OpenContinuousBytes([]byte, ...Option) (*ContinuousSession, error) { return nil, ErrNoCGO }

func (*ContinuousSession) Metadata() map[string]string { return nil }
func (*ContinuousSession) EmbedDim() int               { return 0 }
func (*ContinuousSession) VocabSize() int              { return 0 }
func (*ContinuousSession) TimestepRank() int           { return 0 }
func (*ContinuousSession) HasSelfCond() bool           { return false }
func (*ContinuousSession) Inputs() []TensorInfo        { return nil }
func (*ContinuousSession) Outputs() []TensorInfo       { return nil }
func (*ContinuousSession) Close() error                { return nil }

func (*ContinuousSession) Forward(context.Context, ContinuousInput, int, []float32) error {
	return ErrNoCGO
}
