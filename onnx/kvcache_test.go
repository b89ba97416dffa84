package onnx

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSignatureKVCache(t *testing.T) {
	cache5 := []int64{2, -1, 2, -1, 8}
	ins := []TensorInfo{{InputIDs, "int64", []int64{-1, -1}}, {AttentionMask, "int64", []int64{-1, -1}},
		{PastKeys, "float32", cache5}, {PastValues, "float32", cache5}, {CacheStart, "int64", []int64{1}}}
	outs := []TensorInfo{{Logits, "float32", []int64{-1, -1, 48}}, {PresentKeys, "float32", cache5}, {PresentValues, "float32", cache5}}
	for _, tc := range []struct {
		name    string
		ins     []TensorInfo
		outs    []TensorInfo
		cache   bool
		wantErr string
	}{
		{"complete", ins, outs, true, ""},
		{"plain", ins[:2], outs[:1], false, ""},
		{"no present", ins, outs[:1], false, "lacks output present_keys, output present_values"},
		{"no cache_start", ins[:4], outs, false, "lacks input cache_start"},
		{"past rank 4", append(append([]TensorInfo(nil), ins[:2]...), TensorInfo{PastKeys, "float32", []int64{2, 1, 2, 8}}, ins[3], ins[4]), outs, false,
			`input "past_keys": want float32 of rank 5`},
		{"with window", append(append([]TensorInfo(nil), ins...), TensorInfo{LogitsWindow, "int64", []int64{2}}), outs, false,
			"cannot be combined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sig, err := validateSignature(tc.ins, tc.outs)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.cache, sig.hasCache)
		})
	}
}

func TestParseKVCacheMetadata(t *testing.T) {
	ins := []TensorInfo{{PastKeys, "float32", []int64{2, -1, 2, -1, 8}}}
	good := map[string]string{MetaKVCache: "prefix,dual", MetaKVCache + ".layers": "2", MetaKVCache + ".kv_heads": "2",
		MetaKVCache + ".head_dim": "8"}
	info, err := parseKVCache(good, ins)
	require.NoError(t, err)
	assert.Equal(t, KVCacheInfo{Modes: []string{"prefix", "dual"}, Layers: 2, KVHeads: 2, HeadDim: 8}, info)

	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range good {
			m[a] = b
		}
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		meta    map[string]string
		wantErr string
	}{
		{with(MetaKVCache, ""), "metadata has no llada.kv_cache"},
		{with(MetaKVCache, "prefix,triple"), `unknown mode "triple"`},
		{with(MetaKVCache+".layers", "x"), `llada.kv_cache.layers="x"`},
		{with(MetaKVCache+".head_dim", "0"), "want a positive integer"},
		{with(MetaKVCache+".layers", "3"), "but the metadata says layers=3"},
	} {
		_, err := parseKVCache(tc.meta, ins)
		require.ErrorContains(t, err, tc.wantErr)
	}
}
