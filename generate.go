package llada

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
)

// Step is what one denoising step did. Its slices are views into the generation's buffers: they are valid
// until the iteration continues (copy what you keep), which keeps the step loop free of allocations.
type Step struct {
	Block int // index of the semi-autoregressive block being decoded
	Step  int // index of this step in the whole generation, from 0
	// NFE counts network forward passes so far. A classifier-free-guidance pass (cond+uncond in one batch)
	// is one; a step whose canvas did not change since the last pass reuses its logits and costs none.
	NFE  int
	Rows int // batch rows
	Seq  int // canvas length per row: padded prompt + generation
	// PromptLen is the (left-padded) prompt length shared by every row; generation starts there.
	PromptLen int
	// Canvas holds Rows*Seq token ids, row-major; masked positions hold the contract's mask id.
	Canvas []int
	// Committed lists, per row, the canvas positions written by this step (unmasked, or edited by LLaDA 2.x
	// token editing), ascending.
	Committed [][]int
	// Remasked lists, per row, the positions a ReMDM sampler set back to the mask token, ascending.
	Remasked [][]int
	// End is, per row, one past the last meaningful canvas position: Seq, or one past the EOS that ended the
	// row under Sampler.StopAtEOS (the canvas after it holds EOS).
	End []int
}

// ErrBadLogits is wrapped when the denoiser returns NaN or +Inf logits, or only -Inf, at a position that must
// be scored.
var ErrBadLogits = errors.New("llada: denoiser returned unusable logits")

// generation is the state of one call: canvas, forward buffers and scratch, allocated once so that steps
// allocate nothing.
type generation struct {
	den   Denoiser
	c     Contract
	cfg   GenerateConfig
	smp   Sampler
	sched Schedule

	rows, seq, promptLen, vocab int

	canvas    []int64 // rows*seq
	isPrompt  []bool  // rows*seq: positions the unconditional CFG input masks (prompt and its padding)
	attention []int64 // rows*seq, nil when no row is padded
	fwdIDs    []int64 // the forward batch: canvas, then the unconditional copy under CFG
	fwdAtt    []int64
	logits    []float32
	// lastIDs is the canvas of the last forward pass; when the canvas still equals it and the denoiser is
	// Deterministic (a pure function of its input), the logits are reused.
	lastIDs    []int64
	haveLogits bool
	mixed      []bool // per logits row of the conditional half: CFG already applied since the last pass
	guide      guideState

	winLo, winHi int // the canvas positions the logits hold (window.go): all of them after a full pass

	scorer   scorer
	argmax   scorer   // the scorer of MDLM's final noise-removal step: argmax of the same distribution
	active   *scorer  // the scorer the pool runs this step
	res      []scored // rows*seq: result at each scored position
	psi      []float64
	work     []int // flat indices r*seq+p to score this step
	counts   [][]int
	cands    []int
	editable []int
	keys     []float64 // rows*seq scratch: sort keys of the current row
	grid     []float64
	rowDone  []bool // row finished (StopAtEOS)
	blkDone  []bool // row finished the current block
	post     []int  // editing steps taken after the row's block was full
	out      Step
	canvasI  []int // Canvas view for Step, as int
	rng      *rand.Rand
	stepSeed uint64
	nfe      int
	parallel int
	cons     *constraintRun  // nil without GenerateConfig.Constraint
	reuse    bool            // the denoiser is Deterministic: an unchanged canvas reuses the last logits
	closed   *closedFlag     // the Model's, when the generation runs on one; set by Model.Close
	red      *reductionState // non-nil when the step loop scores from in-graph reductions (reductions.go)
	kv       *cacheState     // non-nil under GenerateConfig.Cache (cache.go)
}

func newGeneration(den Denoiser, c Contract, prompts [][]int, cfg GenerateConfig) (*generation, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	smp, err := cfg.sampler()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	if err := smp.validateFor(c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	sched, _ := NewSchedule(smp.Schedule)
	if len(prompts) == 0 {
		return nil, fmt.Errorf("%w: no prompts", ErrInvalidConfig)
	}
	vocab := den.VocabSize()
	if vocab <= 0 {
		return nil, fmt.Errorf("llada: denoiser reports vocabulary size %d", vocab)
	}
	if c.VocabSize != 0 && c.VocabSize != vocab {
		return nil, fmt.Errorf("llada: contract vocab_size %d differs from the denoiser's logits width %d", c.VocabSize, vocab)
	}
	promptLen := cfg.guidance().negativeLen() // a longer negative prompt pads every row to its length
	for i, p := range prompts {
		promptLen = max(promptLen, len(p))
		for j, id := range p {
			if id < 0 || id >= vocab {
				return nil, fmt.Errorf("%w: prompt %d token %d: id %d outside the vocabulary [0,%d)", ErrInvalidConfig, i, j, id, vocab)
			}
		}
	}
	seq := promptLen + cfg.GenLength
	if c.MaxSeqLen > 0 && seq > c.MaxSeqLen {
		return nil, fmt.Errorf("%w: prompt (%d tokens) + gen_length (%d) = %d exceeds the model's max_seq_len %d",
			ErrInvalidConfig, promptLen, cfg.GenLength, seq, c.MaxSeqLen)
	}
	if seq == 0 {
		return nil, fmt.Errorf("%w: empty prompt and gen_length 0: nothing to generate", ErrInvalidConfig)
	}
	rows := len(prompts)
	g := &generation{den: den, c: c, cfg: cfg, smp: smp, sched: sched, rows: rows, seq: seq, promptLen: promptLen, vocab: vocab}
	g.canvas = make([]int64, rows*seq)
	g.isPrompt = make([]bool, rows*seq)
	padded := false
	for r, p := range prompts {
		pad := promptLen - len(p)
		padded = padded || pad > 0
		row := g.canvas[r*seq : (r+1)*seq]
		for j := range row {
			switch {
			case j < pad:
				row[j] = int64(c.PadID)
			case j < promptLen:
				row[j] = int64(p[j-pad])
			default:
				row[j] = int64(c.MaskID)
			}
			// The reference marks prompt positions as "not mask" (x != mask_id), so left padding is part of
			// the prompt that the unconditional input hides, and masks typed into the prompt are not.
			g.isPrompt[r*seq+j] = j < promptLen && row[j] != int64(c.MaskID)
		}
	}
	if padded {
		g.attention = make([]int64, rows*seq)
		for r, p := range prompts {
			for j := promptLen - len(p); j < seq; j++ {
				g.attention[r*seq+j] = 1
			}
		}
	}
	if err := g.checkPromptMasks(); err != nil {
		return nil, err
	}
	if err := g.initCache(); err != nil {
		return nil, err
	}
	fwdRows, err := g.initGuidance()
	if err != nil {
		return nil, err
	}
	if !g.initReductions() {
		g.logits = make([]float32, fwdRows*seq*vocab) // the reductions path never holds logits
	}
	g.lastIDs = make([]int64, rows*seq)
	g.mixed = make([]bool, rows*seq)

	g.scorer = scorer{proposal: smp.Proposal, score: smp.Score, temperature: cfg.Temperature, topK: smp.TopK,
		topP: smp.TopP, topKFirst: smp.TopKFirst, proposeSkip: noSkip3(), confSkip: noSkip3()}
	g.scorer.proposeSkip[2] = c.MaskID
	if smp.SuppressMask {
		g.scorer.confSkip[2] = c.MaskID
	}
	if cfg.SuppressEOS {
		g.scorer.proposeSkip[0] = c.EOSID
		g.scorer.confSkip[0] = c.EOSID
	}
	if cfg.DeferEOS {
		g.scorer.confSkip[0], g.scorer.confSkip[1] = c.EOSID, c.EOTID
	}
	g.argmax = g.scorer
	g.argmax.temperature = 0
	g.active = &g.scorer

	g.res = make([]scored, rows*seq)
	if smp.ReMDM == ReMDMConf {
		g.psi = make([]float64, rows*seq)
	}
	g.work = make([]int, 0, rows*seq)
	g.counts = make([][]int, rows)
	for r := range g.counts {
		g.counts[r] = make([]int, 0, cfg.Steps+1)
	}
	g.cands = make([]int, 0, seq)
	g.editable = make([]int, 0, seq)
	g.keys = make([]float64, seq)
	g.grid = make([]float64, 0, cfg.Steps+2)
	g.rowDone = make([]bool, rows)
	g.blkDone = make([]bool, rows)
	g.post = make([]int, rows)
	g.canvasI = make([]int, rows*seq)
	g.out = Step{Rows: rows, Seq: seq, PromptLen: promptLen, Canvas: g.canvasI, Committed: make([][]int, rows),
		Remasked: make([][]int, rows), End: make([]int, rows)}
	for r := 0; r < rows; r++ {
		g.out.Committed[r] = make([]int, 0, seq)
		g.out.Remasked[r] = make([]int, 0, seq)
		g.out.End[r] = seq
	}
	g.rng = rand.New(rand.NewPCG(cfg.Seed, 0x6c6c616461)) // second word: a fixed stream id ("llada")
	g.parallel = runtime.GOMAXPROCS(0)
	g.reuse = reusesLogits(den)
	if cfg.Constraint != nil {
		if g.cons, err = newConstraintRun(g); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// needsBuf reports whether scoring needs the top-k/top-p scratch.
func (g *generation) needsBuf() bool {
	return g.smp.Proposal == ProposeFiltered && (g.smp.TopK > 0 || (g.smp.TopP > 0 && g.smp.TopP < 1))
}

// run yields one Step per denoising step until every block is decoded, every row has stopped, or an error
// occurs.
func (g *generation) run(ctx context.Context, yield func(Step, error) bool) {
	cfg, smp := g.cfg, g.smp
	blocks := cfg.GenLength / cfg.BlockLength
	stepsPerBlock := cfg.Steps / blocks
	pool := newScorePool(g, g.parallel)
	defer releaseBuffer(g.den, g.logits)
	defer g.kv.close()
	step := 0
	emit := func(b int) bool {
		g.out.Block, g.out.Step, g.out.NFE = b, step, g.nfe
		for j, id := range g.canvas {
			g.canvasI[j] = int(id)
		}
		step++
		return yield(g.out, nil)
	}
	for b := 0; b < blocks; b++ {
		lo, hi := g.promptLen+b*cfg.BlockLength, g.promptLen+(b+1)*cfg.BlockLength
		if g.kv != nil {
			g.kv.blkLo, g.kv.blkHi = lo, hi // the block's first pass refreshes the cache
		}
		nSteps := g.startBlock(lo, hi, stepsPerBlock)
		for i := 0; !g.blockOver(i, nSteps, lo, hi); i++ {
			if err := g.stopped(ctx, step); err != nil {
				yield(Step{}, err)
				return
			}
			g.collectWork(lo, hi, smp.EditThreshold > 0)
			if err := g.forward(ctx); err != nil {
				yield(Step{}, err)
				return
			}
			g.active = &g.scorer
			g.score(pool)
			if err := g.commit(i, nSteps, lo, hi); err != nil {
				yield(Step{}, err)
				return
			}
			done := g.checkEOS()
			if !emit(b) || done {
				return
			}
		}
		if smp.NoiseRemoval && g.blockHasMask(g.maskFrom(lo), hi) {
			// MDLM's noise removal: every remaining mask takes the argmax of p_x0.
			if err := g.stopped(ctx, step); err != nil {
				yield(Step{}, err)
				return
			}
			g.collectWork(lo, hi, false)
			if err := g.forward(ctx); err != nil {
				yield(Step{}, err)
				return
			}
			g.active = &g.argmax
			g.score(pool)
			if err := g.commitAll(); err != nil {
				yield(Step{}, err)
				return
			}
			done := g.checkEOS()
			if !emit(b) || done {
				return
			}
		}
	}
}

// startBlock prepares the per-row quotas of a block and returns its number of steps, or -1 when the block
// runs until it is complete.
func (g *generation) startBlock(lo, hi, stepsPerBlock int) int {
	smp := g.smp
	mask := int64(g.c.MaskID)
	for r := 0; r < g.rows; r++ {
		g.blkDone[r] = g.rowDone[r]
		g.post[r] = 0
	}
	if smp.Transfer == TransferBernoulli {
		if smp.Grid == GridCosine {
			g.grid = CosineGrid(g.grid, stepsPerBlock, smp.Eps)
		} else {
			g.grid = UniformGrid(g.grid, stepsPerBlock, smp.Eps)
		}
		return stepsPerBlock
	}
	if !smp.usesSteps() {
		return -1
	}
	n := stepsPerBlock
	for r := 0; r < g.rows; r++ {
		masked := 0 // every candidate mask, those typed into the prompt included, so that none is left
		for _, id := range g.canvas[r*g.seq+g.maskFrom(lo) : r*g.seq+hi] {
			if id == mask {
				masked++
			}
		}
		switch smp.Counts {
		case CountsLLaDA:
			g.counts[r] = LLaDATransferCounts(g.counts[r], masked, stepsPerBlock)
		case CountsLLaDA2:
			g.counts[r] = LLaDA2TransferCounts(g.counts[r], hi-lo, stepsPerBlock)
		case CountsDLLM:
			g.counts[r] = DLLMTransferCounts(g.counts[r], masked, stepsPerBlock, g.sched)
			if r == 0 {
				n = 0
			}
			n = max(n, len(g.counts[r]))
		case CountsDream:
			g.counts[r] = g.counts[r][:0] // computed per step from the current masks
		}
	}
	return n
}

// blockOver reports whether the block loop ends before step i.
func (g *generation) blockOver(i, nSteps, lo, hi int) bool {
	smp := g.smp
	if smp.EditThreshold > 0 {
		// LLaDA 2.x editing: a row's block ends when it is full and an editing step changed nothing, or after
		// MaxPostSteps editing steps; see commit.
		for r := 0; r < g.rows; r++ {
			if g.blkDone[r] {
				continue
			}
			if !g.rowHasMask(r, lo, hi) {
				g.post[r]++
				if g.post[r] > smp.MaxPostSteps {
					g.blkDone[r] = true
				}
			}
		}
		return allTrue(g.blkDone)
	}
	if nSteps >= 0 && i >= nSteps {
		return true
	}
	if smp.ReMDM != ReMDMNone {
		return false // decoded tokens may still be remasked until the last time step
	}
	return !g.blockHasMask(g.maskFrom(lo), hi)
}

func allTrue(b []bool) bool {
	for _, v := range b {
		if !v {
			return false
		}
	}
	return true
}

func (g *generation) rowHasMask(r, lo, hi int) bool {
	mask := int64(g.c.MaskID)
	for _, id := range g.canvas[r*g.seq+lo : r*g.seq+hi] {
		if id == mask {
			return true
		}
	}
	return false
}

func (g *generation) blockHasMask(lo, hi int) bool {
	for r := 0; r < g.rows; r++ {
		if !g.rowDone[r] && g.rowHasMask(r, lo, hi) {
			return true
		}
	}
	return false
}

// maskFrom is where a step's candidate masks start. LLaDA, Fast-dLLM, Dream and MDLM consider every mask
// before the block's end (x == mask_id over the whole canvas, then positions after the block excluded), so a
// mask typed into the prompt is filled like any other; LLaDA 2.x and BD3-LM look inside the block only.
func (g *generation) maskFrom(lo int) int {
	switch g.smp.Transfer {
	case TransferThresholdOrQuota, TransferFirstHitting:
		return lo
	}
	return 0
}

// collectWork lists the positions to score: the candidate masks of rows still running, and with editing
// also the block's decoded non-prompt positions.
func (g *generation) collectWork(lo, hi int, edits bool) {
	mask := int64(g.c.MaskID)
	from := g.maskFrom(lo)
	g.work = g.work[:0]
	for r := 0; r < g.rows; r++ {
		if g.blkDone[r] {
			continue
		}
		for p := from; p < hi; p++ {
			j := r*g.seq + p
			if g.canvas[j] == mask || (edits && p >= lo && !g.isPrompt[j]) {
				g.work = append(g.work, j)
			}
		}
	}
}

// stopped reports why the generation must not take step: its context is done or its Model is closed.
func (g *generation) stopped(ctx context.Context, step int) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("llada: generation stopped before step %d: %w", step, err)
	}
	if g.closed != nil && g.closed.Load() {
		return fmt.Errorf("llada: generation stopped before step %d: %w", step, ErrClosed)
	}
	return nil
}

// forward runs the denoiser on the canvas (plus its unconditional copy under CFG) unless the canvas is
// unchanged since the last pass and the denoiser is Deterministic, then mixes guidance into the logits the work positions read.
func (g *generation) forward(ctx context.Context) error {
	if g.red != nil {
		return g.forwardReductions(ctx)
	}
	if g.kv != nil {
		return g.forwardCached(ctx)
	}
	if !g.reuse || !g.haveLogits || !slices.Equal(g.canvas, g.lastIDs) || !g.windowCovers() {
		in, logits := g.forwardBatch()
		if err := g.forwardLogits(ctx, in, logits); err != nil {
			g.haveLogits = false
			return fmt.Errorf("llada: forward pass %d: %w", g.nfe+1, err)
		}
		g.nfe++
		copy(g.lastIDs, g.canvas)
		g.haveLogits = true
		clear(g.mixed)
	}
	if g.guide.on {
		g.mixWork()
	}
	return nil
}

// logitsRow returns the row of the logits that predicts flat canvas position j. Under the logits-shift
// convention (Dream) position p is predicted by the output at p-1, and position 0 by its own.
func (g *generation) logitsRow(j int) int {
	if g.c.LogitsShift && j%g.seq != 0 {
		return j - 1
	}
	return j
}

func (g *generation) logitsAt(j int) []float32 {
	k := g.logitsRow(j)
	return g.logits[k*g.vocab : (k+1)*g.vocab]
}

// checkScores reports the first work position whose logits could not be scored.
func (g *generation) checkScores() error {
	for _, j := range g.work {
		if !g.res[j].ok {
			return fmt.Errorf("%w: row %d position %d: %v", ErrBadLogits, j/g.seq, j%g.seq, g.res[j].fail)
		}
	}
	return nil
}

// rowCands fills g.cands with row r's candidate masks (from maskFrom to hi) and g.editable with the block's
// decoded non-prompt positions, as flat indices.
func (g *generation) rowCands(r, lo, hi int) {
	mask := int64(g.c.MaskID)
	g.cands, g.editable = g.cands[:0], g.editable[:0]
	for p := g.maskFrom(lo); p < hi; p++ {
		j := r*g.seq + p
		if g.canvas[j] == mask {
			g.cands = append(g.cands, j)
		} else if p >= lo && !g.isPrompt[j] {
			g.editable = append(g.editable, j)
		}
	}
}

// sortByKey sorts idx by key[idx-base] descending, ties to the lowest index.
func sortByKey(idx []int, key []float64, base int) {
	slices.SortFunc(idx, func(a, b int) int {
		ka, kb := key[a-base], key[b-base]
		switch {
		case ka > kb:
			return -1
		case ka < kb:
			return 1
		}
		return a - b
	})
}

// commit applies the transfer rule (and editing or remasking) of step i to every running row.
func (g *generation) commit(i, nSteps, lo, hi int) error {
	if err := g.checkScores(); err != nil {
		return err
	}
	g.cons.filter()
	smp := g.smp
	for r := 0; r < g.rows; r++ {
		chosen := g.out.Committed[r][:0]
		remasked := g.out.Remasked[r][:0]
		if g.blkDone[r] {
			g.out.Committed[r], g.out.Remasked[r] = chosen, remasked
			continue
		}
		base := r * g.seq
		g.rowCands(r, lo, hi)
		keys := g.keys
		for _, j := range g.cands {
			keys[j-base] = g.res[j].score
		}
		k := 0 // the number of g.cands, after sorting, to commit
		switch smp.Transfer {
		case TransferQuota, TransferThresholdOrQuota:
			quota := smp.Quota
			if quota == 0 {
				switch {
				case smp.Counts == CountsDream:
					quota = DreamTransferCount(len(g.cands), i, nSteps, smp.Eps)
				case i < len(g.counts[r]):
					quota = g.counts[r][i]
				}
			}
			if smp.AlgTemp > 0 {
				// Dream's alg_temp: positions drawn without replacement from softmax(score/alg_temp), which is
				// the law of the top-quota of score/alg_temp + Gumbel noise.
				for _, j := range g.cands {
					keys[j-base] = keys[j-base]/smp.AlgTemp + -math.Log(-math.Log(g.uniform()))
				}
			}
			sortByKey(g.cands, keys, base)
			k = min(quota, len(g.cands))
			if smp.Transfer == TransferThresholdOrQuota {
				high := 0
				for _, j := range g.cands {
					if g.res[j].score > smp.Threshold {
						high++
					}
				}
				if high >= quota {
					k = high // the high-confidence positions are the sorted prefix
				}
			}
		case TransferThreshold:
			sortByKey(g.cands, keys, base)
			for k = 0; k < len(g.cands); k++ {
				if k > 0 && g.res[g.cands[k]].score < smp.Threshold {
					break
				}
			}
		case TransferFactor:
			sortByKey(g.cands, keys, base)
			k = factorCount(g.cands, g.res, smp.Factor, smp.FactorOffByOne)
		case TransferEntropyBound:
			for _, j := range g.cands {
				keys[j-base] = -g.res[j].entropy
			}
			sortByKey(g.cands, keys, base)
			k = entropyBoundCount(g.cands, g.res, smp.Gamma)
		case TransferFirstHitting:
			if len(g.cands) > 0 {
				pick := g.rng.IntN(len(g.cands))
				g.cands[0], g.cands[pick] = g.cands[pick], g.cands[0]
				k = 1
			}
		case TransferBernoulli:
			k = g.bernoulli(r, i, nSteps, &remasked)
		}
		g.cons.admit(r, g.cands[:k])
		for _, j := range g.cands[:k] {
			g.canvas[j] = int64(g.res[j].token)
			chosen = append(chosen, j-base)
		}
		if smp.EditThreshold > 0 {
			// LLaDA 2.x token editing: decoded (at step start) non-prompt positions whose new proposal differs
			// and is confident enough are overwritten.
			edited := 0
			for _, j := range g.editable {
				if g.res[j].prob > smp.EditThreshold && int64(g.res[j].token) != g.canvas[j] && g.cons.allowsEdit(r, j, g.res[j].token) {
					g.canvas[j] = int64(g.res[j].token)
					chosen = append(chosen, j-base)
					edited++
				}
			}
			if len(g.cands) == 0 && edited == 0 {
				g.blkDone[r] = true
			}
		}
		slices.Sort(chosen)
		slices.Sort(remasked)
		g.out.Committed[r], g.out.Remasked[r] = chosen, remasked
	}
	return nil
}

// factorCount is Fast-dLLM's factor rule over scores sorted descending: commit the longest prefix whose n-th
// score c_n (1-based) satisfies (n+1)(1-c_n) <= f, and always the first. With offByOne the reference's
// behaviour is kept: when the first failure is the last position, it is committed too.
func factorCount(sorted []int, res []scored, f float64, offByOne bool) int {
	m := len(sorted)
	for n := 2; n <= m; n++ {
		if res[sorted[n-1]].score < 1-f/float64(n+1) {
			if offByOne && n == m {
				return m
			}
			return n - 1
		}
	}
	return m
}

// entropyBoundCount is the EB-sampler rule over positions sorted by entropy ascending: the largest k with
// sum_{i<=k} H_i - max_{i<=k} H_i <= gamma, at least 1. Sorted ascending, the max is H_k, so the condition
// is that the entropies before the k-th sum to at most gamma.
func entropyBoundCount(sorted []int, res []scored, gamma float64) int {
	if len(sorted) == 0 {
		return 0
	}
	sum := 0.0
	k := 0
	for _, j := range sorted {
		if k > 0 && sum > gamma {
			break
		}
		sum += res[j].entropy
		k++
	}
	return k
}

// ancestralProbs returns, for the step from time t down to s, the probability that a mask is unmasked, the
// remasking probability sigma of a decoded token (0 without ReMDM) and ReMDM's sigma_max =
// min(1, (1-alpha_s)/alpha_t). With sigma, a mask is unmasked with probability (alpha_s-(1-sigma)alpha_t)/
// (1-alpha_t), which keeps MDLM's marginals (ReMDM, Wang et al. 2025, eq. 6).
func (g *generation) ancestralProbs(t, s float64, last bool) (pUnmask, sigma, sigmaMax float64) {
	smp := g.smp
	pUnmask = g.sched.UnmaskProb(t, s)
	if last && !smp.NoiseRemoval {
		pUnmask = 1 // Dream: every remaining mask at the last step
	}
	if smp.ReMDM == ReMDMNone {
		return pUnmask, 0, 0
	}
	at, as := g.sched.Alpha(t), g.sched.Alpha(s)
	if smp.ReMDM == ReMDMLoop {
		// The phase is chosen by t alone and both times use its formula, as the reference does (so s
		// may extrapolate past t_on or t_off on the step that crosses them).
		at, as = g.loopAlpha(t, t), g.loopAlpha(t, s)
	}
	sigmaMax = 1
	if at > 0 {
		sigmaMax = min(1, (1-as)/at)
	}
	switch smp.ReMDM {
	case ReMDMCap:
		sigma = min(smp.Eta, sigmaMax)
	case ReMDMRescale:
		sigma = smp.Eta * sigmaMax
	case ReMDMLoop:
		if t <= smp.TOn && t > smp.TOff {
			sigma = smp.Eta // the loop phase: alpha held at AlphaOn, constant remasking
		}
	}
	if at < 1 {
		pUnmask = min(max((as-(1-sigma)*at)/(1-at), 0), 1)
	}
	return pUnmask, sigma, sigmaMax
}

// bernoulli runs one ancestral step for row r (g.cands holds its masks): each mask is unmasked with the
// schedule's probability (Dream origin, MDLM), and under ReMDM decoded positions are remasked with
// probability sigma. It reorders g.cands so that the unmasked ones come first and returns their number.
func (g *generation) bernoulli(r, i, nSteps int, remasked *[]int) int {
	smp := g.smp
	pUnmask, sigma, sigmaMax := g.ancestralProbs(g.grid[i], g.grid[i+1], i == nSteps-1)
	k := 0
	for n, j := range g.cands {
		if g.uniform() < pUnmask {
			g.cands[k], g.cands[n] = g.cands[n], g.cands[k]
			k++
			if g.psi != nil {
				g.psi[j] = g.res[j].prob
			}
		}
	}
	if smp.ReMDM == ReMDMNone || len(g.editable) == 0 {
		return k
	}
	// Remask decoded positions (g.editable: decoded non-prompt positions of the block at step start).
	mask := int64(g.c.MaskID)
	base := r * g.seq
	if smp.ReMDM == ReMDMConf {
		// sigma_l = softmax(-psi)_l over the decoded positions, times sigma_max (ReMDM paper, Sec. 4.1).
		mx := math.Inf(-1)
		for _, j := range g.editable {
			mx = math.Max(mx, -g.psi[j])
		}
		z := 0.0
		for _, j := range g.editable {
			z += math.Exp(-g.psi[j] - mx)
		}
		for _, j := range g.editable {
			if g.uniform() < math.Exp(-g.psi[j]-mx)/z*sigmaMax {
				g.canvas[j] = mask
				*remasked = append(*remasked, j-base)
			}
		}
		return k
	}
	for _, j := range g.editable {
		if g.uniform() < sigma {
			g.canvas[j] = mask
			*remasked = append(*remasked, j-base)
		}
	}
	return k
}

// loopAlpha is ReMDM-loop's reparameterised schedule at time x, in the phase that time t selects: linear
// from alpha=0 at t=1 to AlphaOn at TOn, held at AlphaOn down to TOff, then linear to 1 at t=0
// (kuleshov-group/remdm _ddpm_caching_update, sampler 'remdm-loop').
func (g *generation) loopAlpha(t, x float64) float64 {
	smp := g.smp
	switch {
	case t > smp.TOn:
		return (1 - x) * smp.AlphaOn / (1 - smp.TOn)
	case t <= smp.TOff:
		return 1 - x*(1-smp.AlphaOn)/smp.TOff
	}
	return smp.AlphaOn
}

func (g *generation) uniform() float64 { return (float64(g.rng.Uint64()>>11) + 0.5) * 0x1p-53 }

// commitAll writes the proposal of every work position (MDLM noise removal).
func (g *generation) commitAll() error {
	if err := g.checkScores(); err != nil {
		return err
	}
	g.cons.filter()
	g.cons.admitWork()
	for r := range g.out.Committed {
		g.out.Committed[r] = g.out.Committed[r][:0]
		g.out.Remasked[r] = g.out.Remasked[r][:0]
	}
	for _, j := range g.work {
		r := j / g.seq
		g.canvas[j] = int64(g.res[j].token)
		g.out.Committed[r] = append(g.out.Committed[r], j-r*g.seq)
	}
	return nil
}

// checkEOS applies StopAtEOS: a row whose generation holds an EOS with every position before it decoded is
// finished; the rest of its canvas becomes EOS and End marks the trim. It reports whether every row is done.
func (g *generation) checkEOS() bool {
	if !g.smp.StopAtEOS {
		return false
	}
	mask, eos := int64(g.c.MaskID), int64(g.c.EOSID)
	for r := 0; r < g.rows; r++ {
		if g.rowDone[r] {
			continue
		}
		row := g.canvas[r*g.seq : (r+1)*g.seq]
		for p := g.promptLen; p < g.seq; p++ {
			if row[p] == mask {
				break
			}
			if row[p] == eos {
				for q := p + 1; q < g.seq; q++ {
					row[q] = eos
				}
				g.rowDone[r], g.blkDone[r] = true, true
				g.out.End[r] = p + 1
				break
			}
		}
	}
	return allTrue(g.rowDone)
}

// Stream runs a generation over a batch of prompts (token ids; rows of different lengths are left-padded with
// the contract's pad id and masked out with attention) and yields every step. Breaking out of the loop stops
// the generation. The final canvas is the last Step's Canvas.
func Stream(ctx context.Context, den Denoiser, c Contract, prompts [][]int, cfg GenerateConfig) iter.Seq2[Step, error] {
	return streamOn(ctx, den, c, prompts, cfg, nil)
}

func streamOn(ctx context.Context, den Denoiser, c Contract, prompts [][]int, cfg GenerateConfig, closed *closedFlag) iter.Seq2[Step, error] {
	return func(yield func(Step, error) bool) {
		g, err := newGeneration(den, c, prompts, cfg)
		if err != nil {
			yield(Step{}, err)
			return
		}
		g.closed = closed
		g.run(ctx, yield)
	}
}
