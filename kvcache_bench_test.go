package llada_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/llada-go/llada"
)

const kvModelEnv = "LLADA_KV_MODEL"

// BenchmarkKVCache times Fast-dLLM's caches against uncached decoding on a cached-graph model, for the
// low-confidence sampler at k tokens per step (steps = gen_length / k) and fast-dllm-threshold (tau 0.9). Per
// mode it reports ms/step (a step is one denoising step, its forward pass included), tokens/s, NFE (forward
// passes of one generation, refreshes included) and agree_% (generated tokens equal to the uncached decoding's,
// position by position: the caches are approximations).
//
// Without LLADA_KV_MODEL it runs on testdata/kvcache (prompt 16, gen_length 64, block 16: a CI-size check that
// the benchmark works). With it, on that model directory at gen_length 256, block 32, prompt 16, for example the
// realistic-width or Brown cached variants of export/README.md ("KV-cache variants"):
//
//	LLADA_KV_MODEL=/tmp/brown-kv LLADA_BENCH_THREADS=2 go test -run '^$' -bench BenchmarkKVCache -benchtime 2x -cpu 2 .
//
// LLADA_KV_K sets k (default 2), LLADA_KV_GEN the generation length, LLADA_KV_SAMPLERS=lowconf or threshold
// runs one sampler only (a random-weight model never reaches tau, so threshold decoding is one token per pass). LLADA_KV_PLAIN=DIR adds a run of the plain
// graph of the same weights (for example models/brown), reported as cache=plain, so that the refresh graph's
// own cost (mode none on the cached file) can be told apart.
func BenchmarkKVCache(b *testing.B) {
	dir, gen, block := filepath.Join("testdata", "kvcache"), 64, 16
	if d := os.Getenv(kvModelEnv); d != "" {
		dir, gen, block = d, 256, 32
	}
	if v := os.Getenv("LLADA_KV_GEN"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n%block != 0 {
			b.Fatalf("LLADA_KV_GEN=%q: want a positive multiple of the block length %d", v, block)
		}
		gen = n
	}
	k := 2
	if v := os.Getenv("LLADA_KV_K"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || block%n != 0 {
			b.Fatalf("LLADA_KV_K=%q: want a positive divisor of the block length %d", v, block)
		}
		k = n
	}
	threads, _ := strconv.Atoi(os.Getenv("LLADA_BENCH_THREADS"))
	m, err := llada.Open(dir, llada.WithIntraOpThreads(threads), llada.WithThreadSpinning(false))
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	var plain *llada.Model
	if d := os.Getenv("LLADA_KV_PLAIN"); d != "" {
		if plain, err = llada.Open(d, llada.WithIntraOpThreads(threads), llada.WithThreadSpinning(false)); err != nil {
			b.Fatal(err)
		}
		defer plain.Close()
	}
	c := m.Contract()
	// A fixed prompt of 16 ordinary ids spread over the vocabulary (special ids skipped), so any model serves.
	special := func(id int) bool {
		return id == c.MaskID || id == c.EOSID || id == c.PadID || id == c.EOTID || id == c.BOSID
	}
	var prompt []int
	for i := 0; len(prompt) < 16 && i < 16*c.VocabSize; i++ {
		if id := 2 + (i*7)%(c.VocabSize-2); !special(id) {
			prompt = append(prompt, id)
		}
	}
	only := os.Getenv("LLADA_KV_SAMPLERS")
	if only != "" && only != "lowconf" && only != "threshold" {
		b.Fatalf("LLADA_KV_SAMPLERS=%q: want lowconf or threshold", only)
	}
	threshold := llada.SamplerByName("fast-dllm-threshold")
	for _, smp := range []struct {
		key, name string
		steps     int
		s         llada.Sampler
	}{
		{"lowconf", fmt.Sprintf("lowconf-k%d", k), gen / k, llada.Sampler{}},
		{"threshold", "threshold0.9", gen, threshold},
	} {
		if only != "" && only != smp.key {
			continue
		}
		var uncached []int
		for _, mode := range []llada.CacheMode{-1, llada.CacheNone, llada.CachePrefix, llada.CacheDual} {
			model, label := m, mode.String()
			if mode < 0 {
				if plain == nil {
					continue
				}
				model, label, mode = plain, "plain", llada.CacheNone
			}
			b.Run(fmt.Sprintf("gen=%d/%s/cache=%s", gen, smp.name, label), func(b *testing.B) {
				cfg := llada.GenerateConfig{GenLength: gen, BlockLength: block, Steps: smp.steps, Sampler: smp.s, Cache: mode}
				// One untimed generation first: ONNX Runtime's first runs of a shape are slow.
				for _, err := range model.Stream(context.Background(), [][]int{prompt}, cfg) {
					if err != nil {
						b.Fatal(err)
					}
				}
				var steps, nfe int
				var ids []int
				var elapsed time.Duration
				for b.Loop() {
					start := time.Now()
					for st, err := range model.Stream(context.Background(), [][]int{prompt}, cfg) {
						if err != nil {
							b.Fatal(err)
						}
						steps++
						nfe = st.NFE
						ids = append(ids[:0], st.Canvas[st.PromptLen:st.Seq]...)
					}
					elapsed += time.Since(start)
				}
				if label == "none" {
					uncached = append([]int(nil), ids...)
				}
				runs := float64(b.N)
				b.ReportMetric(elapsed.Seconds()*1000/float64(steps), "ms/step")
				b.ReportMetric(float64(gen)*runs/elapsed.Seconds(), "tokens/s")
				b.ReportMetric(float64(nfe), "NFE")
				if len(uncached) == len(ids) {
					same := 0
					for i := range ids {
						if ids[i] == uncached[i] {
							same++
						}
					}
					b.ReportMetric(100*float64(same)/float64(len(ids)), "agree_%")
				}
			})
		}
	}
}
