//go:build !cgo

package onnx

import "context"

// KVCache is unavailable without cgo; see ErrNoCGO.
type KVCache struct{}

// HasKVCache is always false without cgo.
func (*Session) HasKVCache() bool { return false }

// KVCache always reports no cache without cgo.
func (*Session) KVCache() (KVCacheInfo, bool) { return KVCacheInfo{}, false }

// NewKVCache always fails without cgo.
func (*Session) NewKVCache(int, int) (*KVCache, error) { return nil, ErrNoCGO }

// ForwardCached always fails without cgo.
func (*Session) ForwardCached(context.Context, *KVCache, []int64, []int64, int, int, []float32) error {
	return ErrNoCGO
}

func (*KVCache) Rows() int      { return 0 }
func (*KVCache) Seq() int       { return 0 }
func (*KVCache) Filled() bool   { return false }
func (*KVCache) Invalidate()    {}
func (*KVCache) ReleaseBuffer() {}
func (*KVCache) Close() error   { return nil }
