package llada

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
)

// constraintRun applies a Constraint to one generation. It acts between Score and Transfer:
//
//  1. filter (after scoring): at every scored position of the generation region, the proposal must be
//     admissible, i.e. some completion of the canvas, with that token there and every mask free, is in the
//     language. An inadmissible proposal is replaced by a re-proposal restricted to the admissible tokens:
//     the argmax at temperature 0, else a draw from softmax(logits/T) over them (top-k/top-p are not
//     applied to the re-proposal). Since an admissible draw is kept and an inadmissible one redrawn from the
//     admissible set, LLaDA proposals at T > 0 follow softmax(logits/T) restricted to the admissible tokens
//     exactly. The re-proposal's prob is its probability under the distribution the scores read (the
//     sampler's own normaliser); margin, entropy and random scores do not depend on the token and stay.
//  2. admit (in the transfer rule): the positions the rule chose are committed one at a time in the
//     sampler's order (sorted by score; ascending position for MDLM's noise removal), each checked against
//     the canvas with the earlier ones written; a token that would make the canvas unsatisfiable is
//     re-proposed there (as in 1, against the current canvas) so the step commits what the rule chose. An
//     edit (LLaDA 2.x editing) that would break it is skipped instead.
//
// Admissibility is exact (the dynamic program of DINGO, Suresh et al. 2025, in its forward/backward form):
// fwd[i] is the set of DFA states the region's first i positions can lead to (a mask may take any
// proposable token) and bwd[i] the states from which positions i.. can be completed into an accepted text;
// token t fits a free position i when some s in fwd[i] has next(s, t) in bwd[i+1].
type constraintRun struct {
	g     *generation
	c     *Constraint
	n     int // DFA states plus the end state (index n-1)
	w     int // words per state bitset
	k     int // classes
	cls   []int32
	avail []bool   // per class: some proposable token has it
	succ  []uint64 // n*w: states reachable from s by one proposable token
	final []uint64 // w: accepting states and the end state
	// Class token lists (CSR): the proposable tokens of class k are tok[off[k]:off[k+1]], ascending.
	off, tok []int32

	lo, size int      // region [lo, lo+size) of every row
	fwd, bwd []uint64 // (size+1)*w for the row last computed
	row      int      // row fwd/bwd hold, -1 when stale
	allowed  []bool   // per class, scratch
	cand     []int32  // admissible tokens, scratch
	candFor  []bool   // the allowed classes cand was listed for
	candOK   bool
	rng      *rand.PCG
}

func newConstraintRun(g *generation) (*constraintRun, error) {
	c := g.cfg.Constraint
	if c.vocab > g.vocab {
		return nil, fmt.Errorf("%w: constraint vocabulary (%d ids) is larger than the model's logits (%d)", ErrInvalidConfig, c.vocab, g.vocab)
	}
	cr := &constraintRun{g: g, c: c, n: c.dfa.n + 1, k: c.classes, lo: g.promptLen, size: g.seq - g.promptLen, row: -1,
		rng: rand.NewPCG(0, 0)}
	cr.w = (cr.n + 63) / 64
	cr.cls = make([]int32, g.vocab)
	copy(cr.cls, c.tokClass)
	// End tokens are the contract's EOS, EOT and pad when the tokenizer marks them special (Decode skips
	// them); whatever the sampler never proposes is dead.
	for _, id := range []int{g.c.EOSID, g.c.EOTID, g.c.PadID} {
		if id >= 0 && id < c.vocab {
			if c.special[id] {
				cr.cls[id] = 1
			}
		}
	}
	for _, id := range g.scorer.proposeSkip {
		if id >= 0 && id < g.vocab {
			cr.cls[id] = 0
		}
	}
	if id := g.c.MaskID; id >= 0 && id < g.vocab {
		cr.cls[id] = 0
	}
	cr.off = make([]int32, cr.k+1)
	for _, k := range cr.cls {
		cr.off[k+1]++
	}
	for k := 0; k < cr.k; k++ {
		cr.off[k+1] += cr.off[k]
	}
	cr.tok = make([]int32, len(cr.cls))
	fill := append([]int32(nil), cr.off[:cr.k]...)
	for t, k := range cr.cls {
		cr.tok[fill[k]] = int32(t)
		fill[k]++
	}
	cr.avail = make([]bool, cr.k)
	for k := 1; k < cr.k; k++ {
		cr.avail[k] = cr.off[k+1] > cr.off[k]
	}
	cr.succ = make([]uint64, cr.n*cr.w)
	for s := 0; s < cr.n; s++ {
		row := c.next[s*cr.k : (s+1)*cr.k]
		for k, t := range row {
			if t >= 0 && cr.avail[k] {
				cr.succ[s*cr.w+int(t)/64] |= 1 << (uint(t) % 64)
			}
		}
	}
	cr.final = make([]uint64, cr.w)
	for s := 0; s < c.dfa.n; s++ {
		if c.dfa.acc[s] {
			setBit(cr.final, s)
		}
	}
	setBit(cr.final, cr.n-1)
	cr.fwd = make([]uint64, (cr.size+1)*cr.w)
	cr.bwd = make([]uint64, (cr.size+1)*cr.w)
	cr.allowed = make([]bool, cr.k)
	cr.cand = make([]int32, 0, g.vocab)
	cr.candFor = make([]bool, cr.k)
	for r := 0; r < g.rows; r++ {
		cr.compute(r)
		if !hasBit(cr.bwd[:cr.w], 0) {
			return nil, fmt.Errorf("%w: no text of %d tokens matches %q (row %d)", ErrUnsatisfiable, cr.size, c.pattern, r)
		}
	}
	return cr, nil
}

func setBit(b []uint64, i int)      { b[i/64] |= 1 << (uint(i) % 64) }
func hasBit(b []uint64, i int) bool { return b[i/64]&(1<<(uint(i)%64)) != 0 }

// compute fills fwd and bwd for row r's canvas.
func (cr *constraintRun) compute(r int) {
	g, w, n, k := cr.g, cr.w, cr.n, cr.k
	mask := int64(g.c.MaskID)
	canvas := g.canvas[r*g.seq+cr.lo : (r+1)*g.seq]
	clear(cr.fwd)
	setBit(cr.fwd[:w], 0)
	for i, id := range canvas {
		cur, nxt := cr.fwd[i*w:(i+1)*w], cr.fwd[(i+1)*w:(i+2)*w]
		if id == mask {
			forBits(cur, func(s int) {
				for x, v := range cr.succ[s*w : (s+1)*w] {
					nxt[x] |= v
				}
			})
			continue
		}
		kt := int(cr.cls[id])
		forBits(cur, func(s int) {
			if t := cr.c.next[s*k+kt]; t >= 0 {
				setBit(nxt, int(t))
			}
		})
	}
	copy(cr.bwd[cr.size*w:], cr.final)
	for i := cr.size - 1; i >= 0; i-- {
		cur, nxt := cr.bwd[i*w:(i+1)*w], cr.bwd[(i+1)*w:(i+2)*w]
		clear(cur)
		if canvas[i] == mask {
			for s := 0; s < n; s++ {
				for x, v := range cr.succ[s*w : (s+1)*w] {
					if v&nxt[x] != 0 {
						setBit(cur, s)
						break
					}
				}
			}
			continue
		}
		kt := int(cr.cls[canvas[i]])
		for s := 0; s < n; s++ {
			if t := cr.c.next[s*k+kt]; t >= 0 && hasBit(nxt, int(t)) {
				setBit(cur, s)
			}
		}
	}
	cr.row = r
}

// forBits calls fn with every set bit of b.
func forBits(b []uint64, fn func(int)) {
	for x, v := range b {
		for v != 0 {
			fn(x*64 + bits.TrailingZeros64(v))
			v &= v - 1
		}
	}
}

// fits reports whether class kt may stand at region position i of the row fwd/bwd hold, the position taken
// as free.
func (cr *constraintRun) fits(i int, kt int32) bool {
	if kt == 0 {
		return false
	}
	w, k := cr.w, cr.k
	nxt := cr.bwd[(i+1)*w : (i+2)*w]
	ok := false
	forBits(cr.fwd[i*w:(i+1)*w], func(s int) {
		if t := cr.c.next[s*k+int(kt)]; t >= 0 && hasBit(nxt, int(t)) {
			ok = true
		}
	})
	return ok
}

// fillAllowed sets cr.allowed to the classes that fit free region position i.
func (cr *constraintRun) fillAllowed(i int) {
	w := cr.w
	clear(cr.allowed)
	nxt := cr.bwd[(i+1)*w : (i+2)*w]
	c := cr.c
	forBits(cr.fwd[i*w:(i+1)*w], func(s int) {
		lo, hi := c.liveOff[s], c.liveOff[s+1]
		for x, t := range c.liveT[lo:hi] {
			if hasBit(nxt, int(t)) {
				cr.allowed[c.liveK[int(lo)+x]] = true
			}
		}
	})
	cr.allowed[0] = false
}

// region returns the region position of flat index j in row r, or -1 outside it.
func (cr *constraintRun) region(r, j int) int {
	p := j - r*cr.g.seq - cr.lo
	if p < 0 || p >= cr.size {
		return -1
	}
	return p
}

// filter makes every scored proposal of the generation region admissible (see constraintRun).
func (cr *constraintRun) filter() {
	if cr == nil {
		return
	}
	g := cr.g
	cr.row = -1
	for _, j := range g.work {
		cr.ensure(j/g.seq, j)
	}
}

// ensure makes the proposal at flat index j of row r fit the canvas as it stands (a no-op outside the
// region), recomputing the row's sets when they are stale.
func (cr *constraintRun) ensure(r, j int) {
	i := cr.region(r, j)
	if i < 0 {
		return
	}
	if cr.row != r {
		cr.compute(r)
	}
	if !cr.fits(i, cr.cls[cr.g.res[j].token]) {
		cr.repropose(i, j)
	}
}

// repropose replaces the proposal at flat index j (region position i of the row fwd/bwd hold) by an
// admissible one.
func (cr *constraintRun) repropose(i, j int) {
	g := cr.g
	cr.fillAllowed(i)
	logits := g.logitsAt(j)
	sc := g.active
	// The proposal's temperature: the argmax scorer of MDLM's noise removal has 0.
	t := sc.temperature
	best, arg := math.Inf(-1), -1
	cand := cr.candidates()
	for _, id := range cand {
		if v := float64(logits[id]); v > best || arg < 0 || (v == best && int(id) < arg) {
			best, arg = v, int(id)
		}
	}
	if arg < 0 {
		return // cannot happen on a satisfiable canvas; the caller's check keeps the old token
	}
	if t > 0 && !math.IsInf(best, -1) {
		// A weighted reservoir draw proportional to exp((l - best)/T) over the admissible tokens.
		cr.rng.Seed(g.stepSeed^0x636f6e73747261, uint64(j))
		sum := 0.0
		for _, id := range cand {
			wt := math.Exp((float64(logits[id]) - best) / t)
			sum += wt
			if wt > 0 && uniform53(cr.rng)*sum < wt {
				arg = int(id)
			}
		}
	}
	res := &g.res[j]
	res.token = arg
	res.prob = 0
	// The LLaDA proposal with the random score never computes prob (the scorer leaves it 0).
	randomOnly := sc.proposal == ProposeLLaDA && sc.score == ScoreRandom
	if !isSkipped(sc.confSkip, arg) && !randomOnly {
		x := float64(logits[arg])
		if sc.proposal == ProposeFiltered && t > 0 {
			x /= t
		}
		res.prob = math.Exp(x - res.lnorm)
	}
	if sc.score == ScoreProb {
		res.score = res.prob
	}
}

// candidates lists the proposable tokens of the allowed classes in cr.cand: by class when they are few, else
// in one ascending sweep over the vocabulary (sequential reads beat scattered ones).
func (cr *constraintRun) candidates() []int32 {
	if cr.candOK && slices.Equal(cr.allowed, cr.candFor) {
		return cr.cand // neighbouring masks often admit the same classes
	}
	copy(cr.candFor, cr.allowed)
	cr.candOK = true
	n := 0
	for k := 1; k < cr.k; k++ {
		if cr.allowed[k] {
			n += int(cr.off[k+1] - cr.off[k])
		}
	}
	out := cr.cand[:0]
	if n > len(cr.cls)/8 {
		for t, k := range cr.cls {
			if cr.allowed[k] {
				out = append(out, int32(t))
			}
		}
	} else {
		for k := 1; k < cr.k; k++ {
			if cr.allowed[k] {
				out = append(out, cr.tok[cr.off[k]:cr.off[k+1]]...)
			}
		}
	}
	cr.cand = out
	return out
}

// admit commits row r's chosen flat indices one at a time in order, re-proposing any token that no longer
// fits (see constraintRun). The caller writes g.res[j].token for every j afterwards, as without a
// constraint.
func (cr *constraintRun) admit(r int, chosen []int) {
	if cr == nil || len(chosen) == 0 {
		return
	}
	g := cr.g
	cr.row = -1
	for _, j := range chosen {
		cr.ensure(r, j)
		if cr.region(r, j) >= 0 && int64(g.res[j].token) != g.canvas[j] {
			g.canvas[j] = int64(g.res[j].token)
			cr.row = -1
		}
	}
}

// admitWork admits the positions of g.work row by row in ascending order (MDLM's noise removal).
func (cr *constraintRun) admitWork() {
	if cr == nil {
		return
	}
	g := cr.g
	for lo := 0; lo < len(g.work); {
		r := g.work[lo] / g.seq
		hi := lo
		for hi < len(g.work) && g.work[hi]/g.seq == r {
			hi++
		}
		cr.admit(r, g.work[lo:hi])
		lo = hi
	}
}

// allowsEdit reports whether overwriting flat index j of row r with tok keeps the canvas satisfiable.
func (cr *constraintRun) allowsEdit(r, j, tok int) bool {
	if cr == nil {
		return true
	}
	i := cr.region(r, j)
	if i < 0 {
		return true
	}
	cr.compute(r)
	return cr.fits(i, cr.cls[tok])
}
