package llada

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newTestScorer(p Proposal, s Score) scorer {
	return scorer{proposal: p, score: s, proposeSkip: noSkip3(), confSkip: noSkip3()}
}

func softmax64(x []float64) []float64 {
	m := slices.Max(x)
	out := make([]float64, len(x))
	z := 0.0
	for i, v := range x {
		out[i] = math.Exp(v - m)
		z += out[i]
	}
	for i := range out {
		out[i] /= z
	}
	return out
}

func TestScoresMatchDirectComputation(t *testing.T) {
	logits := []float32{0.5, 2, -1, 1.5, 2, 0}
	x := make([]float64, len(logits))
	for i, v := range logits {
		x[i] = float64(v)
	}
	p := softmax64(x)
	h := 0.0
	for _, v := range p {
		h -= v * math.Log(v)
	}
	rng := rand.NewPCG(1, 2)
	for _, prop := range []Proposal{ProposeLLaDA, ProposeFiltered} {
		s := newTestScorer(prop, ScoreProb)
		r := s.run(logits, rng, nil)
		require.True(t, r.ok)
		assert.Equal(t, 1, r.token, "argmax ties break to the lowest id")
		assert.InDelta(t, p[1], r.prob, 1e-12)
		assert.InDelta(t, p[1], r.score, 1e-12)
		assert.InDelta(t, h, r.entropy, 1e-12)

		s.score = ScoreMargin
		r = s.run(logits, rng, nil)
		assert.InDelta(t, 0, r.score, 1e-12, "two equal maxima: margin 0")

		s.score = ScoreNegEntropy
		r = s.run(logits, rng, nil)
		assert.InDelta(t, -h, r.score, 1e-12)
	}
	// Margin with a clear second.
	s := newTestScorer(ProposeFiltered, ScoreMargin)
	r := s.run([]float32{0, 3, 1}, rng, nil)
	q := softmax64([]float64{0, 3, 1})
	assert.InDelta(t, q[1]-q[2], r.score, 1e-12)
}

func TestFilteredTemperatureScoresTheTemperedDistribution(t *testing.T) {
	// Dream reads softmax(l/T); LLaDA reads softmax(l) whatever T.
	logits := []float32{1, 3, 2}
	rng := rand.NewPCG(3, 4)
	d := newTestScorer(ProposeFiltered, ScoreProb)
	d.temperature = 0.5
	l := newTestScorer(ProposeLLaDA, ScoreProb)
	l.temperature = 0.5
	pt := softmax64([]float64{2, 6, 4})
	p1 := softmax64([]float64{1, 3, 2})
	for i := 0; i < 50; i++ {
		r := d.run(logits, rng, nil)
		assert.InDelta(t, pt[r.token], r.prob, 1e-12)
		r = l.run(logits, rng, nil)
		assert.InDelta(t, p1[r.token], r.prob, 1e-12)
	}
}

func TestTopPTopKFilters(t *testing.T) {
	buf := make([]entry, 16)
	rng := rand.NewPCG(5, 6)
	// Sorted probabilities .598 .220 .133 .049 -> cumulative .598 .818 .951: top_p .8 keeps the first two
	// (the token that crosses p survives), top_p .85 the first three.
	s := newTestScorer(ProposeFiltered, ScoreProb)
	s.topP = 0.8
	logits := []float32{2.0, 0.5, 1.0, -0.5}
	r := s.run(logits, rng, buf)
	assert.InDelta(t, softmax64([]float64{2, 1})[0], r.prob, 1e-12)
	s.topP = 0.85
	r = s.run(logits, rng, buf)
	assert.InDelta(t, softmax64([]float64{2, 0.5, 1})[0], r.prob, 1e-12)
	// top_p below the top token's mass keeps the top token only.
	s.topP = 0.1
	r = s.run(logits, rng, buf)
	assert.Equal(t, 0, r.token)
	assert.InDelta(t, 1, r.prob, 1e-12)
	assert.InDelta(t, 0, r.entropy, 1e-12)
	// top_k keeps ties with the k-th.
	s = newTestScorer(ProposeFiltered, ScoreProb)
	s.topK = 2
	r = s.run([]float32{3, 1, 1, 0}, rng, buf)
	assert.InDelta(t, softmax64([]float64{3, 1, 1})[0], r.prob, 1e-12)
}

// keptReference computes top-p and top-k kept sets by full sorting, the way the references do.
func keptReference(x []float64, topP float64, topK int, kFirst bool) map[int]bool {
	idx := make([]int, len(x))
	for i := range idx {
		idx[i] = i
	}
	keep := map[int]bool{}
	for _, i := range idx {
		keep[i] = true
	}
	applyP := func() {
		var ids []int
		for i := range keep {
			ids = append(ids, i)
		}
		sort.Slice(ids, func(a, b int) bool {
			if x[ids[a]] != x[ids[b]] {
				return x[ids[a]] > x[ids[b]]
			}
			return ids[a] < ids[b]
		})
		vals := make([]float64, len(ids))
		for k, i := range ids {
			vals[k] = x[i]
		}
		p := softmax64(vals)
		cum := 0.0
		for k, i := range ids {
			if k > 0 && cum > topP {
				delete(keep, i)
			}
			cum += p[k]
		}
	}
	applyK := func() {
		var vals []float64
		for i := range keep {
			vals = append(vals, x[i])
		}
		if topK <= 0 || topK >= len(vals) {
			return
		}
		sort.Sort(sort.Reverse(sort.Float64Slice(vals)))
		kth := vals[topK-1]
		for i := range keep {
			if x[i] < kth {
				delete(keep, i)
			}
		}
	}
	if kFirst {
		applyK()
		applyP()
	} else {
		applyP()
		applyK()
	}
	return keep
}

func TestSelectionMatchesSorting(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for trial := 0; trial < 200; trial++ {
		n := 1 + rng.IntN(3000)
		x := make([]float64, n)
		for i := range x {
			x[i] = rng.NormFloat64() * 3
			if rng.IntN(10) == 0 && i > 0 {
				x[i] = x[rng.IntN(i)] // ties
			}
		}
		topP := rng.Float64()
		topK := rng.IntN(n + 5)
		kFirst := rng.IntN(2) == 0
		buf := make([]entry, n)
		m := slices.Max(x)
		for i, v := range x {
			buf[i] = entry{v: v, w: math.Exp(v - m), i: int32(i)}
		}
		var kept []entry
		if kFirst {
			kept = topPSelect(topKSelect(buf, topK), topP)
		} else {
			kept = topKSelect(topPSelect(buf, topP), topK)
		}
		want := keptReference(x, topP, topK, kFirst)
		got := map[int]bool{}
		for _, e := range kept {
			got[int(e.i)] = true
		}
		require.Equal(t, want, got, "trial %d n=%d p=%v k=%d kFirst=%v", trial, n, topP, topK, kFirst)
	}
}

// chiSquareOK runs a chi-square goodness-of-fit check of counts against probabilities at a generous level
// (the statistic must stay under df + 6*sqrt(2 df)), merging nothing: the probabilities here are not tiny.
func chiSquareOK(t *testing.T, counts []int, probs []float64, n int) {
	t.Helper()
	chi := 0.0
	df := -1
	for i, p := range probs {
		if p == 0 {
			assert.Zero(t, counts[i], "token %d has zero probability", i)
			continue
		}
		e := p * float64(n)
		d := float64(counts[i]) - e
		chi += d * d / e
		df++
	}
	assert.Less(t, chi, float64(df)+6*math.Sqrt(2*float64(df)), "chi2=%v df=%d counts=%v", chi, df, counts)
}

func TestSampledProposalsFollowTheirDistribution(t *testing.T) {
	logits := []float32{0.2, 1.5, -0.3, 1.1, 0.7, -2}
	x := make([]float64, len(logits))
	for i, v := range logits {
		x[i] = float64(v)
	}
	const n = 40000
	rng := rand.NewPCG(9, 10)
	buf := make([]entry, len(logits))
	for _, tc := range []struct {
		name string
		s    scorer
		want []float64
	}{
		{"llada T=0.8", func() scorer { s := newTestScorer(ProposeLLaDA, ScoreProb); s.temperature = 0.8; return s }(),
			softmax64([]float64{0.25, 1.875, -0.375, 1.375, 0.875, -2.5})},
		{"llada T=1 (fused pass)", func() scorer { s := newTestScorer(ProposeLLaDA, ScoreMargin); s.temperature = 1; return s }(),
			softmax64(x)},
		{"filtered T=0.5", func() scorer { s := newTestScorer(ProposeFiltered, ScoreNegEntropy); s.temperature = 0.5; return s }(),
			softmax64([]float64{0.4, 3, -0.6, 2.2, 1.4, -4})},
		{"filtered T=1 top_k=3", func() scorer {
			s := newTestScorer(ProposeFiltered, ScoreProb)
			s.temperature, s.topK = 1, 3
			return s
		}(), func() []float64 {
			p := softmax64([]float64{1.5, 1.1, 0.7})
			return []float64{0, p[0], 0, p[1], p[2], 0}
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			counts := make([]int, len(logits))
			for i := 0; i < n; i++ {
				r := tc.s.run(logits, rng, buf)
				require.True(t, r.ok)
				counts[r.token]++
			}
			chiSquareOK(t, counts, tc.want, n)
		})
	}
}

func TestSkippedTokensAreNeverProposed(t *testing.T) {
	s := newTestScorer(ProposeFiltered, ScoreProb)
	s.proposeSkip = [3]int{1, -1, 0}
	s.confSkip = s.proposeSkip
	s.temperature = 1
	rng := rand.NewPCG(11, 12)
	for i := 0; i < 200; i++ {
		r := s.run([]float32{5, 5, 0, 0}, rng, nil)
		require.True(t, r.ok)
		assert.NotContains(t, []int{0, 1}, r.token)
		assert.InDelta(t, 0.5, r.prob, 1e-12)
	}
}

func TestBadLogitsAreReported(t *testing.T) {
	buf := make([]entry, 4)
	for _, prop := range []Proposal{ProposeLLaDA, ProposeFiltered} {
		for _, topK := range []int{0, 2} {
			s := newTestScorer(prop, ScoreProb)
			if prop == ProposeFiltered {
				s.topK = topK
			}
			for _, temp := range []float64{0, 1} {
				s.temperature = temp
				rng := rand.NewPCG(1, 1)
				assert.False(t, s.run([]float32{0, float32(math.NaN()), 1, 2}, rng, buf).ok)
				assert.False(t, s.run([]float32{0, float32(math.Inf(1)), 1, 2}, rng, buf).ok)
				ninf := float32(math.Inf(-1))
				assert.False(t, s.run([]float32{ninf, ninf, ninf, ninf}, rng, buf).ok)
				r := s.run([]float32{ninf, 1, ninf, ninf}, rng, buf)
				assert.True(t, r.ok)
				assert.Equal(t, 1, r.token)
			}
		}
	}
}
