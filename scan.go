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
	// deferred ids get probability 0 as proposals (DeferEOS: committed last).
	deferred [2]int
}

// scored is one position's result.
type scored struct {
	token   int
	prob    float64 // probability of token under the distribution the score reads
	score   float64 // ranking score, higher commits first
	entropy float64 // entropy (nats) of that distribution
	ok      bool    // false when the logits hold NaN or +Inf, or no allowed logit is finite
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

// gumbel returns a standard Gumbel draw -log(-log u).
func gumbel(rng *rand.PCG) float64 { return -math.Log(-math.Log(uniform53(rng))) }

// stats is what one streaming pass over a distribution's logits yields. With m the largest logit,
// sum = Σ exp(x-m) and tx = Σ exp(x-m)(x-m): softmax(x)_i = exp(x_i-m)/sum and the entropy is
// log(sum) - tx/sum.
type stats struct {
	m, sum, tx  float64
	arg         int     // index of the first largest logit
	second      float64 // second largest logit value (a tie with the largest counts)
	bad, seenOK bool
}

// stream makes one pass over logits*scale (skipping skip), tracking what the score needs. Starting the max
// at -MaxFloat64 rather than -Inf keeps -Inf logits harmless: exp(-Inf - m) is 0, never NaN.
func stream(logits []float32, scale float64, skip [3]int, wantSecond, wantEntropy bool) stats {
	st := stats{m: -math.MaxFloat64, second: math.Inf(-1), arg: -1}
	segments(len(logits), skip, func(lo, hi int) {
		for k, f := range logits[lo:hi] {
			x := float64(f)
			if x != x || math.IsInf(x, 1) {
				st.bad = true
				continue
			}
			x *= scale
			if x <= st.m {
				e := math.Exp(x - st.m)
				st.sum += e
				if wantEntropy {
					st.tx += e * (x - st.m)
				}
				if wantSecond && x > st.second {
					st.second = x
				}
				continue
			}
			// New maximum: rescale the running sums to the new reference point.
			r := math.Exp(st.m - x)
			if wantEntropy {
				st.tx = r * (st.tx + st.sum*(st.m-x))
			}
			st.sum = st.sum*r + 1
			if wantSecond && st.arg >= 0 {
				st.second = st.m
			}
			st.m, st.arg = x, lo+k
		}
	})
	st.seenOK = st.arg >= 0 && !math.IsInf(st.m, -1) && st.m > -math.MaxFloat64
	return st
}

func (st stats) prob(x float64) float64 { return math.Exp(x-st.m) / st.sum }
func (st stats) entropy() float64       { return math.Log(st.sum) - st.tx/st.sum }

// score scores one position. rng is the position's own stream (see scorePool); buf is the worker's
// filtering scratch (len >= vocab) and is only touched when top-k/top-p are on.
func (s *scorer) run(logits []float32, rng *rand.PCG, buf []entry) scored {
	if s.proposal == ProposeFiltered {
		if s.topK > 0 || (s.topP > 0 && s.topP < 1) {
			return s.runFiltered(logits, rng, buf)
		}
		return s.runSoftmax(logits, rng)
	}
	return s.runLLaDA(logits, rng)
}

func (s *scorer) wantSecond() bool  { return s.score == ScoreMargin }
func (s *scorer) wantEntropy() bool { return true }

// runLLaDA proposes argmax(l + T*Gumbel) and reads scores from softmax of the raw logits, like
// ML-GSAI/LLaDA generate.py (add_gumbel_noise in float64, then F.softmax(logits.to(float64))).
func (s *scorer) runLLaDA(logits []float32, rng *rand.PCG) scored {
	out := scored{token: -1}
	// The confidence softmax may keep the mask token (LLaDA's does) while proposals never take it; the
	// proposal is still the softmax's argmax unless that argmax is the mask.
	fusable := s.proposeSkip[0] == s.confSkip[0] && s.proposeSkip[1] == s.confSkip[1]
	if s.temperature == 0 && fusable && s.score != ScoreRandom {
		// One fused pass: the proposal is the softmax's argmax.
		st := stream(logits, 1, s.confSkip, s.wantSecond(), s.wantEntropy())
		if st.bad || !st.seenOK {
			return out
		}
		out.token = st.arg
		if isSkipped(s.proposeSkip, out.token) {
			if out.token = argmaxSkip(logits, s.proposeSkip); out.token < 0 {
				return scored{token: -1}
			}
		}
		s.finish(&out, st, float64(logits[out.token]), rng)
		return out
	}
	if s.temperature == 0 {
		if out.token = argmaxSkip(logits, s.proposeSkip); out.token < 0 {
			return scored{token: -1}
		}
	} else {
		// Gumbel-max in float64: argmax_v l_v - T*log(-log u_v) has the law of LLaDA's
		// exp(l)/(-log u)^T, without overflowing exp.
		best := math.Inf(-1)
		t := s.temperature
		bad := false
		segments(len(logits), s.proposeSkip, func(lo, hi int) {
			for i, v := range logits[lo:hi] {
				if v != v || math.IsInf(float64(v), 1) {
					bad = true
					continue
				}
				g := float64(v) + t*gumbel(rng)
				if g > best {
					best, out.token = g, lo+i
				}
			}
		})
		if bad || out.token < 0 {
			return scored{token: -1}
		}
	}
	if s.score == ScoreRandom {
		out.score, out.ok = uniform53(rng), true
		return out
	}
	st := stream(logits, 1, s.confSkip, s.wantSecond(), s.wantEntropy())
	if st.bad || !st.seenOK {
		return scored{token: -1}
	}
	s.finish(&out, st, float64(logits[out.token]), rng)
	return out
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

// finish fills prob, score and entropy from a distribution's stats; x is the proposal's (scaled) logit.
func (s *scorer) finish(out *scored, st stats, x float64, rng *rand.PCG) {
	out.ok = true
	if isSkipped(s.confSkip, out.token) || out.token == s.deferred[0] || out.token == s.deferred[1] {
		out.prob = 0 // removed from the softmax: LLaDA's -Inf confidence trick gives probability 0
	} else {
		out.prob = st.prob(x)
	}
	out.entropy = st.entropy()
	switch s.score {
	case ScoreProb:
		out.score = out.prob
	case ScoreMargin:
		second := 0.0
		if !math.IsInf(st.second, -1) {
			second = st.prob(st.second)
		}
		out.score = 1/st.sum - second // top-1 probability is exp(0)/sum
	case ScoreNegEntropy:
		out.score = -out.entropy
	case ScoreRandom:
		out.score = uniform53(rng)
	}
}

// runSoftmax is ProposeFiltered without filters: p = softmax(l/T) (softmax(l) at T=0), token drawn from p
// by Gumbel-max at T>0, argmax at T=0 (Dream's sample_tokens).
func (s *scorer) runSoftmax(logits []float32, rng *rand.PCG) scored {
	scale := 1.0
	if s.temperature > 0 {
		scale = 1 / s.temperature
	}
	st := stream(logits, scale, s.confSkip, s.wantSecond(), s.wantEntropy())
	if st.bad || !st.seenOK {
		return scored{token: -1}
	}
	out := scored{token: st.arg}
	if s.temperature == 0 && isSkipped(s.proposeSkip, out.token) {
		if out.token = argmaxSkip(logits, s.proposeSkip); out.token < 0 {
			return scored{token: -1}
		}
	}
	if s.temperature > 0 {
		best := math.Inf(-1)
		segments(len(logits), s.proposeSkip, func(lo, hi int) {
			for i, v := range logits[lo:hi] {
				g := float64(v)*scale + gumbel(rng)
				if g > best {
					best, out.token = g, lo+i
				}
			}
		})
	}
	s.finish(&out, st, float64(logits[out.token])*scale, rng)
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
		return scored{token: -1}
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
	// Stats over the kept set; its maximum is still m (the top entry always survives).
	st := stats{m: m, second: math.Inf(-1), arg: -1}
	best := entry{v: math.Inf(-1), i: math.MaxInt32}
	for _, e := range kept {
		st.sum += e.w
		st.tx += e.w * (e.v - m)
		if greater(e, best) {
			if best.i != math.MaxInt32 {
				st.second = math.Max(st.second, best.v)
			}
			best = e
		} else if e.v > st.second {
			st.second = e.v
		}
	}
	out := scored{token: int(best.i)}
	x := best.v
	if s.temperature > 0 || isSkipped(s.proposeSkip, out.token) {
		// Draw (or, at T=0, take the best) among the kept tokens that may be proposed.
		g := math.Inf(-1)
		out.token = -1
		for _, e := range kept {
			if isSkipped(s.proposeSkip, int(e.i)) {
				continue
			}
			y := e.v
			if s.temperature > 0 {
				y += gumbel(rng)
			}
			if y > g || (y == g && int(e.i) < out.token) {
				g, out.token, x = y, int(e.i), e.v
			}
		}
		if out.token < 0 {
			return scored{token: -1}
		}
	}
	s.finish(&out, st, x, rng)
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
