package llada

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
)

// Step is what one denoising step did. Its slices are views into the generation's buffers: they are valid
// until the iteration continues (copy what you keep), which keeps the step loop free of allocations.
type Step struct {
	Block int // index of the semi-autoregressive block being decoded
	Step  int // index of this step in the whole generation, from 0
	NFE   int // network forward passes so far; a classifier-free-guidance pass (cond+uncond in one batch) is one
	Rows  int // batch rows
	Seq   int // canvas length per row: padded prompt + generation
	// PromptLen is the (left-padded) prompt length shared by every row; generation starts there.
	PromptLen int
	// Canvas holds Rows*Seq token ids, row-major; masked positions hold the contract's mask id.
	Canvas []int
	// Committed lists, per row, the canvas positions unmasked by this step.
	Committed [][]int
}

// ErrBadLogits is wrapped when the denoiser returns NaN or +Inf logits, or only -Inf, at a position that must
// be scored.
var ErrBadLogits = errors.New("llada: denoiser returned unusable logits")

// generation is the state of one call: canvas, forward buffers and scratch, allocated once so that steps
// allocate nothing.
type generation struct {
	den Denoiser
	c   Contract
	cfg GenerateConfig

	rows, seq, promptLen, vocab int

	canvas    []int64 // rows*seq
	isPrompt  []bool  // rows*seq: positions the unconditional CFG input masks (prompt and its padding)
	attention []int64 // rows*seq, nil when no row is padded
	fwdIDs    []int64 // the forward batch: canvas, then the unconditional copy under CFG
	fwdAtt    []int64
	logits    []float32

	scorer   scorer
	proposal []int     // rows*seq: token proposed at each scored position
	conf     []float64 // rows*seq: its confidence
	scoreOK  []bool    // rows*seq: false where the logits were unusable
	work     []int     // flat indices r*seq+p to score this step
	counts   [][]int   // per row: transfer count of each step of the current block
	cands    []int     // scratch for one row's candidates
	out      Step
	canvasI  []int // Canvas view for Step, as int
	rng      *rand.Rand
	stepSeed uint64
	nfe      int
	parallel int
}

func newGeneration(den Denoiser, c Contract, prompts [][]int, cfg GenerateConfig) (*generation, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
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
	promptLen := 0
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
	g := &generation{den: den, c: c, cfg: cfg, rows: rows, seq: seq, promptLen: promptLen, vocab: vocab}
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
	fwdRows := rows
	if cfg.CFGScale > 0 {
		fwdRows = 2 * rows
		g.fwdIDs = make([]int64, fwdRows*seq)
		if g.attention != nil {
			g.fwdAtt = make([]int64, fwdRows*seq)
			copy(g.fwdAtt, g.attention)
			copy(g.fwdAtt[rows*seq:], g.attention)
		}
	} else {
		g.fwdIDs, g.fwdAtt = g.canvas, g.attention
	}
	g.logits = make([]float32, fwdRows*seq*vocab)
	g.scorer = scorer{temperature: cfg.Temperature, random: cfg.Remasking == RemaskRandom,
		proposeSkip: [2]int{-1, -1}, confSkip: [2]int{-1, -1}}
	if cfg.SuppressEOS {
		g.scorer.proposeSkip[0] = c.EOSID
		g.scorer.confSkip[0] = c.EOSID
	}
	if cfg.DeferEOS {
		g.scorer.confSkip = [2]int{c.EOSID, c.EOTID}
	}
	g.proposal = make([]int, rows*seq)
	g.conf = make([]float64, rows*seq)
	g.scoreOK = make([]bool, rows*seq)
	g.work = make([]int, 0, rows*seq)
	g.counts = make([][]int, rows)
	for r := range g.counts {
		g.counts[r] = make([]int, 0, cfg.Steps)
	}
	g.cands = make([]int, 0, seq)
	g.canvasI = make([]int, rows*seq)
	g.out = Step{Rows: rows, Seq: seq, PromptLen: promptLen, Canvas: g.canvasI, Committed: make([][]int, rows)}
	for r := range g.out.Committed {
		g.out.Committed[r] = make([]int, 0, cfg.BlockLength)
	}
	g.rng = rand.New(rand.NewPCG(cfg.Seed, 0x6c6c616461)) // second word: a fixed stream id ("llada")
	g.parallel = runtime.GOMAXPROCS(0)
	return g, nil
}

// run yields one Step per denoising step until every block is decoded or an error occurs.
func (g *generation) run(ctx context.Context, yield func(Step, error) bool) {
	cfg := g.cfg
	blocks := cfg.GenLength / cfg.BlockLength
	stepsPerBlock := cfg.Steps / blocks
	mask := int64(g.c.MaskID)
	pool := newScorePool(g, g.parallel)
	defer pool.close()
	step := 0
	for b := 0; b < blocks; b++ {
		lo, hi := g.promptLen+b*cfg.BlockLength, g.promptLen+(b+1)*cfg.BlockLength
		for r := 0; r < g.rows; r++ {
			masked := 0
			for _, id := range g.canvas[r*g.seq+lo : r*g.seq+hi] {
				if id == mask {
					masked++
				}
			}
			g.counts[r] = LLaDATransferCounts(g.counts[r], masked, stepsPerBlock)
		}
		for i := 0; i < stepsPerBlock; i++ {
			if err := ctx.Err(); err != nil {
				yield(Step{}, fmt.Errorf("llada: generation stopped before step %d: %w", step, err))
				return
			}
			if err := g.forward(ctx, hi); err != nil {
				yield(Step{}, err)
				return
			}
			pool.score()
			if err := g.commit(i, hi); err != nil {
				yield(Step{}, err)
				return
			}
			g.out.Block, g.out.Step, g.out.NFE = b, step, g.nfe
			for j, id := range g.canvas {
				g.canvasI[j] = int(id)
			}
			if !yield(g.out, nil) {
				return
			}
			step++
		}
	}
}

// forward runs the denoiser on the canvas (plus its unconditional copy under CFG), mixes guidance, and lists
// the masked positions before blockEnd that must be scored.
func (g *generation) forward(ctx context.Context, blockEnd int) error {
	mask := int64(g.c.MaskID)
	g.work = g.work[:0]
	for r := 0; r < g.rows; r++ {
		for p := 0; p < blockEnd; p++ {
			if g.canvas[r*g.seq+p] == mask {
				g.work = append(g.work, r*g.seq+p)
			}
		}
	}
	rows := g.rows
	if g.cfg.CFGScale > 0 {
		n := g.rows * g.seq
		copy(g.fwdIDs, g.canvas)
		for j, id := range g.canvas {
			if g.isPrompt[j] {
				id = mask
			}
			g.fwdIDs[n+j] = id
		}
		rows *= 2
	}
	in := Batch{IDs: g.fwdIDs, Attention: g.fwdAtt, Rows: rows, Seq: g.seq}
	if err := g.den.Forward(ctx, in, g.logits); err != nil {
		return fmt.Errorf("llada: forward pass %d: %w", g.nfe+1, err)
	}
	g.nfe++
	if g.cfg.CFGScale > 0 {
		n := g.rows * g.seq
		for _, j := range g.work {
			mixGuidance(g.logitsAt(j), g.logitsAt(n+j), g.cfg.CFGScale)
		}
	}
	return nil
}

// logitsAt returns the logits that predict flat canvas position j (row-major over the forward batch). Under
// the logits-shift convention (Dream) position p is predicted by the output at p-1, and position 0 by its own.
func (g *generation) logitsAt(j int) []float32 {
	if g.c.LogitsShift && j%g.seq != 0 {
		j--
	}
	return g.logits[j*g.vocab : (j+1)*g.vocab]
}

// commit picks, per row, the transfer-count highest-confidence masked positions before blockEnd (ties to the
// lowest position) and writes their proposals into the canvas.
func (g *generation) commit(stepInBlock, blockEnd int) error {
	for _, j := range g.work {
		if !g.scoreOK[j] {
			return fmt.Errorf("%w: row %d position %d (NaN, +Inf, or no finite logit)", ErrBadLogits, j/g.seq, j%g.seq)
		}
	}
	w := 0
	for r := 0; r < g.rows; r++ {
		g.cands = g.cands[:0]
		for w < len(g.work) && g.work[w] < (r+1)*g.seq {
			g.cands = append(g.cands, g.work[w])
			w++
		}
		conf := g.conf
		slices.SortFunc(g.cands, func(a, b int) int {
			switch {
			case conf[a] > conf[b]:
				return -1
			case conf[a] < conf[b]:
				return 1
			}
			return a - b
		})
		k := min(g.counts[r][stepInBlock], len(g.cands))
		chosen := g.out.Committed[r][:0]
		for _, j := range g.cands[:k] {
			g.canvas[j] = int64(g.proposal[j])
			chosen = append(chosen, j-r*g.seq)
		}
		slices.Sort(chosen)
		g.out.Committed[r] = chosen
	}
	return nil
}

// scorePool scores the positions of g.work across persistent goroutines. Each position draws from its own
// PCG stream keyed by (per-step seed, flat position), so results do not depend on how work is split.
type scorePool struct {
	g     *generation
	jobs  chan [2]int
	wg    sync.WaitGroup
	n     int
	local *rand.PCG
}

func newScorePool(g *generation, workers int) *scorePool {
	p := &scorePool{g: g, n: workers, local: rand.NewPCG(0, 0)}
	if workers > 1 {
		p.jobs = make(chan [2]int, workers)
		for i := 0; i < workers; i++ {
			go func() {
				rng := rand.NewPCG(0, 0)
				for job := range p.jobs {
					p.scoreRange(job[0], job[1], rng)
					p.wg.Done()
				}
			}()
		}
	}
	return p
}

// parallelMin is the number of logits below which a step is scored on the calling goroutine: handing work to
// other goroutines costs a few microseconds, more than scoring a few thousand logits.
const parallelMin = 1 << 16

func (p *scorePool) score() {
	g := p.g
	n := len(g.work)
	g.stepSeed = g.rng.Uint64()
	if p.jobs == nil || n*g.vocab < parallelMin || n < 2 {
		p.scoreRange(0, n, p.local)
		return
	}
	chunk := (n + p.n - 1) / p.n
	for lo := 0; lo < n; lo += chunk {
		p.wg.Add(1)
		p.jobs <- [2]int{lo, min(lo+chunk, n)}
	}
	p.wg.Wait()
}

func (p *scorePool) scoreRange(lo, hi int, rng *rand.PCG) {
	g := p.g
	for _, j := range g.work[lo:hi] {
		rng.Seed(g.stepSeed, uint64(j))
		g.proposal[j], g.conf[j], g.scoreOK[j] = g.scorer.score(g.logitsAt(j), rng)
	}
}

func (p *scorePool) close() {
	if p.jobs != nil {
		close(p.jobs)
	}
}

// Stream runs a generation over a batch of prompts (token ids; rows of different lengths are left-padded with
// the contract's pad id and masked out with attention) and yields every step. Breaking out of the loop stops
// the generation. The final canvas is the last Step's Canvas.
func Stream(ctx context.Context, den Denoiser, c Contract, prompts [][]int, cfg GenerateConfig) iter.Seq2[Step, error] {
	return func(yield func(Step, error) bool) {
		g, err := newGeneration(den, c, prompts, cfg)
		if err != nil {
			yield(Step{}, err)
			return
		}
		g.run(ctx, yield)
	}
}
