package llada

import (
	"math"
	"math/rand/v2"
	"sync"
)

// scanKernels are the vector-friendly pieces of the fused scoring pass. stream's online pass (scan.go)
// rescales its running sum at every new maximum, which no vector unit can do lane by lane; the kernels
// split the same statistics into passes that each stream over a row with no data-dependent branch:
//
//  1. max: the largest logit and whether any is NaN or +Inf;
//  2. firstEq: the first id holding a value (the argmax with ties to the lowest id, early exit);
//  3. expSum: with m the (float32) maximum and M its scaled value, Σ exp(x·scale-M), Σ exp(x·scale-M)(x·scale-M),
//     the largest logit below m and how many logits equal m (which give the runner-up of the margin score);
//  4. draw: the first id where the running mass exceeds a target (inverse-CDF sampling), skipping whole
//     blocks of kernelBlock ids by the masses expSum stored, so a draw costs one block of exps.
//
// avx2Kernels (scan_avx2.go, cgo on amd64) is the fast implementation; goKernels below is the same
// contract in plain Go, which the tests use to check the pass structure on every platform.
type scanKernels interface {
	max(xs []float32) (m float32, bad bool)
	firstEq(xs []float32, v float32) int
	// expSum stores the mass of each block of kernelBlock ids in blocks when it is not nil
	// (len >= ceil(len(xs)/kernelBlock)).
	expSum(xs []float32, mf float32, m, scale float64, blocks []float64) (sum, tx float64, sec float32, eq int)
	draw(xs []float32, mf float32, m, scale, target, cum float64, blocks []float64) (idx int, cumOut float64)
}

// kernelBlock is the number of ids whose mass expSum stores as one block.
const kernelBlock = 64

// blockPool holds the per-position block masses of a draw (2 KiB of float64 at LLaDA's vocabulary), so
// that sampling allocates nothing in steady state.
var blockPool = sync.Pool{New: func() any { return new([]float64) }}

// fastMinVocab is the row width from which the kernels run: below it a row costs less than the few cgo
// calls, and the small rows of the unit tests keep the exact scalar pass.
const fastMinVocab = 2048

// useKernels selects the kernels for a row of n logits: nil means the scalar pass. A variable so that tests
// can force either path.
var useKernels = func(n int) scanKernels {
	if n < fastMinVocab {
		return nil
	}
	return nativeKernels()
}

// idRange is a half-open id range of a row.
type idRange struct{ lo, hi int }

// splitSpans lists the ranges of [0,n) around the skipped ids and the never-proposed id, in order, without
// allocating; it returns the number used.
func splitSpans(n int, skip [3]int, never int, out *[5]idRange) int {
	k := 0
	lo := 0
	cuts := [4]int{skip[0], skip[1], skip[2], never}
	// Insertion sort of four ids.
	for i := 1; i < len(cuts); i++ {
		for j := i; j > 0 && cuts[j] < cuts[j-1]; j-- {
			cuts[j], cuts[j-1] = cuts[j-1], cuts[j]
		}
	}
	for _, x := range cuts {
		if x < lo || x >= n {
			continue
		}
		if x > lo {
			out[k] = idRange{lo, x}
			k++
		}
		lo = x + 1
	}
	if lo < n {
		out[k] = idRange{lo, n}
		k++
	}
	return k
}

// streamKernels computes what stream does (scan.go) with the kernels. The statistics count the never id
// (when it is not skipped) but the proposal and psum do not, exactly as acc.feed; the draw is the
// inverse-CDF draw of acc.draw over the same ids. Results equal the scalar pass's up to rounding: the sums
// run in another order and exp is a polynomial (see scan_fast_test.go for the tolerances).
func streamKernels(k scanKernels, logits []float32, scale float64, skip [3]int, never int, rng *rand.PCG) acc {
	a := newAcc()
	var spans [5]idRange
	ns := splitSpans(len(logits), skip, never, &spans)
	hasNever := never >= 0 && never < len(logits) && !isSkipped(skip, never)
	var nv float32
	if hasNever {
		nv = logits[never]
	}
	// Pass 1: maxima, over everything and over the proposable ids.
	var segMax [5]float32
	pmax := float32(math.Inf(-1))
	for i, s := range spans[:ns] {
		m, bad := k.max(logits[s.lo:s.hi])
		if bad {
			a.bad = true
			return a
		}
		segMax[i] = m
		pmax = max(pmax, m)
	}
	mf := pmax
	if hasNever {
		if nv != nv || math.IsInf(float64(nv), 1) {
			a.bad = true
			return a
		}
		mf = max(mf, nv)
	}
	if math.IsInf(float64(mf), -1) {
		return a // nothing finite: arg and parg stay -1, as in the scalar pass
	}
	m := float64(mf) * scale
	a.m = m
	// The first id holding the maximum, over all ids and over the proposable ones.
	first := func(v float32, withNever bool) int {
		for i, s := range spans[:ns] {
			if withNever && hasNever && never < s.lo && nv == v {
				return never
			}
			if segMax[i] == v {
				return s.lo + k.firstEq(logits[s.lo:s.hi], v)
			}
		}
		if withNever && hasNever && nv == v {
			return never
		}
		return -1
	}
	a.arg = first(mf, true)
	if !math.IsInf(float64(pmax), -1) {
		a.parg = first(pmax, false)
		a.best = float64(pmax) * scale
	}
	// Pass 2: mass, entropy term and runner-up (and the block masses when drawing).
	var blocks []float64
	var bp *[]float64
	if rng != nil {
		nb := 0
		for _, s := range spans[:ns] {
			nb += (s.hi - s.lo + kernelBlock - 1) / kernelBlock
		}
		bp = blockPool.Get().(*[]float64)
		if cap(*bp) < nb {
			*bp = make([]float64, nb)
		}
		blocks = (*bp)[:nb]
		defer blockPool.Put(bp)
	}
	var spanBlocks [5][]float64
	sec := float32(math.Inf(-1))
	eq := 0
	for i, s := range spans[:ns] {
		if blocks != nil {
			nb := (s.hi - s.lo + kernelBlock - 1) / kernelBlock
			spanBlocks[i], blocks = blocks[:nb], blocks[nb:]
		}
		sum, tx, sc, e := k.expSum(logits[s.lo:s.hi], mf, m, scale, spanBlocks[i])
		a.psum += sum
		a.tx += tx
		sec = max(sec, sc)
		eq += e
	}
	a.sum = a.psum
	if hasNever {
		d := float64(nv)*scale - m
		if w := math.Exp(d); w > 0 {
			a.sum += w
			a.tx += w * d
		}
		if nv == mf {
			eq++
		} else {
			sec = max(sec, nv)
		}
	}
	switch {
	case eq >= 2:
		a.second = m
	case !math.IsInf(float64(sec), -1):
		a.second = float64(sec) * scale
	}
	if rng != nil && a.parg >= 0 {
		target := uniform53(rng) * a.psum
		cum := 0.0
		a.pick = -1
		for j, s := range spans[:ns] {
			var i int
			if i, cum = k.draw(logits[s.lo:s.hi], mf, m, scale, target, cum, spanBlocks[j]); i >= 0 {
				a.pick = s.lo + i
				break
			}
		}
		if a.pick < 0 {
			// Rounding left the walked mass at or under the target: the last id with mass, else the
			// proposable argmax, as acc.draw.
			if a.pick = lastWithMass(logits, spans[:ns], m, scale); a.pick < 0 {
				a.pick = a.parg
			}
		}
	}
	return a
}

// lastWithMass returns the last id of spans whose exp(x·scale-m) is positive (-1: none).
func lastWithMass(logits []float32, spans []idRange, m, scale float64) int {
	for j := len(spans) - 1; j >= 0; j-- {
		for i := spans[j].hi - 1; i >= spans[j].lo; i-- {
			if math.Exp(float64(logits[i])*scale-m) > 0 {
				return i
			}
		}
	}
	return -1
}

// goKernels is the kernel contract in plain Go (the tests' reference for the pass structure).
type goKernels struct{}

func (goKernels) max(xs []float32) (float32, bool) {
	m := float32(math.Inf(-1))
	bad := false
	for _, v := range xs {
		if v != v || math.IsInf(float64(v), 1) {
			bad = true
		}
		m = max(m, v)
	}
	return m, bad
}

func (goKernels) firstEq(xs []float32, v float32) int {
	for i, x := range xs {
		if x == v {
			return i
		}
	}
	return -1
}

func (goKernels) expSum(xs []float32, mf float32, m, scale float64, blocks []float64) (sum, tx float64, sec float32, eq int) {
	sec = float32(math.Inf(-1))
	for i, v := range xs {
		switch {
		case v == mf:
			eq++
		case v < mf:
			sec = max(sec, v)
		}
		d := float64(v)*scale - m
		w := math.Exp(d)
		if w > 0 {
			sum += w
			tx += w * d
		}
		if blocks != nil {
			if i%kernelBlock == 0 {
				blocks[i/kernelBlock] = 0
			}
			blocks[i/kernelBlock] += w
		}
	}
	return sum, tx, sec, eq
}

func (goKernels) draw(xs []float32, _ float32, m, scale, target, cum float64, blocks []float64) (int, float64) {
	for b := 0; b < len(xs); b += kernelBlock {
		if cum+blocks[b/kernelBlock] <= target {
			cum += blocks[b/kernelBlock]
			continue
		}
		for i := b; i < min(b+kernelBlock, len(xs)); i++ {
			w := math.Exp(float64(xs[i])*scale - m)
			cum += w
			if w > 0 && cum > target {
				return i, cum
			}
		}
	}
	return -1, cum
}
