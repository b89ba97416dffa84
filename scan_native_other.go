//go:build !cgo || !amd64

package llada

// nativeKernels is nil without cgo or off amd64: scoring runs the pure-Go pass.
func nativeKernels() scanKernels { return nil }
