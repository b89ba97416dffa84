package llada

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// kvToy is the arithmetic of a two-layer "transformer" over scalars, small enough to follow by hand, in which
// a stale cache is visible: the layer-1 key of a position depends on the whole canvas (through layer 0), so a
// cached pass that reads layer-1 keys from an earlier refresh computes other logits than a full pass over the
// current canvas. Keys of padded positions (attention 0) are ignored, as the contract's attention_mask does.
type kvToy struct{ vocab int }

func (kvToy) emb(t int64) float64 { return math.Sin(1.7*float64(t) + 0.3) }

// pass computes positions [start, start+n) of one row: it writes their fresh keys into k0 and k1 (the row's
// cache, read at every other position) and their logits into out ([n, vocab]).
func (m kvToy) pass(ids, att []int64, k0, k1 []float64, start, n int, h1 []float64, out []float32) {
	seq := len(ids)
	for q := start; q < start+n; q++ {
		k0[q] = m.emb(ids[q])
	}
	for p := start; p < start+n; p++ {
		h := m.emb(ids[p])
		for q := 0; q < seq; q++ {
			if att == nil || att[q] != 0 {
				h += k0[q] * 0.3 * math.Cos(0.9*float64(p-q)+0.2)
			}
		}
		h1[p] = h
	}
	copy(k1[start:start+n], h1[start:start+n])
	for p := start; p < start+n; p++ {
		o := h1[p]
		for q := 0; q < seq; q++ {
			if att == nil || att[q] != 0 {
				o += k1[q] * 0.5 * math.Sin(0.7*float64(p-q)+0.4)
			}
		}
		row := out[(p-start)*m.vocab : (p-start+1)*m.vocab]
		for v := range row {
			row[v] = float32(3 * math.Cos(o*float64(v+1)*0.37+0.5*float64(v)))
		}
		row[0] = -10 // the mask id of testContract
	}
}

// kvDouble is a CachedDenoiser over kvToy. It records every window it computes and allocates nothing per pass.
type kvDouble struct {
	kvToy
	modes  []CacheMode
	passes [][2]int // (start, n) of every pass; Forward records (0, seq) with n negated
	quiet  bool     // record no pass (an allocation-free double)
	fail   error    // returned by the next ForwardCached when set
	closed int
}

type kvDoubleCache struct {
	d          *kvDouble
	rows, seq  int
	k0, k1, h1 []float64
	closed     bool
}

func (c *kvDoubleCache) Close() error {
	if !c.closed {
		c.closed = true
		c.d.closed++
	}
	return nil
}

func (d *kvDouble) VocabSize() int                    { return d.vocab }
func (d *kvDouble) Deterministic() bool               { return true }
func (d *kvDouble) SupportsCache(mode CacheMode) bool { return slices.Contains(d.modes, mode) }

func (d *kvDouble) NewCache(rows, seq int) (DenoiserCache, error) {
	n := rows * seq
	return &kvDoubleCache{d: d, rows: rows, seq: seq, k0: make([]float64, n), k1: make([]float64, n), h1: make([]float64, seq)}, nil
}

func (d *kvDouble) Forward(ctx context.Context, in Batch, logits []float32) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d.passes = append(d.passes, [2]int{0, -in.Seq})
	c, _ := d.NewCache(in.Rows, in.Seq)
	return d.run(c.(*kvDoubleCache), in, 0, in.Seq, logits)
}

func (d *kvDouble) ForwardCached(ctx context.Context, cache DenoiserCache, in Batch, start, n int, logits []float32) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d.fail != nil {
		return d.fail
	}
	c := cache.(*kvDoubleCache)
	if c.closed || c.rows != in.Rows || c.seq != in.Seq || start < 0 || n <= 0 || start+n > in.Seq {
		return fmt.Errorf("kvDouble: bad cached pass rows=%d seq=%d window [%d,%d)", in.Rows, in.Seq, start, start+n)
	}
	if !d.quiet {
		d.passes = append(d.passes, [2]int{start, n})
	}
	return d.run(c, in, start, n, logits)
}

func (d *kvDouble) run(c *kvDoubleCache, in Batch, start, n int, logits []float32) error {
	v := d.vocab
	for r := 0; r < in.Rows; r++ {
		b := r * in.Seq
		var att []int64
		if in.Attention != nil {
			att = in.Attention[b : b+in.Seq]
		}
		d.pass(in.IDs[b:b+in.Seq], att, c.k0[b:b+in.Seq], c.k1[b:b+in.Seq], start, n, c.h1,
			logits[(b+start)*v:(b+start+n)*v])
	}
	return nil
}

// fastDLLM is an independent, plain re-statement of Fast-dLLM's loops (NVlabs/Fast-dLLM llada/generate.py:
// generate, generate_with_prefix_cache, generate_with_dual_cache) over kvToy, one row, temperature 0: per
// block a refresh whose logits commit first, then cached passes over [lo, seq) or [lo, hi) until the block has
// no mask. rule is "quota" (low confidence with get_num_transfer_tokens), "threshold" (tau) or "factor" (f).
// It returns the canvas and the passes run (a pass after the block is full is not run, see docs).
func fastDLLM(m kvToy, prompt []int64, genLen, blockLen, steps int, mode CacheMode, rule string, knob float64) ([]int64, int) {
	const mask = 0
	seq := len(prompt) + genLen
	x := append(slices.Clone(prompt), make([]int64, genLen)...)
	k0, k1, h1 := make([]float64, seq), make([]float64, seq), make([]float64, seq)
	logits := make([]float32, seq*m.vocab)
	nfe := 0
	per := steps / (genLen / blockLen)
	for lo := len(prompt); lo < seq; lo += blockLen {
		hi := lo + blockLen
		quota := make([]int, per)
		for i := range quota {
			quota[i] = blockLen / per
			if i < blockLen%per {
				quota[i]++
			}
		}
		for i := 0; slices.Contains(x[lo:hi], mask); i++ {
			start, n := 0, seq
			if i > 0 && mode == CachePrefix {
				start, n = lo, seq-lo
			} else if i > 0 && mode == CacheDual {
				start, n = lo, blockLen
			}
			m.pass(x, nil, k0, k1, start, n, h1, logits[start*m.vocab:])
			nfe++
			type cand struct {
				pos  int
				tok  int64
				conf float64
			}
			var cs []cand
			for p := lo; p < hi; p++ {
				if x[p] != mask {
					continue
				}
				row := logits[p*m.vocab : (p+1)*m.vocab]
				best := 1
				for v := 2; v < m.vocab; v++ {
					if row[v] > row[best] {
						best = v
					}
				}
				z := 0.0
				for _, l := range row {
					z += math.Exp(float64(l - row[best]))
				}
				cs = append(cs, cand{p, int64(best), 1 / z})
			}
			slices.SortStableFunc(cs, func(a, b cand) int {
				if a.conf > b.conf {
					return -1
				} else if a.conf < b.conf {
					return 1
				}
				return 0
			})
			k := 0
			switch rule {
			case "quota":
				k = min(quota[i], len(cs))
			case "threshold":
				for k = 1; k < len(cs) && cs[k].conf >= knob; k++ {
				}
			case "factor":
				for k = 1; k < len(cs) && float64(k+2)*(1-cs[k].conf) <= knob; k++ {
				}
			}
			for _, c := range cs[:k] {
				x[c.pos] = c.tok
			}
		}
	}
	return x, nfe
}

func kvDoubleFor(modes ...CacheMode) *kvDouble {
	return &kvDouble{kvToy: kvToy{vocab: 24}, modes: modes}
}

func TestCacheMatchesFastDLLMLoops(t *testing.T) {
	prompt := []int64{5, 9, 13, 7}
	type out struct {
		ids []int64
		nfe int
	}
	results := map[string]out{}
	for _, rule := range []struct {
		name string
		smp  Sampler
		knob float64
	}{
		{"quota", Sampler{}, 0},
		{"threshold", func() Sampler { s := SamplerByName("fast-dllm-threshold"); s.Threshold = 0.3; return s }(), 0.3},
		{"factor", func() Sampler { s := SamplerByName("fast-dllm-factor"); s.Factor = 2; return s }(), 2},
	} {
		for _, mode := range []CacheMode{CacheNone, CachePrefix, CacheDual} {
			for _, shape := range []struct{ gen, block, steps int }{{12, 4, 6}, {12, 12, 4}, {8, 2, 8}} {
				name := fmt.Sprintf("%s/%s/gen%d-block%d-steps%d", rule.name, mode, shape.gen, shape.block, shape.steps)
				t.Run(name, func(t *testing.T) {
					den := kvDoubleFor(CachePrefix, CacheDual)
					cfg := GenerateConfig{GenLength: shape.gen, BlockLength: shape.block, Steps: shape.steps, Sampler: rule.smp, Cache: mode}
					p := make([]int, len(prompt))
					for i, id := range prompt {
						p[i] = int(id)
					}
					var last Step
					for st, err := range Stream(context.Background(), den, testContract(24), [][]int{p}, cfg) {
						require.NoError(t, err)
						last = st
					}
					wantIDs, wantNFE := fastDLLM(den.kvToy, prompt, shape.gen, shape.block, shape.steps, mode, rule.name, rule.knob)
					got := make([]int64, len(last.Canvas))
					for i, id := range last.Canvas {
						got[i] = int64(id)
					}
					assert.Equal(t, wantIDs, got)
					assert.Equal(t, wantNFE, last.NFE)
					results[name] = out{got, last.NFE}

					// The passes: a refresh (0, seq) at each block's first pass, then the block's windows.
					seq := len(prompt) + shape.gen
					blk := -1
					for i, ps := range den.passes {
						switch {
						case mode == CacheNone:
							assert.Equal(t, [2]int{0, -seq}, ps, "pass %d: uncached runs Forward", i)
						case ps == [2]int{0, seq}:
							blk++
						default:
							lo := len(prompt) + blk*shape.block
							want := [2]int{lo, seq - lo}
							if mode == CacheDual {
								want[1] = shape.block
							}
							assert.Equal(t, want, ps, "pass %d", i)
						}
					}
					if mode != CacheNone {
						assert.Equal(t, shape.gen/shape.block-1, blk, "one refresh per block")
						assert.Equal(t, 1, den.closed, "the cache is closed when the generation ends")
					}
				})
			}
		}
	}
	// The toy's stale caches matter, so the comparison above could fail: some cached runs decode other tokens
	// than the uncached one, and prefix differs from dual somewhere.
	diffNone, diffModes := 0, 0
	for name, r := range results {
		if m := "/prefix/"; strings.Contains(name, m) {
			none := results[strings.Replace(name, m, "/none/", 1)]
			dual := results[strings.Replace(name, m, "/dual/", 1)]
			if !slices.Equal(r.ids, none.ids) {
				diffNone++
			}
			if !slices.Equal(r.ids, dual.ids) {
				diffModes++
			}
		}
	}
	assert.Positive(t, diffNone, "prefix never changed the output: the toy does not show a stale cache")
	assert.Positive(t, diffModes, "prefix and dual never differ")
}

// TestCacheRowsAndPadding: left-padded rows decode as each row alone does (the toy masks padded keys), under
// both caches, with the random order too (its stream is drawn per step as without a cache).
func TestCacheRowsAndPadding(t *testing.T) {
	prompts := [][]int{{5, 9, 13, 7}, {11, 6}}
	for _, mode := range []CacheMode{CachePrefix, CacheDual} {
		for _, rem := range []Remasking{RemaskLowConfidence, RemaskRandom} {
			t.Run(fmt.Sprintf("%s/%s", mode, rem), func(t *testing.T) {
				cfg := GenerateConfig{GenLength: 8, BlockLength: 4, Steps: 4, Remasking: rem, Cache: mode, Seed: 3}
				batch := generateIDs(t, kvDoubleFor(mode), [][]int(prompts), cfg)
				if rem == RemaskRandom {
					require.Len(t, batch, 2)
					return // the random stream depends on the batch; the greedy rows must match single runs
				}
				for r, p := range prompts {
					alone := generateIDs(t, kvDoubleFor(mode), [][]int{p}, cfg)
					assert.Equal(t, alone[0], batch[r], "row %d", r)
				}
			})
		}
	}
}

func generateIDs(t *testing.T, den Denoiser, prompts [][]int, cfg GenerateConfig) [][]int {
	t.Helper()
	var last Step
	for st, err := range Stream(context.Background(), den, testContract(24), prompts, cfg) {
		require.NoError(t, err)
		last = st
	}
	out := make([][]int, last.Rows)
	for r := range out {
		out[r] = slices.Clone(last.Canvas[r*last.Seq+last.PromptLen : (r+1)*last.Seq])
	}
	return out
}

func TestCacheValidation(t *testing.T) {
	ctx := context.Background()
	prompt := [][]int{{5, 9}}
	base := GenerateConfig{GenLength: 8, BlockLength: 4, Steps: 4, Cache: CachePrefix}
	with := func(f func(*GenerateConfig)) GenerateConfig { c := base; f(&c); return c }
	for _, tc := range []struct {
		name    string
		den     Denoiser
		prompts [][]int
		cfg     GenerateConfig
		wantErr string
	}{
		{"plain model", &patternDenoiser{vocab: 24}, prompt, base, "the model has no KV cache"},
		{"mode not served", kvDoubleFor(CachePrefix), prompt, with(func(c *GenerateConfig) { c.Cache = CacheDual }), "cache dual: the model has no KV cache"},
		{"unknown mode", kvDoubleFor(CachePrefix), prompt, with(func(c *GenerateConfig) { c.Cache = 7 }), "cache mode 7 is unknown"},
		{"guidance", kvDoubleFor(CachePrefix), prompt, with(func(c *GenerateConfig) { c.CFGScale = 1 }), "classifier-free guidance"},
		{"editing", kvDoubleFor(CachePrefix), prompt, with(func(c *GenerateConfig) { c.Sampler = SamplerByName("llada2-edit") }), "token editing"},
		{"remdm", kvDoubleFor(CachePrefix), prompt, with(func(c *GenerateConfig) { c.Sampler = SamplerByName("remdm-cap") }), "ReMDM"},
		{"ancestral", kvDoubleFor(CachePrefix), prompt, with(func(c *GenerateConfig) { c.Sampler = SamplerByName("dream-origin") }), `transfer "bernoulli"`},
		{"first hitting", kvDoubleFor(CachePrefix), prompt, with(func(c *GenerateConfig) { c.Sampler = SamplerByName("first-hitting") }), "not a block-wise confidence rule"},
		{"prompt mask", kvDoubleFor(CachePrefix), [][]int{{5, 0, 9}}, base, "holds the mask id at position 1"},
		{"logits shift", kvDoubleFor(CachePrefix), prompt, base, "shifts its logits"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testContract(24)
			if tc.name == "logits shift" {
				c.LogitsShift = true
			}
			var err error
			for _, e := range Stream(ctx, tc.den, c, tc.prompts, tc.cfg) {
				if e != nil {
					err = e
					break
				}
			}
			require.ErrorIs(t, err, ErrInvalidConfig)
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}

func TestCacheModeText(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want CacheMode
	}{{"", CacheNone}, {"none", CacheNone}, {"prefix", CachePrefix}, {"dual", CacheDual}} {
		m, err := ParseCacheMode(tc.in)
		require.NoError(t, err)
		assert.Equal(t, tc.want, m)
	}
	_, err := ParseCacheMode("both")
	require.ErrorContains(t, err, `cache "both" is unknown (want none, prefix, dual)`)
	b, err := CacheDual.MarshalText()
	require.NoError(t, err)
	assert.Equal(t, "dual", string(b))
	var m CacheMode
	require.NoError(t, m.UnmarshalText([]byte("prefix")))
	assert.Equal(t, CachePrefix, m)
	_, err = CacheMode(9).MarshalText()
	require.Error(t, err)
	assert.Equal(t, CacheNone, GenerateConfig{}.Cache, "the zero config has no cache")
}

// TestCacheErrors: a failing cached pass ends the generation with an error naming the pass, cancellation is
// honoured, and the cache is closed either way.
func TestCacheErrors(t *testing.T) {
	cfg := GenerateConfig{GenLength: 8, BlockLength: 4, Steps: 4, Cache: CacheDual}
	den := kvDoubleFor(CacheDual)
	den.fail = errors.New("device lost")
	var err error
	for _, e := range Stream(context.Background(), den, testContract(24), [][]int{{5, 9}}, cfg) {
		if e != nil {
			err = e
		}
	}
	require.ErrorContains(t, err, "forward pass 1 (refresh, window [0,10)): device lost")
	assert.Equal(t, 1, den.closed)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	den = kvDoubleFor(CacheDual)
	n := 0
	for _, e := range Stream(ctx, den, testContract(24), [][]int{{5, 9}}, cfg) {
		if e != nil {
			err = e
			break
		}
		n++
		cancel()
	}
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 1, n)
	assert.Equal(t, 1, den.closed)
}

// TestCacheStepAllocs: the cached step loop allocates nothing per step (mirrors BenchmarkStepLoopAllocs).
func TestCacheStepAllocs(t *testing.T) {
	for _, mode := range []CacheMode{CachePrefix, CacheDual} {
		t.Run(mode.String(), func(t *testing.T) {
			den := kvDoubleFor(mode)
			den.quiet = true
			run := func(steps int) {
				cfg := GenerateConfig{GenLength: 32, Steps: steps, BlockLength: 8, Cache: mode}
				for _, err := range Stream(context.Background(), den, testContract(24), [][]int{{5, 6}, {7}}, cfg) {
					if err != nil {
						t.Fatal(err)
					}
				}
			}
			few := testing.AllocsPerRun(2, func() { run(4) })
			many := testing.AllocsPerRun(2, func() { run(32) })
			assert.LessOrEqual(t, (many-few)/28, 0.0, "allocs per step")
		})
	}
}

// TestCacheEverySupportedPreset: every preset the cache accepts decodes the whole generation with one refresh
// per block followed by cached windows only.
func TestCacheEverySupportedPreset(t *testing.T) {
	for _, name := range []string{"llada-low-confidence", "llada-random", "fast-dllm-threshold", "fast-dllm-factor", "eb", "llada2"} {
		for _, mode := range []CacheMode{CachePrefix, CacheDual} {
			t.Run(name+"/"+mode.String(), func(t *testing.T) {
				den := kvDoubleFor(mode)
				cfg := GenerateConfig{GenLength: 12, BlockLength: 4, Steps: 6, Sampler: SamplerByName(name), Cache: mode, Seed: 1}
				rows := generateIDs(t, den, [][]int{{5, 9, 13}}, cfg)
				assert.NotContains(t, rows[0], 0, "every mask decoded")
				refreshes := 0
				for _, p := range den.passes {
					if p == [2]int{0, 15} {
						refreshes++
						continue
					}
					require.Positive(t, refreshes, "a cached pass before the first refresh")
					lo := 3 + (refreshes-1)*4
					assert.Equal(t, lo, p[0], "window starts at the block of the last refresh")
				}
				assert.Equal(t, 3, refreshes)
			})
		}
	}
}
