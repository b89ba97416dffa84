package gomlx

import (
	"sync"

	mlctx "github.com/gomlx/gomlx/pkg/ml/context"
)

type graphKind int

const (
	kindLogits graphKind = iota
	kindConfidence
)

// shapeKey names one compiled executable: GoMLX compiles a graph per input shape.
type shapeKey struct {
	kind      graphKind
	rows, seq int
}

// shapeCache keeps at most max compiled executables, dropping the least recently used.
type shapeCache struct {
	mu    sync.Mutex
	max   int
	tick  uint64
	items map[shapeKey]*cacheItem
}

type cacheItem struct {
	exec *mlctx.Exec
	used uint64
}

func newShapeCache(max int) *shapeCache {
	return &shapeCache{max: max, items: map[shapeKey]*cacheItem{}}
}

func (c *shapeCache) get(k shapeKey) *mlctx.Exec {
	c.mu.Lock()
	defer c.mu.Unlock()
	it := c.items[k]
	if it == nil {
		return nil
	}
	c.tick++
	it.used = c.tick
	return it.exec
}

// put adds an executable, evicting the least recently used one past the bound. An evicted executable is
// only dropped from the cache, not finalized: a Forward in flight may still hold it, and the garbage
// collector frees it after that.
func (c *shapeCache) put(k shapeKey, e *mlctx.Exec) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tick++
	c.items[k] = &cacheItem{exec: e, used: c.tick}
	for len(c.items) > c.max {
		var oldest shapeKey
		first := true
		for key, it := range c.items {
			if first || it.used < c.items[oldest].used {
				oldest, first = key, false
			}
		}
		delete(c.items, oldest)
	}
}

func (c *shapeCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}

// clear finalizes every executable; the caller guarantees none is running.
func (c *shapeCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, it := range c.items {
		it.exec.Finalize()
		delete(c.items, k)
	}
}
