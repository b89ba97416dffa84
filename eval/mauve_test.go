package eval

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The expected values come from independent numpy code, run by hand. MAUVE, after the reference's
// get_divergence_curve_for_multinomials and the sklearn-auc area:
//
//	pts = [[0, inf]] + [[kl(q, w*p+(1-w)*q), kl(p, w*p+(1-w)*q)] for w in np.linspace(1e-6, 1-1e-6, 25)] + [[inf, 0]]
//	x, y = np.exp(-5 * np.array(pts)).T;  0.5 * (np.trapz(y[argsort(x)], x[argsort(x)]) + np.trapz(x[argsort(y)], y[argsort(y)]))
//
// Precision and recall, after Sajjadi et al.'s compute_prd / prd_to_max_f_beta_pair (β = 8):
//
//	sl = np.tan(np.linspace(1e-10, np.pi/2-1e-10, 1001)); P = np.minimum(p*sl[:,None], q).sum(1); R = P/sl
//	F(b) = max((1+b*b)*P*R/(b*b*P+R)) over the clipped curve; precision = F(1/8), recall = F(8)
func TestMauveFromHistogramsMatchesNumpy(t *testing.T) {
	for _, tc := range []struct {
		p, q                     []float64
		mauve, precision, recall float64
	}{
		{[]float64{0.5, 0.3, 0.2}, []float64{0.1, 0.1, 0.8}, 0.349656289718, 0.9556849862, 0.9416558784},
		{[]float64{0.6, 0.4, 0}, []float64{0, 0.5, 0.5}, 0.066845938005, -1, -1},
		{[]float64{0.25, 0.25, 0.25, 0.25}, []float64{0.7, 0.1, 0.1, 0.1}, 0.660442752579, -1, -1},
		// One human mode in eight: precision stays high, recall falls.
		{[]float64{0.125, 0.125, 0.125, 0.125, 0.125, 0.125, 0.125, 0.125}, []float64{1, 0, 0, 0, 0, 0, 0, 0}, -1, 0.9025637781, 0.1267030263},
		{[]float64{0.5, 0.5, 0}, []float64{0, 0.5, 0.5}, -1, 0.5, 0.5},
	} {
		r := MauveFromHistograms(tc.p, tc.q, 5, 25)
		if tc.mauve >= 0 {
			assert.InDelta(t, tc.mauve, r.Mauve, 1e-9, "%v %v", tc.p, tc.q)
		}
		if tc.precision >= 0 {
			assert.InDelta(t, tc.precision, r.Precision, 1e-8, "%v %v", tc.p, tc.q)
			assert.InDelta(t, tc.recall, r.Recall, 1e-8, "%v %v", tc.p, tc.q)
		}
		assert.Len(t, r.Curve, 27, "25 mixtures and the two extreme points")
	}
}

// Hand computations: equal histograms put every frontier point at (1, 1), so the area is 1 (the curve is traced
// monotonically through the extreme points). Disjoint one-bin histograms with two mixture weights ε and 1-ε give
// the points (0,1), (ε^5, (1-ε)^5), ((1-ε)^5, ε^5), (1,0); the trapezoids under y(x) sum to
// [ε^5(1+(1-ε)^5) + ((1-ε)^10 - ε^10) + (1-(1-ε)^5)ε^5] / 2, and x(y) is the mirror image.
func TestMauveHandComputed(t *testing.T) {
	eq := MauveFromHistograms([]float64{0.5, 0.5}, []float64{0.5, 0.5}, 5, 25)
	assert.InDelta(t, 1, eq.Mauve, 1e-12)
	assert.InDelta(t, 1, eq.Precision, 1e-12)
	assert.InDelta(t, 1, eq.Recall, 1e-12)

	e := 1e-6
	a, b := math.Pow(e, 5), math.Pow(1-e, 5)
	want := (a*(1+b) + (b*b - a*a) + (1-b)*a) / 2
	dis := MauveFromHistograms([]float64{1, 0}, []float64{0, 1}, 5, 2)
	assert.InDelta(t, want, dis.Mauve, 1e-12)
	assert.InDelta(t, 0.5, dis.Mauve, 1e-5)
	// Disjoint supports: min(λp, q) = 0 everywhere, so the PRD curve is the origin.
	assert.Zero(t, dis.Precision)
	assert.Zero(t, dis.Recall)
}

// gaussians draws n points in d dimensions around the given centres (chosen uniformly), with spread sd.
func gaussians(rng *rand.Rand, n, d int, centres [][]float64, sd float64) [][]float64 {
	out := make([][]float64, n)
	for i := range out {
		c := centres[rng.IntN(len(centres))]
		v := make([]float64, d)
		for j := range v {
			v[j] = c[j] + sd*rng.NormFloat64()
		}
		out[i] = v
	}
	return out
}

// Law tests of the whole pipeline (normalisation, PCA, k-means, frontier) on synthetic features: a fresh sample
// of the same distribution scores near 1, a distribution with disjoint support near 0, and a model that
// collapses onto one of the human modes keeps its precision and loses its recall.
func TestMauveOrderings(t *testing.T) {
	rng := newRand(3)
	d := 16
	centres := make([][]float64, 8)
	for i := range centres {
		centres[i] = make([]float64, d)
		centres[i][i] = 10
		centres[i][8+i%8] = 5
	}
	human := gaussians(rng, 400, d, centres, 1)
	same := gaussians(rng, 400, d, centres, 1)
	far := make([][]float64, 8)
	for i := range far {
		far[i] = make([]float64, d)
		far[i][i] = -10
		far[i][(i+3)%8] = -10
	}
	unrelated := gaussians(rng, 400, d, far, 1)
	collapsed := gaussians(rng, 400, d, centres[:1], 1)

	cfg := MauveConfig{Seed: 1}
	s, err := Mauve(human, same, cfg)
	require.NoError(t, err)
	assert.Equal(t, 40, s.Buckets, "k = n/10")
	assert.Greater(t, s.Mauve, 0.9, "same distribution")
	u, err := Mauve(human, unrelated, cfg)
	require.NoError(t, err)
	assert.Less(t, u.Mauve, 0.05, "disjoint support")
	c, err := Mauve(human, collapsed, cfg)
	require.NoError(t, err)
	assert.Less(t, c.Mauve, s.Mauve)
	assert.Greater(t, c.Precision, 2*c.Recall, "mode collapse: what the model writes is human-like, but it covers one mode in eight")

	again, err := Mauve(human, collapsed, cfg)
	require.NoError(t, err)
	assert.Equal(t, c, again, "seeded")

	_, err = Mauve(nil, same, cfg)
	require.ErrorIs(t, err, ErrEmptyDataset)
	_, err = Mauve(human, [][]float64{{1, 2}}, cfg)
	require.ErrorIs(t, err, ErrBadConfig)
	_, err = Mauve(human, [][]float64{make([]float64, d)}, MauveConfig{Buckets: 1000})
	require.ErrorIs(t, err, ErrBadConfig)
	nan := make([]float64, d)
	nan[3] = math.NaN()
	_, err = Mauve(human, [][]float64{nan}, cfg)
	require.ErrorIs(t, err, ErrBadConfig)
}

func TestPCAKeepsTheVarianceShare(t *testing.T) {
	rng := newRand(5)
	// Variances 9, 1 and ~0 along three axes rotated by 45° in the first plane.
	x := make([][]float64, 500)
	for i := range x {
		a, b := 3*rng.NormFloat64(), rng.NormFloat64()
		x[i] = []float64{(a + b) / math.Sqrt2, (a - b) / math.Sqrt2, 1e-3 * rng.NormFloat64()}
	}
	one := pcaReduce(x, 0.8)
	require.Len(t, one[0], 1)
	two := pcaReduce(x, 0.95)
	require.Len(t, two[0], 2)
	// The first component carries the variance of a (about 9).
	v := 0.0
	for _, r := range one {
		v += r[0] * r[0] / float64(len(one)-1)
	}
	assert.InDelta(t, 9, v, 1.2)

	vals, vecs := jacobiEigen([][]float64{{2, 1}, {1, 2}})
	assert.ElementsMatch(t, []float64{1, 3}, []float64{math.Round(vals[0]*1e9) / 1e9, math.Round(vals[1]*1e9) / 1e9})
	for k := 0; k < 2; k++ {
		// A v = λ v
		assert.InDelta(t, vals[k]*vecs[0][k], 2*vecs[0][k]+vecs[1][k], 1e-9)
	}
}

func TestKMeansSeparatesBlobs(t *testing.T) {
	rng := newRand(9)
	x := gaussians(rng, 60, 2, [][]float64{{0, 0}, {20, 0}, {0, 20}}, 0.5)
	labels := kmeans(x, 3, 5, 100, 1)
	groups := map[[2]int]int{}
	for i, v := range x {
		key := [2]int{int(math.Round(v[0] / 20)), int(math.Round(v[1] / 20))}
		if l, ok := groups[key]; ok {
			assert.Equal(t, l, labels[i], "one blob, one cluster")
		} else {
			groups[key] = labels[i]
		}
	}
	assert.Len(t, groups, 3)
	assert.Equal(t, labels, kmeans(x, 3, 5, 100, 1), "seeded")
}

// MauveVectors by hand: the reference's log-probabilities -1 and -3 have mean -2 and σ 1; its content vectors
// (1,0) and (0,1) have mean (½,½) and variance ¼ per dimension, total ½, so the fluency coordinate is
// √½·(lp+2).
func TestMauveVectors(t *testing.T) {
	ref := SentenceFeatures{Content: [][]float64{{1, 0}, {0, 1}}, LogProb: []float64{-1, -3}}
	x := SentenceFeatures{Content: [][]float64{{0.6, 0.8}, {1, 0}}, LogProb: []float64{-4, -2}}
	v, err := MauveVectors(ref, x)
	require.NoError(t, err)
	require.Len(t, v, 2)
	assert.InDeltaSlice(t, []float64{0.6, 0.8, -2 * math.Sqrt(0.5)}, v[0], 1e-12)
	assert.InDeltaSlice(t, []float64{1, 0, 0}, v[1], 1e-12)
	// On the reference itself both blocks carry the same variance: ½ for the content, ½ for the fluency.
	rv, err := MauveVectors(ref, ref)
	require.NoError(t, err)
	assert.InDelta(t, math.Sqrt(0.5), rv[0][2], 1e-12)
	assert.InDelta(t, -math.Sqrt(0.5), rv[1][2], 1e-12)
	assert.Equal(t, []float64{1, 0}, ref.Content[0], "inputs untouched")

	for name, tc := range map[string]struct {
		ref, x SentenceFeatures
		want   error
	}{
		"one reference":      {SentenceFeatures{Content: [][]float64{{1, 0}}, LogProb: []float64{-1}}, x, ErrEmptyDataset},
		"flat log-probs":     {SentenceFeatures{Content: ref.Content, LogProb: []float64{-2, -2}}, x, ErrBadConfig},
		"same content":       {SentenceFeatures{Content: [][]float64{{1, 0}, {1, 0}}, LogProb: ref.LogProb}, x, ErrBadConfig},
		"lengths differ":     {ref, SentenceFeatures{Content: x.Content, LogProb: []float64{-1}}, ErrEmptyDataset},
		"empty":              {ref, SentenceFeatures{}, ErrEmptyDataset},
		"dimension mismatch": {ref, SentenceFeatures{Content: [][]float64{{1, 0, 0}}, LogProb: []float64{-1}}, ErrBadConfig},
		"ragged":             {ref, SentenceFeatures{Content: [][]float64{{1, 0}, {1}}, LogProb: []float64{-1, -1}}, ErrBadConfig},
		"not finite":         {ref, SentenceFeatures{Content: [][]float64{{1, 0}}, LogProb: []float64{math.Inf(-1)}}, ErrBadConfig},
	} {
		_, err := MauveVectors(tc.ref, tc.x)
		require.ErrorIs(t, err, tc.want, name)
	}
}
