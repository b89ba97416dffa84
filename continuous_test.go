package llada

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// continuousMeta is the metadata of a small continuous model (vocab 16, dim 4) whose embeddings.bin is emb.
func continuousMeta(emb []byte) map[string]string {
	sum := sha256.Sum256(emb)
	return map[string]string{
		"llada.contract": "1", "llada.family": "continuous", "llada.vocab_size": "16", "llada.max_seq_len": "64",
		"llada.logits_shift": "0", "llada.eos_token_id": "1", "llada.pad_token_id": "2", "llada.mask_token_id": "15",
		"llada.continuous.embed_dim": "4", "llada.continuous.embedding_norm": "sqrt_dim",
		"llada.continuous.embeddings_sha256": hex.EncodeToString(sum[:]), "llada.continuous.prediction": "logits",
		"llada.continuous.process": "ve", "llada.continuous.time": "sigma", "llada.continuous.schedule": "ve",
		"llada.continuous.sigma_min": "0.1", "llada.continuous.sigma_max": "20",
		"llada.continuous.self_conditioning": "1",
	}
}

// testEmbeddings builds embeddings.bin for vocab 16, dim 4: row v is 2*e_{v mod 4} (norm 2 = sqrt(4)), with the
// sign flipped for v >= 4 and a small tilt so that rows differ.
func testEmbeddings() []byte {
	const v, d = 16, 4
	buf := append([]byte(embeddingsMagic), make([]byte, 16+4*v*d)...)
	le := binary.LittleEndian
	le.PutUint32(buf[8:], 1)
	le.PutUint32(buf[12:], v)
	le.PutUint32(buf[16:], d)
	le.PutUint32(buf[20:], 1)
	for r := 0; r < v; r++ {
		row := make([]float64, d)
		row[r%d] = 1
		row[(r+1)%d] = 0.1 * float64(r/d)
		n := 0.0
		for _, x := range row {
			n += x * x
		}
		for j, x := range row {
			le.PutUint32(buf[24+4*(r*d+j):], math.Float32bits(float32(2*x/math.Sqrt(n))))
		}
	}
	return buf
}

// fixedContinuous is a ContinuousDenoiser test double: every position's logits favour token `tok` by `margin`
// (with margin 1000 the softmax is exactly one-hot in float64), and it records its inputs.
type fixedContinuous struct {
	vocab, tok int
	margin     float32
	nanAt      int // flat position whose logits are NaN (-1: none)
	calls      []ContinuousBatch
}

func (f *fixedContinuous) VocabSize() int { return f.vocab }

func (f *fixedContinuous) ForwardContinuous(ctx context.Context, in ContinuousBatch, logits []float32) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	cp := in
	cp.X = append([]float32(nil), in.X...)
	cp.Timestep = append([]float32(nil), in.Timestep...)
	f.calls = append(f.calls, cp)
	for k := 0; k < in.Rows*in.Seq; k++ {
		for v := 0; v < f.vocab; v++ {
			l := float32(0)
			if v != f.tok {
				l = -f.margin
			}
			if k == f.nanAt {
				l = float32(math.NaN())
			}
			logits[k*f.vocab+v] = l
		}
	}
	return nil
}

func newTestContinuous(t *testing.T, den *fixedContinuous) *Model {
	t.Helper()
	emb := testEmbeddings()
	c, err := ParseContract(continuousMeta(emb))
	require.NoError(t, err)
	e, err := ParseEmbeddings(emb, c)
	require.NoError(t, err)
	tok, err := LoadTokenizer(filepath.Join("testdata", "continuous-tiny", TokenizerFile))
	require.NoError(t, err)
	c.VocabSize, c.EOSID = 16, 1
	m, err := NewContinuous(den, e, tokLimit{tok, 16}, c)
	require.NoError(t, err)
	return m
}

// tokLimit reports a smaller vocabulary so the 64-token test tokenizer fits a 16-token test model.
type tokLimit struct {
	Tokenizer
	n int
}

func (t tokLimit) VocabSize() int { return t.n }

func TestContinuousContractParses(t *testing.T) {
	c, err := ParseContract(continuousMeta(testEmbeddings()))
	require.NoError(t, err)
	require.NotNil(t, c.Continuous)
	assert.Equal(t, FamilyContinuous, c.Family)
	assert.Equal(t, 15, c.MaskID)
	assert.Equal(t, 4, c.Continuous.EmbedDim)
	assert.Equal(t, NoiseVE, c.Continuous.Schedule.Kind)
	assert.Equal(t, 20.0, c.Continuous.Schedule.SigmaMax)
	assert.True(t, c.Continuous.SelfConditioning)

	meta := continuousMeta(testEmbeddings())
	delete(meta, "llada.mask_token_id")
	c, err = ParseContract(meta)
	require.NoError(t, err, "the mask id is optional for continuous models")
	assert.Equal(t, -1, c.MaskID)
}

func TestContinuousContractBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(m map[string]string)
		want string
	}{
		{"missing embed_dim", func(m map[string]string) { delete(m, "llada.continuous.embed_dim") }, `missing metadata key "llada.continuous.embed_dim"`},
		{"missing embeddings hash", func(m map[string]string) { delete(m, "llada.continuous.embeddings_sha256") }, `"llada.continuous.embeddings_sha256"`},
		{"bad hash", func(m map[string]string) { m["llada.continuous.embeddings_sha256"] = "xyz" }, "not a hex SHA-256"},
		{"unknown process", func(m map[string]string) { m["llada.continuous.process"] = "flow" }, `"llada.continuous.process" = "flow"`},
		{"unknown prediction", func(m map[string]string) { m["llada.continuous.prediction"] = "eps" }, `"llada.continuous.prediction" = "eps"`},
		{"missing sigma_max", func(m map[string]string) { delete(m, "llada.continuous.sigma_max") }, `"llada.continuous.sigma_max"`},
		{"NaN sigma_max", func(m map[string]string) { m["llada.continuous.sigma_max"] = "NaN" }, "not a finite number"},
		{"non-monotone table", func(m map[string]string) {
			m["llada.continuous.schedule"] = "tabulated"
			m["llada.continuous.schedule_table"] = "[[0, 0.1], [0.5, 3], [0.7, 2], [1, 20]]"
		}, "not monotone at point 2"},
		{"table not JSON", func(m map[string]string) {
			m["llada.continuous.schedule"] = "tabulated"
			m["llada.continuous.schedule_table"] = "0:0.1,1:20"
		}, "not a JSON list"},
		{"unknown family", func(m map[string]string) { m["llada.family"] = "flow" }, `llada.family = "flow" is not supported`},
		{"t without a schedule", func(m map[string]string) {
			delete(m, "llada.continuous.schedule")
			m["llada.continuous.time"] = "t"
		}, "needs llada.continuous.schedule"},
		{"unknown schedule", func(m map[string]string) { m["llada.continuous.schedule"] = "quadratic" }, `"llada.continuous.schedule" = "quadratic"`},
		{"bad self_conditioning", func(m map[string]string) { m["llada.continuous.self_conditioning"] = "yes" }, "self_conditioning"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			meta := continuousMeta(testEmbeddings())
			tc.edit(meta)
			_, err := ParseContract(meta)
			assert.ErrorContains(t, err, tc.want)
		})
	}
	// masked models keep their required mask id
	meta := continuousMeta(testEmbeddings())
	meta["llada.family"] = "masked"
	delete(meta, "llada.mask_token_id")
	_, err := ParseContract(meta)
	assert.ErrorContains(t, err, `missing metadata key "llada.mask_token_id"`)
}

func TestEmbeddingsBadInput(t *testing.T) {
	good := testEmbeddings()
	c, err := ParseContract(continuousMeta(good))
	require.NoError(t, err)
	rehash := func(b []byte) Contract {
		cc := *c.Continuous
		sum := sha256.Sum256(b)
		cc.EmbeddingsSHA256 = hex.EncodeToString(sum[:])
		c2 := c
		c2.Continuous = &cc
		return c2
	}
	for _, tc := range []struct {
		name string
		data func() []byte
		want string
	}{
		{"empty", func() []byte { return nil }, "not an embedding table"},
		{"bad magic", func() []byte { b := append([]byte(nil), good...); b[0] = 'X'; return b }, "not an embedding table"},
		{"truncated", func() []byte { return good[:len(good)-4] }, "bytes, want"},
		{"wrong dim", func() []byte {
			b := append([]byte(nil), good...)
			binary.LittleEndian.PutUint32(b[16:], 8)
			return b
		}, "shape [16, 8]"},
		{"wrong dtype", func() []byte {
			b := append([]byte(nil), good...)
			binary.LittleEndian.PutUint32(b[20:], 2)
			return b
		}, "dtype 2"},
		{"NaN", func() []byte {
			b := append([]byte(nil), good...)
			binary.LittleEndian.PutUint32(b[24+4*5:], math.Float32bits(float32(math.NaN())))
			return b
		}, "value 5 (row 1) is NaN"},
		{"norm", func() []byte {
			b := append([]byte(nil), good...)
			binary.LittleEndian.PutUint32(b[24:], math.Float32bits(3))
			return b
		}, "row 0 has norm"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.data()
			_, err := ParseEmbeddings(b, rehash(b))
			assert.ErrorContains(t, err, tc.want)
		})
	}
	t.Run("hash mismatch", func(t *testing.T) {
		b := append([]byte(nil), good...)
		binary.LittleEndian.PutUint32(b[24:], math.Float32bits(-2))
		_, err := ParseEmbeddings(b, c)
		assert.ErrorContains(t, err, "belongs to another graph")
	})
}

func TestContinuousModelDirectoryBadInput(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{ModelFile, TokenizerFile} {
		b, err := os.ReadFile(filepath.Join("testdata", "continuous-tiny", f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), b, 0o644))
	}
	_, err := Open(dir)
	require.ErrorContains(t, err, "continuous model without its embedding table")
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestSamplerFamilyMismatch(t *testing.T) {
	m := newTestContinuous(t, &fixedContinuous{vocab: 16, tok: 3, margin: 1000, nanAt: -1})
	_, err := m.GenerateIDs(context.Background(), [][]int{{4, 5}}, GenerateConfig{GenLength: 4, Sampler: SamplerByName("llada-low-confidence")})
	require.ErrorIs(t, err, ErrInvalidConfig)
	assert.ErrorContains(t, err, "this continuous model supports ddim, ddpm, dpm-solver++, euler, heun")

	// and the reverse: a masked model asked for a continuous sampler
	den := &tableDenoiser{vocab: 16, fill: func(ids, att []int64, pos int, out []float32) {}}
	for _, err := range Stream(context.Background(), den, testContract(16), [][]int{{4}}, GenerateConfig{GenLength: 4, Sampler: SamplerByName("ddim")}) {
		require.ErrorIs(t, err, ErrInvalidConfig)
		assert.ErrorContains(t, err, `sampler "ddim" is a continuous-diffusion sampler; this masked model supports`)
		assert.ErrorContains(t, err, "llada-low-confidence")
		break
	}
}

func TestContinuousConfigBadInput(t *testing.T) {
	m := newTestContinuous(t, &fixedContinuous{vocab: 16, tok: 3, margin: 1000, nanAt: -1})
	for _, tc := range []struct {
		cfg  GenerateConfig
		want string
	}{
		{GenerateConfig{GenLength: 4, Temperature: 0.7}, "temperature"},
		{GenerateConfig{GenLength: 4, BlockLength: 2}, "block_length"},
		{GenerateConfig{GenLength: 4, Sampler: Sampler{Name: "euler", Eta: 0.5}}, "eta applies to ddim only"},
		{GenerateConfig{GenLength: 4, Sampler: Sampler{Name: "ddim", Eta: 2}}, "eta 2 must be in [0,1]"},
		{GenerateConfig{GenLength: 4, Sampler: Sampler{Name: "ddim", Continuous: ContinuousOptions{X0: "argmax"}}}, `x0 mode "argmax"`},
		{GenerateConfig{GenLength: 4, Sampler: Sampler{Name: "ddim", Continuous: ContinuousOptions{Noise: []float64{1}}}}, "continuous noise has 1 values"},
		{GenerateConfig{GenLength: 4, Sampler: Sampler{Name: "ddim", Continuous: ContinuousOptions{Schedule: NoiseSchedule{Kind: NoiseTabulated,
			Table: []SchedulePoint{{0, 1}, {1, 0.5}}}}}}, "not monotone"},
		{GenerateConfig{GenLength: 100}, "exceeds the model's max_seq_len"},
		{GenerateConfig{GenLength: 4, Remasking: RemaskRandom}, "masked-sampler setting"},
	} {
		_, err := m.GenerateIDs(context.Background(), [][]int{{4, 5}}, tc.cfg)
		require.ErrorIs(t, err, ErrInvalidConfig, tc.want)
		assert.ErrorContains(t, err, tc.want)
	}
	_, err := m.GenerateIDs(context.Background(), [][]int{{4, 99}}, GenerateConfig{GenLength: 4})
	assert.ErrorContains(t, err, "id 99 outside the vocabulary")
}

func TestContinuousNaNLogitsAndCancel(t *testing.T) {
	m := newTestContinuous(t, &fixedContinuous{vocab: 16, tok: 3, margin: 1000, nanAt: 3})
	_, err := m.GenerateIDs(context.Background(), [][]int{{4, 5}}, GenerateConfig{GenLength: 4, Steps: 2})
	require.ErrorIs(t, err, ErrBadLogits)
	assert.ErrorContains(t, err, "row 0 position 3")

	m = newTestContinuous(t, &fixedContinuous{vocab: 16, tok: 3, margin: 1000, nanAt: -1})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = m.GenerateIDs(ctx, [][]int{{4, 5}}, GenerateConfig{GenLength: 4, Steps: 2})
	require.ErrorIs(t, err, context.Canceled)
}

// TestContinuousStreamSteps checks what the network is fed and what each Step reports: prompt positions clean
// (the prompt's embedding at timestep 0), generated positions at the grid's sigma, the unconditional CFG half with
// the prompt dropped (x = 0 at sigma_max), one forward per step (CFG batched), and a canvas of rounded tokens.
func TestContinuousStreamSteps(t *testing.T) {
	den := &fixedContinuous{vocab: 16, tok: 6, margin: 1000, nanAt: -1}
	m := newTestContinuous(t, den)
	emb := m.Embeddings()
	var steps []Step
	var canvases, committed [][]int
	for st, err := range m.Stream(context.Background(), [][]int{{4, 15, 5}}, GenerateConfig{GenLength: 3, Steps: 3, CFGScale: 1,
		Sampler: SamplerByName("euler")}) {
		require.NoError(t, err)
		steps = append(steps, st)
		canvases = append(canvases, append([]int(nil), st.Canvas...))
		committed = append(committed, append([]int{}, st.Committed[0]...))
	}
	require.Len(t, steps, 3)
	require.Len(t, den.calls, 3, "one batched forward (cond + uncond) per euler step")
	grid := NoiseSchedule{Kind: NoiseVE, SigmaMin: 0.1, SigmaMax: 20}.SigmaGrid(nil, 3, 20)
	for i, call := range den.calls {
		require.Equal(t, 2, call.Rows)
		require.Equal(t, 6, call.Seq)
		for p := 0; p < 6; p++ {
			held := p == 0 || p == 2 // position 1 holds the mask id 15: it is generated (infilling)
			if held {
				assert.Equal(t, float32(0), call.Timestep[p], "held position %d clean", p)
				assert.Equal(t, emb.Row([]int{4, 15, 5}[p]), call.X[p*4:(p+1)*4])
				assert.Equal(t, float32(20), call.Timestep[6+p], "uncond: prompt dropped at sigma_max")
				assert.Equal(t, []float32{0, 0, 0, 0}, call.X[(6+p)*4:(6+p+1)*4])
			} else {
				assert.InDelta(t, grid[i], float64(call.Timestep[p]), 1e-5, "step %d position %d", i, p)
			}
		}
		assert.Equal(t, i+1, steps[i].NFE)
	}
	// the denoiser is certain of token 6, so every generated position rounds to 6 from the first step on
	for i, c := range canvases {
		assert.Equal(t, []int{4, 6, 5, 6, 6, 6}, c, "step %d", i)
	}
	assert.Equal(t, []int{1, 3, 4, 5}, committed[0], "the first step reports every generated position")
	assert.Empty(t, committed[2], "nothing changed on the last step")
}

func TestContinuousStopAtEOS(t *testing.T) {
	m := newTestContinuous(t, &fixedContinuous{vocab: 16, tok: 1, margin: 1000, nanAt: -1}) // EOS everywhere
	smp := SamplerByName("ddim")
	smp.StopAtEOS = true
	var last Step
	for st, err := range m.Stream(context.Background(), [][]int{{4}}, GenerateConfig{GenLength: 4, Steps: 2, Sampler: smp}) {
		require.NoError(t, err)
		last = st
	}
	assert.Equal(t, 2, last.End[0], "one past the first EOS")
}

// TestContinuousGaussianStepLaw checks the stochastic steps by their law. With a denoiser certain of one token,
// D = E[tok] exactly, so one step from x_t at sigma s to s2 must give
// x_s2 = D + sqrt(s2^2 - c^2)/s (x_t - D) + c z, z ~ N(0,1), c = eta s2 sqrt(1 - s2^2/s^2) (eta = 1 for ddpm).
// Over 4096 coordinates the residual's mean and variance are tested (|mean| < 4 c/sqrt(n), variance within 8%).
func TestContinuousGaussianStepLaw(t *testing.T) {
	for _, tc := range []struct {
		name string
		eta  float64
	}{{"ddpm", 1}, {"ddim", 0.5}, {"ddim", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			m := newTestContinuous(t, &fixedContinuous{vocab: 16, tok: 7, margin: 1000, nanAt: -1})
			smp := SamplerByName(tc.name)
			if tc.name == "ddim" {
				smp.Eta = tc.eta
			}
			const gen = 60
			seqRows := 16
			prompts := make([][]int, seqRows)
			for r := range prompts {
				prompts[r] = []int{4}
			}
			g, err := newContGen(m.cont, m.contract, prompts, GenerateConfig{GenLength: gen, Steps: 4, Seed: 9, Sampler: smp})
			require.NoError(t, err)
			s, s2 := g.grid[0], g.grid[1]
			c := tc.eta * s2 * math.Sqrt(1-s2*s2/(s*s))
			dir := math.Sqrt(s2*s2-c*c) / s
			d := m.Embeddings().Row(7)
			xT := make([]float64, len(g.x))
			g.noise = func(i int) float64 { v := g.rng.NormFloat64(); xT[i] = g.grid[0] * v; return v } // record x_T
			var resid []float64
			g.run(context.Background(), func(st Step, err error) bool {
				require.NoError(t, err)
				for k := range g.x {
					if g.held[k/g.dim] {
						continue
					}
					dj := float64(d[k%g.dim])
					resid = append(resid, g.x[k]-(dj+dir*(xT[k]-dj)))
				}
				return false // one step
			})
			n := float64(len(resid))
			require.Equal(t, 16*gen*4, len(resid))
			mean, sq := 0.0, 0.0
			for _, r := range resid {
				mean += r
			}
			mean /= n
			for _, r := range resid {
				sq += (r - mean) * (r - mean)
			}
			variance := sq / (n - 1)
			if c == 0 {
				assert.InDelta(t, 0, math.Sqrt(variance), 1e-9, "eta 0 is deterministic")
				return
			}
			assert.Less(t, math.Abs(mean), 4*c/math.Sqrt(n), "mean of the Gaussian step")
			assert.InEpsilon(t, c*c, variance, 0.08, "variance c^2 = %.4g", c*c)
		})
	}
}

// TestContinuousStepLoopAllocatesNothing: a generation's allocations do not grow with its number of steps
// (buffers, scratch and the worker pool are set up once).
func TestContinuousStepLoopAllocatesNothing(t *testing.T) {
	m := newTestContinuous(t, &fixedContinuous{vocab: 16, tok: 3, margin: 2, nanAt: -1})
	den := &logitsOnlyContinuous{vocab: 16, table: make([]float32, 8*16)}
	for i := range den.table {
		den.table[i] = float32(i%5) - 2
	}
	m.cont.den = den
	for _, name := range ContinuousSamplerNames() {
		allocs := func(steps int) float64 {
			cfg := GenerateConfig{GenLength: 8, Steps: steps, CFGScale: 0.5, Sampler: SamplerByName(name)}
			return testing.AllocsPerRun(3, func() {
				for _, err := range m.Stream(context.Background(), [][]int{{4, 5}, {6}}, cfg) {
					if err != nil {
						t.Fatal(err)
					}
				}
			})
		}
		few, many := allocs(2), allocs(16)
		assert.Equal(t, few, many, "%s: allocations grow with the number of steps (%v for 2, %v for 16)", name, few, many)
	}
}
