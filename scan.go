package llada

import (
	"math"
	"math/rand/v2"
	"slices"
)

// scorer turns one position's logits into a proposed token, the proposal's probability, a ranking score and
// the entropy of the distribution the score reads. It is the hot loop of every sampler: O(vocab) per scored
// position per step, so it allocates nothing and streams over the logits once or twice (a third time only
// for top-k/top-p filtering, which needs a per-worker scratch buffer).
type scorer struct {
	proposal    Proposal
	score       Score
	temperature float64
	topK        int
	topP        float64 // 0 or >= 1: off
	topKFirst   bool
	// proposeSkip are token ids never proposed: [0] EOS under SuppressEOS, [2] the mask token (always: a
	// committed mask would change nothing, and a block could never complete). confSkip are removed from the
	// distribution the scores read: [0] EOS under SuppressEOS, or [0] EOS and [1] EOT under DeferEOS,
	// [2] the mask under SuppressMask (MDLM's SUBS). -1 marks an unused slot.
	proposeSkip [3]int
	confSkip    [3]int
}

// scored is one position's result.
type scored struct {
	token   int
	prob    float64 // probability of token under the distribution the score reads
	score   float64 // ranking score, higher commits first
	entropy float64 // entropy (nats) of that distribution
	lnorm   float64 // log normaliser of that distribution: prob(t) = exp(x_t - lnorm), x_t the (scaled) logit
	ok      bool    // false when the logits hold NaN or +Inf, or no allowed logit is finite
	fail    scoreFailure
}

// scoreFailure says why a position could not be scored, for the error.
type scoreFailure uint8

const (
	failNone       scoreFailure = iota
	failNonFinite               // a NaN or +Inf logit
	failNoFinite                // no proposable token has a finite logit
	failOnlyMasked              // the top-k/top-p filter kept only the mask token, which is never proposed
)

func (f scoreFailure) String() string {
	switch f {
	case failNonFinite:
		return "NaN or +Inf logits"
	case failNoFinite:
		return "no proposable token has a finite logit"
	case failReduced:
		return "the in-graph reductions are not finite (NaN or +Inf logits, or no finite proposable logit)"
	case failOnlyMasked:
		return "the top-k/top-p filter kept only the mask token, which is never proposed (raise top_k or top_p)"
	}
	return "unusable logits"
}

// unusable is the result of a position whose pass saw bad (NaN/+Inf) logits or no proposable finite one.
func unusable(bad bool) scored {
	if bad {
		return scored{token: -1, fail: failNonFinite}
	}
	return scored{token: -1, fail: failNoFinite}
}

// entry is one vocabulary item in the filtering scratch: its (temperature-scaled) logit, its unnormalised
// mass exp(v - max), and its id.
type entry struct {
	v, w float64
	i    int32
}

func noSkip3() [3]int { return [3]int{-1, -1, -1} }

// segments calls fn over [0,n) split around the skipped ids, so the inner loops carry no per-element test
// for them.
func segments(n int, skip [3]int, fn func(lo, hi int)) {
	s := skip
	slices.Sort(s[:])
	lo := 0
	for _, x := range s {
		if x < lo || x >= n {
			continue
		}
		if x > lo {
			fn(lo, x)
		}
		lo = x + 1
	}
	if lo < n {
		fn(lo, n)
	}
}

func isSkipped(skip [3]int, id int) bool { return id == skip[0] || id == skip[1] || id == skip[2] }

// uniform53 returns a uniform float64 in (0,1) from 53 random bits; never 0, so -log(-log(u)) is finite.
func uniform53(rng *rand.PCG) float64 { return (float64(rng.Uint64()>>11) + 0.5) * 0x1p-53 }

// acc accumulates, in one pass over a distribution's (scaled) logits, what every score needs. With m the
// largest logit, sum = Σ exp(x-m) and tx = Σ exp(x-m)(x-m): softmax(x)_i = exp(x_i-m)/sum and the entropy
// is log(sum) - tx/sum. Next to the statistics it tracks the proposal: the largest logit other than the
// never-proposed id and the mass psum of the ids other than never, from which draw samples the proposal by
// inverse CDF (one uniform per position).
type acc struct {
	m, sum, tx, second float64
	arg                int // first largest logit
	best               float64
	parg               int     // first largest logit other than never
	psum               float64 // Σ exp(x-m) over ids other than never
	pick               int     // inverse-CDF draw over ids other than never
	bad                bool    // NaN or +Inf seen
}

func newAcc() acc {
	return acc{m: -math.MaxFloat64, second: math.Inf(-1), best: math.Inf(-1), arg: -1, parg: -1, pick: -1}
}

// feed adds xs (ids base, base+1, ...) scaled by scale. never is an id that counts in the statistics but is
// never proposed (-1: none). Starting the max at -MaxFloat64 rather than -Inf keeps -Inf logits harmless:
// exp(-Inf - m) is 0, never NaN, and a zero weight adds nothing to tx (0·(-Inf) would be NaN). The loop
// works on locals so that the compiler keeps them in registers.
func (a *acc) feed(xs []float32, base int, scale float64, never int) {
	m, sum, tx, sec, arg := a.m, a.sum, a.tx, a.second, a.arg
	best, parg, psum := a.best, a.parg, a.psum
	bad := a.bad
	for k, f := range xs {
		x := float64(f)
		if x != x || x > math.MaxFloat64 {
			bad = true
			continue
		}
		x *= scale
		i := base + k
		var w float64
		if x > m {
			r := math.Exp(m - x)
			tx = r * (tx + sum*(m-x))
			sum = sum*r + 1
			psum *= r
			if arg >= 0 {
				sec = m
			}
			m, arg, w = x, i, 1
		} else {
			w = math.Exp(x - m)
			if w > 0 {
				sum += w
				tx += w * (x - m)
			}
			if x > sec {
				sec = x
			}
		}
		if i == never {
			continue
		}
		if x > best {
			best, parg = x, i
		}
		psum += w
	}
	a.m, a.sum, a.tx, a.second, a.arg = m, sum, tx, sec, arg
	a.best, a.parg, a.psum = best, parg, psum
	a.bad = bad
}

// stream computes the statistics over the logits not in skip and, when rng != nil, draws the proposal from
// softmax(scale·logits) over the ids other than never. Wide rows go through the vector kernels when this
// build has them (scan_fast.go); the scalar pass below is the reference they are tested against.
func stream(logits []float32, scale float64, skip [3]int, never int, rng *rand.PCG) acc {
	if k := useKernels(len(logits)); k != nil {
		return streamKernels(k, logits, scale, skip, never, rng)
	}
	a := newAcc()
	segments(len(logits), skip, func(lo, hi int) { a.feed(logits[lo:hi], lo, scale, never) })
	if rng != nil && a.usable() {
		a.pick = a.draw(logits, scale, skip, never, rng)
	}
	return a
}

// draw samples an id other than never with probability exp(x·scale-m)/psum: the first id where the running
// mass exceeds u·psum. Should rounding leave the whole walk at or under the target, the last id with mass
// is taken; should no proposable id have mass at all (the never id holds all of it at a low temperature),
// the proposable argmax, which is where the renormalised distribution concentrates. The law is softmax's, as
// for LLaDA's Gumbel-max; the random stream is one uniform per position.
func (a *acc) draw(logits []float32, scale float64, skip [3]int, never int, rng *rand.PCG) int {
	target := uniform53(rng) * a.psum
	cum := 0.0
	pick, last := -1, -1
	segments(len(logits), skip, func(lo, hi int) {
		if pick >= 0 {
			return
		}
		for k, f := range logits[lo:hi] {
			i := lo + k
			if i == never {
				continue
			}
			w := math.Exp(float64(f)*scale - a.m)
			if w <= 0 {
				continue
			}
			last = i
			if cum += w; cum > target {
				pick = i
				return
			}
		}
	})
	switch {
	case pick >= 0:
		return pick
	case last >= 0:
		return last
	}
	return a.parg
}

// usable reports whether the pass saw no NaN/+Inf and some finite, proposable logit.
func (a *acc) usable() bool { return !a.bad && a.parg >= 0 }

func (a *acc) prob(x float64) float64 { return math.Exp(x-a.m) / a.sum }
func (a *acc) entropy() float64       { return math.Log(a.sum) - a.tx/a.sum }

// run scores one position. rng is the position's own stream (see scorePool); buf is the worker's filtering
// scratch (len >= vocab) and is only touched when top-k/top-p are on.
func (s *scorer) run(logits []float32, rng *rand.PCG, buf []entry) scored {
	if s.proposal == ProposeFiltered {
		if s.topK > 0 || (s.topP > 0 && s.topP < 1) {
			return s.runFiltered(logits, rng, buf)
		}
		return s.runSoftmax(logits, rng)
	}
	return s.runLLaDA(logits, rng)
}

// runLLaDA proposes a draw from softmax(l/T) (the law of LLaDA's float64 Gumbel-max
// argmax(exp(l)/(-log u)^T); the argmax at T=0) and reads scores from softmax of the raw logits, like
// ML-GSAI/LLaDA generate.py (F.softmax(logits.to(float64))).
func (s *scorer) runLLaDA(logits []float32, rng *rand.PCG) scored {
	never := s.proposeSkip[2]
	// One pass serves both when the proposal reads the confidence distribution itself: T is 0 or 1 and the
	// two skip sets agree but for the mask, which is never proposed anyway.
	fused := (s.temperature == 0 || s.temperature == 1) &&
		s.proposeSkip[0] == s.confSkip[0] && s.proposeSkip[1] == s.confSkip[1] && s.score != ScoreRandom
	var sampler *rand.PCG
	if s.temperature > 0 {
		sampler = rng
	}
	if s.score == ScoreRandom && s.temperature == 0 {
		// The random order needs no distribution: the proposal is a plain argmax.
		out := scored{token: argmaxSkip(logits, s.proposeSkip)}
		if out.token < 0 {
			return unusable(hasNonFinite(logits))
		}
		out.score, out.ok = uniform53(rng), true
		return out
	}
	if fused {
		a := stream(logits, 1, s.confSkip, never, sampler)
		if !a.usable() {
			return unusable(a.bad)
		}
		out := scored{token: a.parg}
		if sampler != nil {
			out.token = a.pick
		}
		s.finish(&out, &a, float64(logits[out.token]), rng)
		return out
	}
	scale := 1.0
	if s.temperature > 0 {
		scale = 1 / s.temperature
	}
	p := stream(logits, scale, s.proposeSkip, never, sampler)
	if !p.usable() {
		return unusable(p.bad)
	}
	out := scored{token: p.parg}
	if sampler != nil {
		out.token = p.pick
	}
	if s.score == ScoreRandom {
		out.score, out.ok = uniform53(rng), true
		return out
	}
	a := stream(logits, 1, s.confSkip, -1, nil)
	if a.bad || a.arg < 0 {
		return unusable(a.bad)
	}
	s.finish(&out, &a, float64(logits[out.token]), rng)
	return out
}

// finish fills prob, score and entropy from a distribution's statistics; x is the proposal's (scaled) logit.
func (s *scorer) finish(out *scored, a *acc, x float64, rng *rand.PCG) {
	out.ok = true
	if isSkipped(s.confSkip, out.token) {
		out.prob = 0 // removed from the softmax: LLaDA's -Inf confidence trick gives probability 0
	} else {
		out.prob = a.prob(x)
	}
	out.entropy = a.entropy()
	out.lnorm = a.m + math.Log(a.sum)
	switch s.score {
	case ScoreProb:
		out.score = out.prob
	case ScoreMargin:
		second := 0.0
		if !math.IsInf(a.second, -1) {
			second = a.prob(a.second)
		}
		out.score = 1/a.sum - second // the top-1 probability is exp(0)/sum
	case ScoreNegEntropy:
		out.score = -out.entropy
	case ScoreRandom:
		out.score = uniform53(rng)
	}
}

// runSoftmax is ProposeFiltered without filters: p = softmax(l/T) (softmax(l) at T=0), the token drawn from
// p at T>0 and its argmax at T=0 (Dream's sample_tokens), all in one pass.
func (s *scorer) runSoftmax(logits []float32, rng *rand.PCG) scored {
	scale := 1.0
	var sampler *rand.PCG
	if s.temperature > 0 {
		scale, sampler = 1/s.temperature, rng
	}
	a := stream(logits, scale, s.confSkip, s.proposeSkip[2], sampler)
	if !a.usable() || isSkipped(s.proposeSkip, a.parg) {
		return unusable(a.bad)
	}
	out := scored{token: a.parg}
	if sampler != nil {
		out.token = a.pick
	}
	s.finish(&out, &a, float64(logits[out.token])*scale, rng)
	return out
}

// greater orders entries by value, then by lower id, so that the order is total and ties break to the lowest
// index as everywhere else.
func greater(a, b entry) bool { return a.v > b.v || (a.v == b.v && a.i < b.i) }

// runFiltered is ProposeFiltered with top-k and/or top-p: the kept set is computed by selection in buf, then
// the proposal and scores read the renormalised distribution over it.
func (s *scorer) runFiltered(logits []float32, rng *rand.PCG, buf []entry) scored {
	scale := 1.0
	if s.temperature > 0 {
		scale = 1 / s.temperature
	}
	n := 0
	m := -math.MaxFloat64
	bad := false
	segments(len(logits), s.confSkip, func(lo, hi int) {
		for k, f := range logits[lo:hi] {
			x := float64(f)
			if x != x || math.IsInf(x, 1) {
				bad = true
				continue
			}
			x *= scale
			if math.IsInf(x, -1) {
				continue // zero mass: never kept, never proposed
			}
			buf[n] = entry{v: x, i: int32(lo + k)}
			n++
			if x > m {
				m = x
			}
		}
	})
	if bad || n == 0 {
		return unusable(bad)
	}
	for k := range buf[:n] {
		buf[k].w = math.Exp(buf[k].v - m)
	}
	kept := buf[:n]
	if s.topKFirst {
		kept = topKSelect(kept, s.topK)
		kept = topPSelect(kept, s.topP)
	} else {
		kept = topPSelect(kept, s.topP)
		kept = topKSelect(kept, s.topK)
	}
	// Statistics and the proposal over the kept set; its maximum is still m (the top entry always survives).
	a := newAcc()
	a.m = m
	var sampler *rand.PCG
	if s.temperature > 0 {
		sampler = rng
	}
	never := s.proposeSkip[2]
	bestE := entry{v: math.Inf(-1), i: math.MaxInt32}
	for _, e := range kept {
		a.sum += e.w
		a.tx += e.w * (e.v - m)
		if greater(e, bestE) {
			if bestE.i != math.MaxInt32 {
				a.second = math.Max(a.second, bestE.v)
			}
			bestE = e
		} else if e.v > a.second {
			a.second = e.v
		}
		if int(e.i) == never {
			continue
		}
		if e.v > a.best || (e.v == a.best && int(e.i) < a.parg) {
			a.best, a.parg = e.v, int(e.i)
		}
		a.psum += e.w
		if sampler != nil && e.w > 0 && uniform53(sampler)*a.psum < e.w {
			a.pick = int(e.i)
		}
	}
	if a.parg < 0 {
		return scored{token: -1, fail: failOnlyMasked}
	}
	out := scored{token: a.parg}
	x := a.best
	if sampler != nil {
		out.token = a.pick
		x = float64(logits[a.pick]) * scale
	}
	s.finish(&out, &a, x, rng)
	return out
}

// topKSelect keeps the k largest entries and every entry tied with the k-th (Dream's top_k_logits removes
// only logits strictly below the k-th), moving them to the front. k <= 0 keeps everything.
func topKSelect(buf []entry, k int) []entry {
	if k <= 0 || k >= len(buf) {
		return buf
	}
	quickselect(buf, k)
	kth := buf[0].v
	for _, e := range buf[:k] {
		kth = math.Min(kth, e.v)
	}
	n := k
	for j := k; j < len(buf); j++ {
		if buf[j].v == kth {
			buf[n], buf[j] = buf[j], buf[n]
			n++
		}
	}
	return buf[:n]
}

// topPSelect keeps, in sorted order, every entry whose preceding mass is <= p of the total (the first entry
// always survives), which is Dream's and LLaDA 2.x's top_p_logits: remove where cumsum > p, shifted right by
// one. It finds the cut by a quickselect that carries the mass of everything known to rank above the range.
func topPSelect(buf []entry, p float64) []entry {
	if p <= 0 || p >= 1 || len(buf) <= 1 {
		return buf
	}
	total := 0.0
	for _, e := range buf {
		total += e.w
	}
	target := p * total
	lo, hi := 0, len(buf)
	acc := 0.0
	for hi-lo > 24 {
		piv := partition(buf, lo, hi)
		g := 0.0
		for _, e := range buf[lo:piv] {
			g += e.w
		}
		if acc+g > target {
			hi = piv
			continue
		}
		if acc+g+buf[piv].w > target {
			return buf[:piv+1]
		}
		acc += g + buf[piv].w
		lo = piv + 1
	}
	sub := buf[lo:hi]
	slices.SortFunc(sub, func(a, b entry) int {
		if greater(a, b) {
			return -1
		}
		return 1
	})
	for i, e := range sub {
		acc += e.w
		if acc > target {
			return buf[:lo+i+1]
		}
	}
	return buf[:hi]
}

// quickselect moves the k greatest entries (by greater) to buf[:k], in no particular order.
func quickselect(buf []entry, k int) {
	lo, hi := 0, len(buf)
	for hi-lo > 1 {
		piv := partition(buf, lo, hi)
		switch {
		case piv == k || piv+1 == k:
			return
		case piv > k:
			hi = piv
		default:
			lo = piv + 1
		}
	}
}

// partition rearranges buf[lo:hi] around a median-of-three pivot: entries greater than it come first, then
// the pivot, then the rest. It returns the pivot's index.
func partition(buf []entry, lo, hi int) int {
	mid := lo + (hi-lo)/2
	a, b, c := lo, mid, hi-1
	// Median of three by greater.
	if greater(buf[b], buf[a]) {
		a, b = b, a
	}
	if greater(buf[c], buf[b]) {
		b, c = c, b
		if greater(buf[b], buf[a]) {
			a, b = b, a
		}
	}
	_ = a
	_ = c
	buf[b], buf[hi-1] = buf[hi-1], buf[b]
	pv := buf[hi-1]
	store := lo
	for j := lo; j < hi-1; j++ {
		if greater(buf[j], pv) {
			buf[store], buf[j] = buf[j], buf[store]
			store++
		}
	}
	buf[store], buf[hi-1] = buf[hi-1], buf[store]
	return store
}

// argmaxSkip returns the first largest logit outside skip, or -1 when the logits hold NaN or +Inf or nothing
// allowed is above -Inf.
func argmaxSkip(logits []float32, skip [3]int) int {
	best := float32(math.Inf(-1))
	arg := -1
	bad := false
	segments(len(logits), skip, func(lo, hi int) {
		for i, v := range logits[lo:hi] {
			if v > best {
				best, arg = v, lo+i
			} else if v != v {
				bad = true
			}
		}
	})
	if bad || math.IsInf(float64(best), 1) {
		return -1
	}
	return arg
}

// hasNonFinite reports a NaN or +Inf logit (only on the error path).
func hasNonFinite(logits []float32) bool {
	for _, f := range logits {
		if x := float64(f); x != x || math.IsInf(x, 1) {
			return true
		}
	}
	return false
}
