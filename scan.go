package llada

import (
	"math"
	"math/rand/v2"
)

// scorer turns one position's logits into a proposed token and a confidence in a single pass. It is the hot
// loop of the sampler: O(vocab) per masked position per step, so it allocates nothing and reads each logit once.
type scorer struct {
	temperature float64
	random      bool // RemaskRandom: confidence is a uniform draw, not a probability
	// proposeSkip are token ids whose logit counts as -Inf when proposing (SuppressEOS); confSkip are
	// removed from the softmax that gives the confidence (DeferEOS). -1 marks an unused slot.
	proposeSkip [2]int
	confSkip    [2]int
}

// segments calls fn over [0,n) split around the (at most two) skipped ids, so the inner loops carry no
// per-element test for them.
func segments(n int, skip [2]int, fn func(lo, hi int)) {
	a, b := skip[0], skip[1]
	if a > b {
		a, b = b, a
	}
	lo := 0
	for _, s := range [2]int{a, b} {
		if s < lo || s >= n {
			continue
		}
		if s > lo {
			fn(lo, s)
		}
		lo = s + 1
	}
	if lo < n {
		fn(lo, n)
	}
}

func skipped(skip [2]int, id int) bool { return id == skip[0] || id == skip[1] }

// score returns the proposal and its confidence for one position. ok is false when the logits hold NaN or
// +Inf, or when every allowed logit is -Inf: such a position cannot be scored and the caller reports it.
// rng is the position's own stream (see generation.scoreRange); it is used only when sampling.
func (s *scorer) score(logits []float32, rng *rand.PCG) (token int, conf float64, ok bool) {
	n := len(logits)
	token = -1
	bad := false
	if s.temperature == 0 {
		best := float32(math.Inf(-1))
		segments(n, s.proposeSkip, func(lo, hi int) {
			for i, v := range logits[lo:hi] {
				if v > best {
					best, token = v, lo+i
				} else if v != v {
					bad = true
				}
			}
		})
		if math.IsInf(float64(best), 1) {
			bad = true
		}
	} else {
		// Gumbel-max in float64: argmax_v l_v - T*log(-log u_v), the same law as LLaDA's
		// exp(l)/(-log u)^T (ML-GSAI/LLaDA generate.py add_gumbel_noise), without overflowing exp.
		best := math.Inf(-1)
		t := s.temperature
		segments(n, s.proposeSkip, func(lo, hi int) {
			for i, v := range logits[lo:hi] {
				if v != v || math.IsInf(float64(v), 1) {
					bad = true
					continue
				}
				u := (float64(rng.Uint64()>>11) + 0.5) * 0x1p-53
				g := float64(v) - t*math.Log(-math.Log(u))
				if g > best {
					best, token = g, lo+i
				}
			}
		})
	}
	if bad || token < 0 {
		return -1, 0, false
	}
	if s.random {
		return token, (float64(rng.Uint64()>>11) + 0.5) * 0x1p-53, true
	}
	if skipped(s.confSkip, token) {
		return token, 0, true
	}
	// Softmax probability of the proposal, in float64 with a streaming log-sum-exp.
	// Starting at -MaxFloat64 rather than -Inf keeps -Inf logits harmless: exp(-Inf - m) is 0, never NaN.
	m := -math.MaxFloat64
	sum := 0.0
	segments(n, s.confSkip, func(lo, hi int) {
		for _, v := range logits[lo:hi] {
			x := float64(v)
			if x <= m {
				sum += math.Exp(x - m)
				continue
			}
			sum = sum*math.Exp(m-x) + 1
			m = x
		}
	})
	return token, math.Exp(float64(logits[token])-m) / sum, true
}
