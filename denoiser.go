package llada

import "context"

// Batch is one forward pass worth of token ids: Batch rows of Seq tokens each, row-major.
//
// Attention, when non-nil, has the same shape and holds 1 for real tokens and 0 for left padding.
type Batch struct {
	IDs       []int64
	Attention []int64
	Rows      int
	Seq       int
}

// Denoiser is the network: given a (partially masked) canvas it returns logits over the vocabulary for every
// position. Backends (ONNX Runtime in package onnx, test doubles, a future GPU backend) implement it; a
// Denoiser knows nothing about samplers.
type Denoiser interface {
	// Forward writes float32 logits of shape [Rows, Seq, VocabSize()] into logits, which the caller sizes.
	// Implementations must honour ctx cancellation, also while the network runs where the backend allows it.
	Forward(ctx context.Context, in Batch, logits []float32) error
	// VocabSize is the last dimension of the logits.
	VocabSize() int
}
