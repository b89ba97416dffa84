// Package gomlx runs llada models on GoMLX (github.com/gomlx/gomlx): the same model.onnx as the ONNX Runtime
// backend, converted by onnx-gomlx and compiled per input shape.
//
// Two devices:
//
//   - DeviceCPU (default): GoMLX's pure-Go backend. No cgo, no shared library; builds with CGO_ENABLED=0.
//     Correct but much slower than ONNX Runtime on the CPU (see BenchmarkForward and the README).
//   - DeviceCUDA: XLA through a PJRT CUDA plugin. Only in builds with -tags pjrt (cgo); the plugin comes from
//     WithPJRTPlugin, $LLADA_PJRT_PLUGIN or GoMLX's search path, and is never downloaded.
//
// Denoiser implements llada.Denoiser; OpenModel assembles a llada.Model with the contract read from the
// model's metadata. Confidence computes the greedy sampler's per-position statistics in the graph so that a GPU
// sends back [rows, seq] values instead of [rows, seq, vocab] logits.
//
// Conversion limits of the pinned onnx-gomlx v0.3.4, handled here: Sigmoid has no converter and is rewritten
// to 1/(1+exp(-x)) before conversion; other unconvertible ops are named by Open; weights stored as ONNX
// external data (models above 2 GB) are read by this package; float16/bfloat16 tensors are not supported by
// the converter.
//
// This is a separate Go module (github.com/llada-go/llada/gomlx) so that the library does not depend on GoMLX.
package gomlx
