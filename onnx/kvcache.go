package onnx

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// The KV-cache extension of the model contract (docs/contract.md, "KV cache"): a graph that runs a contiguous
// run of q positions starting at cache_start against cached keys and values of the whole canvas, the passes of
// Fast-dLLM's prefix and dual caches (NVlabs/Fast-dLLM, llada/generate.py, generate_with_prefix_cache and
// generate_with_dual_cache).
//
//	inputs   input_ids [B, q] int64, attention_mask [B, seq] int64 (over the keys),
//	         past_keys / past_values [layers, B, kv_heads, seq, head_dim] float32 (keys after RoPE),
//	         cache_start [1] int64
//	outputs  logits [B, q, V], present_keys / present_values: past with [start, start+q) recomputed
//
// A refresh is start 0, q = seq: every cached entry is replaced, so its past may hold anything.
const (
	PastKeys      = "past_keys"
	PastValues    = "past_values"
	CacheStart    = "cache_start"
	PresentKeys   = "present_keys"
	PresentValues = "present_values"
	// MetaKVCache lists the cache modes the file serves ("prefix,dual"); MetaKVCache + ".layers",
	// ".kv_heads" and ".head_dim" give the cache geometry.
	MetaKVCache = "llada.kv_cache"
)

// KVCacheInfo is the cache a model advertises.
type KVCacheInfo struct {
	Modes   []string `json:"modes"` // the llada.kv_cache list, for example [prefix dual]
	Layers  int      `json:"layers"`
	KVHeads int      `json:"kv_heads"`
	HeadDim int      `json:"head_dim"`
}

// cacheSignature reports whether the model has the KV-cache inputs and outputs, and an error when it has only
// some of them: a graph that takes a cache must return one, or a cached pass would have nothing to reuse.
func cacheSignature(inputs, outputs []TensorInfo) (bool, error) {
	has := func(ts []TensorInfo, name string) bool {
		return slices.ContainsFunc(ts, func(t TensorInfo) bool { return t.Name == name })
	}
	var present, missing []string
	for _, n := range []string{PastKeys, PastValues, CacheStart} {
		if has(inputs, n) {
			present = append(present, "input "+n)
		} else {
			missing = append(missing, "input "+n)
		}
	}
	for _, n := range []string{PresentKeys, PresentValues} {
		if has(outputs, n) {
			present = append(present, "output "+n)
		} else {
			missing = append(missing, "output "+n)
		}
	}
	switch {
	case len(present) == 0:
		return false, nil
	case len(missing) > 0:
		return false, fmt.Errorf("KV-cache extension incomplete: the model has %s but lacks %s",
			strings.Join(present, ", "), strings.Join(missing, ", "))
	}
	for _, o := range outputs {
		if (o.Name == PresentKeys || o.Name == PresentValues) && (o.ElementType != "float32" || len(o.Shape) != 5) {
			return false, fmt.Errorf("output %q: want float32 of rank 5, got %s of rank %d", o.Name, o.ElementType, len(o.Shape))
		}
	}
	return true, nil
}

// parseKVCache reads the llada.kv_cache metadata of a model whose graph has the cache signature, and checks the
// geometry against the static dimensions of past_keys (dynamic ones are taken on trust).
func parseKVCache(meta map[string]string, inputs []TensorInfo) (KVCacheInfo, error) {
	var info KVCacheInfo
	modes, ok := meta[MetaKVCache]
	if !ok {
		return info, fmt.Errorf("the graph has the KV-cache inputs but the metadata has no %s (want %q)", MetaKVCache, "prefix,dual")
	}
	for _, m := range strings.Split(modes, ",") {
		m = strings.TrimSpace(m)
		if m != "prefix" && m != "dual" {
			return info, fmt.Errorf("%s=%q: unknown mode %q (want prefix and/or dual)", MetaKVCache, modes, m)
		}
		if !slices.Contains(info.Modes, m) {
			info.Modes = append(info.Modes, m)
		}
	}
	for _, f := range []struct {
		key string
		dst *int
	}{{".layers", &info.Layers}, {".kv_heads", &info.KVHeads}, {".head_dim", &info.HeadDim}} {
		v, err := strconv.Atoi(meta[MetaKVCache+f.key])
		if err != nil || v <= 0 {
			return info, fmt.Errorf("%s%s=%q: want a positive integer", MetaKVCache, f.key, meta[MetaKVCache+f.key])
		}
		*f.dst = v
	}
	for _, in := range inputs {
		if in.Name != PastKeys && in.Name != PastValues {
			continue
		}
		want := []int{info.Layers, -1, info.KVHeads, -1, info.HeadDim}
		for d, w := range want {
			if w > 0 && in.Shape[d] > 0 && int(in.Shape[d]) != w {
				return info, fmt.Errorf("input %s has shape %s but the metadata says layers=%d kv_heads=%d head_dim=%d",
					in.Name, in, info.Layers, info.KVHeads, info.HeadDim)
			}
		}
	}
	return info, nil
}
