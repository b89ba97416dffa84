package llada

import (
	"context"
	"fmt"
	"iter"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
)

// TransferContinuous marks the samplers of the continuous family: they integrate a Gaussian diffusion in
// embedding space instead of committing masked positions.
const TransferContinuous Transfer = "continuous"

// Continuous sampler names (GenerateConfig.Sampler.Name, `llada generate --sampler`).
const (
	SamplerDDIM        = "ddim"         // Song et al. 2021, DDIM with Sampler.Eta (0 = deterministic)
	SamplerDDPM        = "ddpm"         // Ho et al. 2020, ancestral: the posterior q(x_s | x_t, x0_hat)
	SamplerDPMSolverPP = "dpm-solver++" // Lu et al. 2022, DPM-Solver++(2M), x0 form, multistep
	SamplerEuler       = "euler"        // Karras et al. 2022 (EDM), Euler on the probability-flow ODE in sigma
	SamplerHeun        = "heun"         // EDM's Heun (2nd order), Euler on the last step to sigma = 0
)

// ContinuousSamplerNames lists the continuous samplers, sorted.
func ContinuousSamplerNames() []string {
	return []string{SamplerDDIM, SamplerDDPM, SamplerDPMSolverPP, SamplerEuler, SamplerHeun}
}

// DefaultContinuousSampler runs when a continuous model gets a GenerateConfig without a sampler.
const DefaultContinuousSampler = SamplerDPMSolverPP

func init() {
	for _, n := range ContinuousSamplerNames() {
		presets[n] = Sampler{Name: n, Transfer: TransferContinuous}
	}
}

// X0Mode names how a continuous sampler turns logits into the x0 estimate.
type X0Mode string

const (
	// X0Interpolate is CDCD's score interpolation: x0 = softmax(logits) . E, the expected embedding.
	X0Interpolate X0Mode = "interpolate"
	// X0Clamp is Diffusion-LM's clamping trick: the interpolated x0 snapped to the nearest embedding row at every
	// step.
	X0Clamp X0Mode = "clamp"
)

// ContinuousOptions are the knobs of the continuous samplers. The zero value interpolates, self-conditions when
// the model was trained to, and steps along the model's trained schedule.
type ContinuousOptions struct {
	// X0 selects the x0 estimate: X0Interpolate (default) or X0Clamp.
	X0 X0Mode
	// NoSelfCond feeds zeros instead of the previous x0 estimate to a self-conditioned model.
	NoSelfCond bool
	// Schedule places the steps: sigma(t_i) at t_i = 1 - i/steps, capped at the model's sigma_max, then 0. A zero
	// Kind takes the model's trained schedule (llada.continuous.schedule); without one, EDM's rho = 7
	// interpolation between sigma_max/1000 and sigma_max. An edm or ve schedule without sigmas spans the same
	// range.
	Schedule NoiseSchedule
	// Noise, when set, replaces the seeded standard-normal draws of the starting point x_T = sigma_max * Noise:
	// rows*seq*dim values, row-major over the (left-padded) canvas; held positions are not read. It lets another
	// implementation start from the same point (the parity goldens do). Later draws (ddpm, ddim with eta > 0)
	// still come from Seed.
	Noise []float64
}

// validateContinuous checks the knobs of a continuous sampler.
func (s Sampler) validateContinuous() error {
	switch s.Name {
	case SamplerDDIM, SamplerDDPM, SamplerDPMSolverPP, SamplerEuler, SamplerHeun:
	default:
		return fmt.Errorf("continuous sampler %q is unknown (want %s)", s.Name, strings.Join(ContinuousSamplerNames(), ", "))
	}
	if math.IsNaN(s.Eta) || s.Eta < 0 || s.Eta > 1 {
		return fmt.Errorf("eta %v must be in [0,1]", s.Eta)
	}
	if s.Eta != 0 && s.Name != SamplerDDIM {
		return fmt.Errorf("eta applies to ddim only (ddpm is eta = 1), not %q", s.Name)
	}
	switch s.Continuous.X0 {
	case "", X0Interpolate, X0Clamp:
	default:
		return fmt.Errorf("x0 mode %q is unknown (want %q or %q)", s.Continuous.X0, X0Interpolate, X0Clamp)
	}
	if sc := s.Continuous.Schedule; sc.Kind != "" && !sc.fromModel() {
		if err := sc.Validate(); err != nil {
			return err
		}
	}
	if s.ReMDM != ReMDMNone || s.EditThreshold > 0 || s.Quota > 0 || s.TopK > 0 || (s.TopP > 0 && s.TopP < 1) {
		return fmt.Errorf("sampler %q is continuous: masked-sampler knobs (remasking, editing, quota, top-k/top-p) do not apply", s.Name)
	}
	return nil
}

// checkFamily rejects a sampler of the other family, naming the samplers the model supports.
func (s Sampler) checkFamily(c Contract) error {
	cont := s.Transfer == TransferContinuous
	if c.Family == FamilyContinuous && !cont {
		name := s.Name
		if name == "" {
			name = string(s.Transfer)
		}
		return fmt.Errorf("sampler %q is a masked-diffusion sampler; this continuous model supports %s",
			name, strings.Join(ContinuousSamplerNames(), ", "))
	}
	if c.Family != FamilyContinuous && cont {
		return fmt.Errorf("sampler %q is a continuous-diffusion sampler; this %s model supports %s",
			s.Name, c.Family, strings.Join(SamplerNames(), ", "))
	}
	return nil
}

// continuousSampler resolves the sampler of a continuous generation; a config without a sampler takes
// DefaultContinuousSampler.
func continuousSampler(cfg GenerateConfig) (Sampler, error) {
	s := cfg.Sampler
	if s.Name == "" && s.Transfer == "" {
		if cfg.Remasking == RemaskRandom {
			return Sampler{}, fmt.Errorf("remasking %q is a masked-sampler setting; this continuous model supports %s",
				cfg.Remasking, strings.Join(ContinuousSamplerNames(), ", "))
		}
		s.Name = DefaultContinuousSampler
	} else if cfg.Remasking != "" && cfg.Remasking != RemaskLowConfidence {
		return Sampler{}, fmt.Errorf("remasking %q and sampler %q are both set", cfg.Remasking, s.Name)
	}
	r, err := s.resolve()
	if err != nil {
		return Sampler{}, err
	}
	if err := r.checkFamily(Contract{Family: FamilyContinuous}); err != nil {
		return Sampler{}, err
	}
	return r, r.validate()
}

// contGen is the state of one continuous generation. The sampler state x lives in the variance-exploding frame
// (x = x0 + sigma eps) in float64; the model's own frame (VP scaling, t instead of sigma) is applied when its
// input is built.
type contGen struct {
	m   *continuousModel
	c   Contract
	cc  *ContinuousContract
	cfg GenerateConfig
	smp Sampler

	rows, seq, promptLen, dim, vocab int
	fwdRows                          int
	cfgOn, selfCond, clamp           bool

	ids      []int64 // rows*seq: prompt ids at held positions
	held     []bool  // rows*seq: positions kept clean (prompt tokens, padding)
	isPrompt []bool  // rows*seq: held positions the unconditional input drops (prompt tokens, not padding)
	att      []int64 // fwdRows*seq, nil when no row is padded

	x, d, dPrev, xe, d2 []float64 // rows*seq*dim
	grid                []float64
	fwdX, fwdT, sc      []float32 // fwdRows*seq*dim, fwdRows*seq, fwdRows*seq*dim
	logits              []float32 // fwdRows*seq*vocab
	curD                []float64 // the x0 (or rounding source) buffer the passes work on
	reuse               bool
	bad                 []uint8 // fwdRows*seq: what a pass found wrong at a position
	badTok              []int
	rounded             []int64 // rows*seq: nearest rows of the current estimate

	scratch                   []*contScratch
	jobs                      chan contJob
	wg                        sync.WaitGroup
	passAFn, passBFn, roundFn func(lo, hi int, s *contScratch)

	canvas  []int64
	canvasI []int
	out     Step
	rng     *rand.Rand
	noise   func(i int) float64 // the initial noise; tests replace it
	nfe     int
}

func (m *continuousModel) stream(ctx context.Context, c Contract, prompts [][]int, cfg GenerateConfig) iter.Seq2[Step, error] {
	return func(yield func(Step, error) bool) {
		g, err := newContGen(m, c, prompts, cfg)
		if err != nil {
			yield(Step{}, err)
			return
		}
		g.run(ctx, yield)
	}
}

func newContGen(m *continuousModel, c Contract, prompts [][]int, cfg GenerateConfig) (*contGen, error) {
	bad := func(format string, a ...any) (*contGen, error) {
		return nil, fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, a...))
	}
	smp, err := continuousSampler(cfg)
	if err != nil {
		return bad("%v", err)
	}
	cfg = cfg.withDefaults()
	switch {
	case cfg.GenLength < 0 || cfg.Steps < 0:
		return bad("gen_length %d and steps %d must be >= 0", cfg.GenLength, cfg.Steps)
	case cfg.BlockLength != cfg.GenLength:
		return bad("block_length %d: continuous samplers denoise the whole generation at once (leave it 0)", cfg.BlockLength)
	case cfg.Temperature != 0:
		return bad("temperature %v applies to masked samplers; continuous samplers draw Gaussian noise (ddpm, or ddim with eta)", cfg.Temperature)
	case cfg.DeferEOS:
		return bad("defer_eos applies to masked samplers only")
	case math.IsNaN(cfg.CFGScale) || math.IsInf(cfg.CFGScale, 0) || cfg.CFGScale < 0:
		return bad("cfg_scale %v must be a finite number >= 0", cfg.CFGScale)
	case len(prompts) == 0:
		return bad("no prompts")
	}
	cc := c.Continuous
	if cc == nil {
		return nil, fmt.Errorf("llada: model contract has no continuous section")
	}
	g := &contGen{m: m, c: c, cc: cc, cfg: cfg, smp: smp, dim: cc.EmbedDim, vocab: c.VocabSize}
	for i, p := range prompts {
		g.promptLen = max(g.promptLen, len(p))
		for j, id := range p {
			if id < 0 || id >= g.vocab {
				return bad("prompt %d token %d: id %d outside the vocabulary [0,%d)", i, j, id, g.vocab)
			}
		}
	}
	g.rows, g.seq = len(prompts), g.promptLen+cfg.GenLength
	if c.MaxSeqLen > 0 && g.seq > c.MaxSeqLen {
		return bad("prompt (%d tokens) + gen_length (%d) = %d exceeds the model's max_seq_len %d", g.promptLen, cfg.GenLength, g.seq, c.MaxSeqLen)
	}
	if g.seq == 0 || cfg.Steps == 0 {
		return bad("nothing to generate (gen_length %d, steps %d)", cfg.GenLength, cfg.Steps)
	}
	g.cfgOn = cfg.CFGScale > 0
	g.selfCond = cc.SelfConditioning && !smp.Continuous.NoSelfCond
	g.clamp = smp.Continuous.X0 == X0Clamp
	g.fwdRows = g.rows
	if g.cfgOn {
		g.fwdRows *= 2
	}
	n, nd := g.rows*g.seq, g.rows*g.seq*g.dim
	g.ids, g.held, g.isPrompt = make([]int64, n), make([]bool, n), make([]bool, n)
	padded := false
	for r, p := range prompts {
		pad := g.promptLen - len(p)
		padded = padded || pad > 0
		for j := 0; j < g.seq; j++ {
			k := r*g.seq + j
			switch {
			case j < pad:
				g.ids[k], g.held[k] = int64(c.PadID), true
			case j < g.promptLen:
				id := p[j-pad]
				g.ids[k] = int64(id)
				// A mask id typed into the prompt marks a position to generate (infilling).
				g.held[k] = id != c.MaskID
				g.isPrompt[k] = g.held[k]
			default:
				g.ids[k] = int64(c.PadID)
			}
		}
	}
	if padded {
		g.att = make([]int64, g.fwdRows*g.seq)
		for fr := 0; fr < g.fwdRows; fr++ {
			r := fr % g.rows
			for j := 0; j < g.seq; j++ {
				if j >= g.promptLen-len(prompts[r]) {
					g.att[fr*g.seq+j] = 1
				}
			}
		}
	}
	g.x, g.d, g.dPrev = make([]float64, nd), make([]float64, nd), make([]float64, nd)
	if smp.Name == SamplerHeun {
		g.xe, g.d2 = make([]float64, nd), make([]float64, nd)
	}
	sched := smp.Continuous.Schedule
	if sched.Kind == "" {
		sched = cc.Schedule
	}
	if sched.Kind == "" {
		sched = NoiseSchedule{Kind: NoiseEDM}
	}
	if sched.fromModel() {
		sched.SigmaMin, sched.SigmaMax = cc.SigmaMax/1000, cc.SigmaMax
	}
	g.grid = sched.SigmaGrid(make([]float64, 0, cfg.Steps+1), cfg.Steps, cc.SigmaMax)
	if !(g.grid[0] > 0) {
		return bad("the sampling schedule starts at sigma %v; it must start above 0", g.grid[0])
	}
	g.fwdX, g.fwdT = make([]float32, g.fwdRows*g.seq*g.dim), make([]float32, g.fwdRows*g.seq)
	if g.selfCond {
		g.sc = make([]float32, g.fwdRows*g.seq*g.dim)
	}
	g.logits = make([]float32, g.fwdRows*g.seq*g.vocab)
	g.bad, g.badTok, g.rounded = make([]uint8, g.fwdRows*g.seq), make([]int, g.fwdRows*g.seq), make([]int64, n)
	g.canvas, g.canvasI = make([]int64, n), make([]int, n)
	copy(g.canvas, g.ids)
	for k := range g.canvas {
		if !g.held[k] {
			g.canvas[k] = -1 // nothing rounded yet: the first step reports every generated position
		}
	}
	g.out = Step{Rows: g.rows, Seq: g.seq, PromptLen: g.promptLen, Canvas: g.canvasI, Committed: make([][]int, g.rows),
		Remasked: make([][]int, g.rows), End: make([]int, g.rows)}
	for r := range g.out.Committed {
		g.out.Committed[r] = make([]int, 0, g.seq)
		g.out.Remasked[r] = g.out.Remasked[r][:0]
		g.out.End[r] = g.seq
	}
	g.rng = rand.New(rand.NewPCG(cfg.Seed, 0x636f6e74)) // second word: a fixed stream id ("cont")
	g.noise = func(int) float64 { return g.rng.NormFloat64() }
	if z := smp.Continuous.Noise; z != nil {
		if len(z) != nd {
			return bad("continuous noise has %d values, want rows*seq*dim = %d*%d*%d = %d", len(z), g.rows, g.seq, g.dim, nd)
		}
		g.noise = func(i int) float64 { return z[i] }
	}
	return g, nil
}

// run integrates from sigma_max to 0 and yields one Step per solver step.
func (g *contGen) run(ctx context.Context, yield func(Step, error) bool) {
	g.startPool()
	defer g.stopPool()
	emb := g.m.emb
	// x_T = sigma_0 z at generated positions; held positions are their clean embeddings throughout.
	for k := range g.held {
		for j := 0; j < g.dim; j++ {
			i := k*g.dim + j
			if g.held[k] {
				g.x[i] = float64(emb.Data[int(g.ids[k])*g.dim+j])
			} else {
				g.x[i] = g.grid[0] * g.noise(i)
			}
		}
	}
	copy(g.d, g.x)
	steps := len(g.grid) - 1
	for i := 0; i < steps; i++ {
		if err := ctx.Err(); err != nil {
			yield(Step{}, fmt.Errorf("llada: generation stopped before step %d: %w", i, err))
			return
		}
		s, s2 := g.grid[i], g.grid[i+1]
		if err := g.denoise(ctx, s, g.x, g.d); err != nil {
			yield(Step{}, err)
			return
		}
		if err := g.update(ctx, i, s, s2); err != nil {
			yield(Step{}, err)
			return
		}
		last := i == steps-1
		src := g.d
		if last {
			src = g.x
		}
		g.round(src, last)
		g.out.Step, g.out.NFE = i, g.nfe
		if !yield(g.out, nil) {
			return
		}
	}
}

// update advances x from noise level s to s2 with the chosen solver, given D = g.d at (x, s).
func (g *contGen) update(ctx context.Context, i int, s, s2 float64) error {
	x, d := g.x, g.d
	switch g.smp.Name {
	case SamplerEuler:
		g.each(func(k int) { x[k] = d[k] + s2/s*(x[k]-d[k]) })
	case SamplerDDIM, SamplerDDPM:
		eta := g.smp.Eta
		if g.smp.Name == SamplerDDPM {
			eta = 1
		}
		c := 0.0
		if s2 > 0 {
			c = eta * s2 * math.Sqrt(max(0, 1-s2*s2/(s*s)))
		}
		dir := math.Sqrt(max(0, s2*s2-c*c)) / s
		g.each(func(k int) {
			x[k] = d[k] + dir*(x[k]-d[k])
			if c > 0 {
				x[k] += c * g.rng.NormFloat64()
			}
		})
	case SamplerDPMSolverPP:
		ratio := s2 / s
		if i == 0 || s2 == 0 {
			g.each(func(k int) { x[k] = ratio*x[k] + (1-ratio)*d[k] })
		} else {
			h := math.Log(s / s2)
			hPrev := math.Log(g.grid[i-1] / s)
			r := hPrev / h
			a, b := 1+1/(2*r), 1/(2*r)
			dp := g.dPrev
			g.each(func(k int) { x[k] = ratio*x[k] + (1-ratio)*(a*d[k]-b*dp[k]) })
		}
		copy(g.dPrev, d)
	case SamplerHeun:
		xe := g.xe
		copy(xe, x)
		g.each(func(k int) { xe[k] = d[k] + s2/s*(x[k]-d[k]) })
		if s2 == 0 {
			copy(x, xe)
			return nil
		}
		if err := g.denoise(ctx, s2, xe, g.d2); err != nil {
			return err
		}
		d2 := g.d2
		g.each(func(k int) {
			dk := (x[k] - d[k]) / s
			d2k := (xe[k] - d2[k]) / s2
			x[k] += (s2 - s) * 0.5 * (dk + d2k)
		})
		copy(g.d, d2) // the latest x0 estimate
	}
	return nil
}

// each calls f for every float of every generated (non-held) position, in row-major order.
func (g *contGen) each(f func(k int)) {
	for p, h := range g.held {
		if h {
			continue
		}
		for k := p * g.dim; k < (p+1)*g.dim; k++ {
			f(k)
		}
	}
}

// denoise runs the network on x at noise level sigma (held positions clean) and writes the x0 estimate into d.
func (g *contGen) denoise(ctx context.Context, sigma float64, x, d []float64) error {
	cc, emb := g.cc, g.m.emb
	n := g.rows * g.seq
	scale := cc.inputScale(sigma)
	tNoisy, tClean, tDrop := cc.timestepFor(sigma), cc.timestepFor(0), cc.timestepFor(cc.SigmaMax)
	for fr := 0; fr < g.fwdRows; fr++ {
		uncond := fr >= g.rows
		for p := 0; p < g.seq; p++ {
			k := (fr%g.rows)*g.seq + p
			f := fr*g.seq + p
			dst := g.fwdX[f*g.dim : (f+1)*g.dim]
			switch {
			case uncond && g.isPrompt[k]:
				// Classifier-free guidance's unconditional input: the prompt dropped (x = 0 at sigma_max), as the
				// model saw it in training.
				clear(dst)
				g.fwdT[f] = tDrop
			case g.held[k]:
				copy(dst, emb.Row(int(g.ids[k])))
				g.fwdT[f] = tClean
			default:
				for j := range dst {
					dst[j] = float32(x[k*g.dim+j]) * scale
				}
				g.fwdT[f] = tNoisy
			}
		}
	}
	in := ContinuousBatch{X: g.fwdX, Timestep: g.fwdT, SelfCond: g.sc, Attention: g.att, Rows: g.fwdRows, Seq: g.seq, Dim: g.dim}
	if err := g.m.den.ForwardContinuous(ctx, in, g.logits); err != nil {
		return fmt.Errorf("llada: forward pass %d: %w", g.nfe+1, err)
	}
	g.nfe++
	// Without guidance or EOS suppression the x0 estimate is the self-conditioning estimate: computed once.
	g.reuse = g.sc != nil && !g.cfgOn && !g.cfg.SuppressEOS
	g.curD = d
	clear(g.bad)
	g.parallel(g.fwdRows*g.seq, g.passAFn)
	if err := g.firstBad(g.fwdRows * g.seq); err != nil {
		return err
	}
	g.parallel(n, g.passBFn)
	return g.firstBad(n)
}

// passA checks the logits that are read and computes the self-conditioning input (every row's own unguided
// estimate) for forward positions [lo, hi).
func (g *contGen) passA(lo, hi int, s *contScratch) {
	n, V := g.rows*g.seq, g.vocab
	for f := lo; f < hi; f++ {
		k := f % n
		if g.held[k] && g.sc == nil && !(f >= n && g.isPrompt[k]) {
			continue // a clean position whose logits nothing reads
		}
		lg := g.logits[f*V : (f+1)*V]
		for v, l := range lg {
			if math.IsNaN(float64(l)) || math.IsInf(float64(l), 1) {
				g.bad[f], g.badTok[f] = badNaN, v
				break
			}
		}
		if g.bad[f] != 0 || g.sc == nil {
			continue
		}
		if !g.interpolate(lg, s) {
			g.bad[f] = badNoFinite
			continue
		}
		for j, v := range s.x0i {
			g.sc[f*g.dim+j] = float32(v)
		}
		if g.reuse && !g.held[k] {
			copy(g.curD[k*g.dim:(k+1)*g.dim], s.x0i) // the same logits give the same estimate in passB
		}
	}
}

// passB writes the x0 estimate of canvas positions [lo, hi) into g.curD: guidance, EOS suppression, score
// interpolation, and clamping.
func (g *contGen) passB(lo, hi int, s *contScratch) {
	n, V, emb := g.rows*g.seq, g.vocab, g.m.emb
	for k := lo; k < hi; k++ {
		dk := g.curD[k*g.dim : (k+1)*g.dim]
		if g.held[k] {
			for j := range dk {
				dk[j] = float64(emb.Data[int(g.ids[k])*g.dim+j])
			}
			continue
		}
		if g.reuse && !g.clamp {
			continue
		}
		if g.reuse {
			copy(s.x0i, dk)
		} else {
			lg := g.logits[k*V : (k+1)*V]
			if g.cfgOn {
				mixGuidance(lg, g.logits[(n+k)*V:(n+k+1)*V], g.cfg.CFGScale)
			}
			if g.cfg.SuppressEOS {
				lg[g.c.EOSID] = float32(math.Inf(-1))
			}
			if !g.interpolate(lg, s) {
				g.bad[k] = badNoFinite
				continue
			}
		}
		if g.clamp {
			id := g.nearest(s.x0i) // Diffusion-LM's clamp: the nearest row of the estimate
			for j := range dk {
				dk[j] = float64(emb.Data[id*g.dim+j])
			}
			continue
		}
		for j, v := range s.x0i {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				g.bad[k] = badX0
				break
			}
			dk[j] = v
		}
	}
}

// Codes of g.bad: what went wrong at a position.
const (
	badNaN      = 1 + iota // a NaN or +Inf logit (token in g.badTok)
	badNoFinite            // no finite logit
	badX0                  // a non-finite x0 estimate
)

// firstBad reports the lowest position of [0, n) that a pass marked bad.
func (g *contGen) firstBad(n int) error {
	for f, b := range g.bad[:n] {
		r, p := f/g.seq, f%g.seq
		switch b {
		case badNaN:
			v := g.badTok[f]
			return fmt.Errorf("%w: row %d position %d token %d: %v", ErrBadLogits, r, p, v, g.logits[f*g.vocab+v])
		case badNoFinite:
			return fmt.Errorf("%w: row %d position %d: no finite logit", ErrBadLogits, r, p)
		case badX0:
			return fmt.Errorf("%w: row %d position %d: the x0 estimate is not finite", ErrBadLogits, r, p)
		}
	}
	return nil
}

// contScratch is one worker's scratch.
type contScratch struct{ probs, x0i []float64 }

type contJob struct {
	fn     func(lo, hi int, s *contScratch)
	lo, hi int
	s      *contScratch
}

// contParallelMin is the V*D*positions below which a pass runs on the calling goroutine.
const contParallelMin = 1 << 20

// startPool starts one worker per GOMAXPROCS (none with one), with their scratch; stopPool ends them.
func (g *contGen) startPool() {
	w := runtime.GOMAXPROCS(0)
	g.scratch = make([]*contScratch, max(w, 1))
	for i := range g.scratch {
		g.scratch[i] = &contScratch{probs: make([]float64, g.vocab), x0i: make([]float64, g.dim)}
	}
	g.passAFn, g.passBFn, g.roundFn = g.passA, g.passB, g.roundRange
	if w < 2 {
		return
	}
	jobs := make(chan contJob, w)
	g.jobs = jobs
	for i := 0; i < w; i++ {
		go func() {
			for j := range jobs {
				j.fn(j.lo, j.hi, j.s)
				g.wg.Done()
			}
		}()
	}
}

func (g *contGen) stopPool() {
	if g.jobs != nil {
		close(g.jobs)
		g.jobs = nil
	}
}

// parallel runs fn over [0, n) in contiguous chunks, one per worker; every position's result depends on that
// position alone, so the split does not change the output.
func (g *contGen) parallel(n int, fn func(lo, hi int, s *contScratch)) {
	if g.jobs == nil || n < 2 || n*g.vocab*g.dim < contParallelMin {
		fn(0, n, g.scratch[0])
		return
	}
	w := len(g.scratch)
	chunk := (n + w - 1) / w
	for i, lo := 0, 0; lo < n; i, lo = i+1, lo+chunk {
		g.wg.Add(1)
		g.jobs <- contJob{fn: fn, lo: lo, hi: min(lo+chunk, n), s: g.scratch[i]}
	}
	g.wg.Wait()
}

// interpolate sets s.x0i = softmax(logits) . E in float64 (CDCD's score interpolation). It reports false when
// no logit is finite.
func (g *contGen) interpolate(lg []float32, s *contScratch) bool {
	mx := math.Inf(-1)
	for _, l := range lg {
		mx = max(mx, float64(l))
	}
	if math.IsInf(mx, -1) {
		return false
	}
	z := 0.0
	for v, l := range lg {
		e := math.Exp(float64(l) - mx)
		s.probs[v] = e
		z += e
	}
	clear(s.x0i)
	emb := g.m.emb.Data
	// Rows with weight below 1e-14 are skipped: together they move a coordinate by at most V * 1e-14 * max|E|,
	// far below float32 resolution, and a trained model's distributions are peaked, so most rows are skipped.
	cut := 1e-14 * z
	for v, p := range s.probs {
		if p < cut {
			continue
		}
		w := p / z
		row := emb[v*g.dim : (v+1)*g.dim]
		for j, e := range row {
			s.x0i[j] += w * float64(e)
		}
	}
	return true
}

// nearest returns the embedding row closest to x in L2 (ties to the lowest id).
func (g *contGen) nearest(x []float64) int {
	emb := g.m.emb
	best, bestD := 0, math.Inf(1)
	for v := 0; v < emb.Vocab; v++ {
		row := emb.Data[v*g.dim : (v+1)*g.dim]
		dot := 0.0
		for j, e := range row {
			dot += x[j] * float64(e)
		}
		if dd := emb.sqNorm[v] - 2*dot; dd < bestD {
			best, bestD = v, dd
		}
	}
	return best
}

// round writes the canvas (nearest embedding of each generated position's src vector) and the changed positions;
// on the last step it applies StopAtEOS.
func (g *contGen) round(src []float64, last bool) {
	g.curD = src
	g.parallel(g.rows*g.seq, g.roundFn)
	for r := 0; r < g.rows; r++ {
		ch := g.out.Committed[r][:0]
		for p := 0; p < g.seq; p++ {
			k := r*g.seq + p
			if g.held[k] {
				continue
			}
			if id := g.rounded[k]; id != g.canvas[k] {
				g.canvas[k] = id
				ch = append(ch, p)
			}
		}
		g.out.Committed[r] = ch
		if last && g.smp.StopAtEOS {
			row := g.canvas[r*g.seq : (r+1)*g.seq]
			for p := g.promptLen; p < g.seq; p++ {
				if row[p] == int64(g.c.EOSID) {
					for q := p + 1; q < g.seq; q++ {
						row[q] = int64(g.c.EOSID)
					}
					g.out.End[r] = p + 1
					break
				}
			}
		}
	}
	for k, id := range g.canvas {
		g.canvasI[k] = int(id)
	}
}

// roundRange sets g.rounded for the generated positions of [lo, hi) from g.curD.
func (g *contGen) roundRange(lo, hi int, _ *contScratch) {
	for k := lo; k < hi; k++ {
		if !g.held[k] {
			g.rounded[k] = int64(g.nearest(g.curD[k*g.dim : (k+1)*g.dim]))
		}
	}
}

// fromModel reports an edm or ve schedule whose sigma range is left to the model.
func (s NoiseSchedule) fromModel() bool {
	return (s.Kind == NoiseEDM || s.Kind == NoiseVE) && s.SigmaMin == 0 && s.SigmaMax == 0
}
