package eval

import (
	"fmt"
	"math"
	"sort"
)

// MAUVE (Pillutla et al. 2021, "MAUVE: Measuring the Gap Between Neural Text and Human Text using Divergence
// Frontiers") compares the distribution P of human text with the distribution Q of model text through their
// features: both feature sets are quantised into k clusters (L2-normalised features, PCA down to 90% of the
// variance, k-means), which turns P and Q into histograms p and q; for mixtures R_λ = λp + (1-λ)q the
// divergence curve is the set of points (exp(-c KL(q‖R_λ)), exp(-c KL(p‖R_λ))), and MAUVE is the area under
// it. The defaults and the details follow the authors' reference code, krishnap25/mauve
// src/mauve/compute_mauve.py (compute_mauve, cluster_feats, get_divergence_curve_for_multinomials): k =
// max(2, round(min(|P|, |Q|)/10)), 25 values of λ evenly spaced in [1e-6, 1-1e-6] plus the two extreme points
// (1, 0) and (0, 1), c = 5, and the area as the mean of the trapezoid areas under y(x) and under x(y). The
// quantiser differs in its k-means (ours: seeded Lloyd iterations from distinct data points, best of 5 restarts;
// the reference: faiss), so figures agree in law, not digit for digit.

// MauveConfig sets the MAUVE computation; zero fields take the reference defaults.
type MauveConfig struct {
	// Buckets is the number of k-means clusters; 0 means max(2, round(min(|P|,|Q|)/10)).
	Buckets int
	// ExplainedVariance is the share of the variance the PCA keeps (0 means 0.9); negative skips the PCA.
	ExplainedVariance float64
	// Restarts of k-means (the best objective is kept; 0 means 5) and MaxIter Lloyd iterations each (0: 500).
	Restarts, MaxIter int
	// Scaling is the constant c (0 means 5), Points the number of mixture weights λ (0 means 25).
	Scaling float64
	Points  int
	Seed    uint64
}

func (c MauveConfig) withDefaults(np, nq int) MauveConfig {
	if c.Buckets == 0 {
		c.Buckets = max(2, int(math.RoundToEven(float64(min(np, nq))/10)))
	}
	if c.ExplainedVariance == 0 {
		c.ExplainedVariance = 0.9
	}
	if c.Restarts == 0 {
		c.Restarts = 5
	}
	if c.MaxIter == 0 {
		c.MaxIter = 500
	}
	if c.Scaling == 0 {
		c.Scaling = 5
	}
	if c.Points == 0 {
		c.Points = 25
	}
	return c
}

// MauveResult is a MAUVE measurement.
type MauveResult struct {
	// Mauve is the area under the divergence curve, in (0, 1]: 1 when the histograms are equal.
	Mauve float64
	// Precision and Recall are the precision/recall reading of the same histograms (Sajjadi et al. 2018,
	// "Assessing Generative Models via Precision and Recall"; PRD): Precision = F_{1/8} is low when the model
	// puts mass where human text has none (degenerate or off-distribution text), Recall = F_8 is low when human
	// text has mass the model misses (mode collapse, low coverage). A model that covers one human mode in
	// eight scores about 0.90 and 0.13.
	Precision, Recall float64
	// P and Q are the human and model histograms over the clusters; Curve is the divergence curve, (x, y) =
	// (exp(-c KL(q‖R_λ)), exp(-c KL(p‖R_λ))), extreme points included.
	P, Q  []float64
	Curve [][2]float64
	// Buckets is the number of clusters, Dims the dimensions kept by the PCA.
	Buckets, Dims int
}

// Mauve quantises human (P) and model (Q) feature vectors and returns MAUVE(P, Q).
func Mauve(human, model [][]float64, cfg MauveConfig) (MauveResult, error) {
	if len(human) == 0 || len(model) == 0 {
		return MauveResult{}, fmt.Errorf("%w: MAUVE needs human and model features (got %d and %d)", ErrEmptyDataset, len(human), len(model))
	}
	cfg = cfg.withDefaults(len(human), len(model))
	if cfg.Buckets < 1 || cfg.Restarts < 1 || cfg.MaxIter < 1 || cfg.Points < 2 || !(cfg.Scaling > 0) || cfg.ExplainedVariance >= 1 {
		return MauveResult{}, fmt.Errorf("%w: MAUVE config %+v", ErrBadConfig, cfg)
	}
	d := len(human[0])
	// The reference stacks Q before P; the order only matters for the k-means initialisation.
	data := make([][]float64, 0, len(human)+len(model))
	for _, set := range [][][]float64{model, human} {
		for i, v := range set {
			if len(v) != d || d == 0 {
				return MauveResult{}, fmt.Errorf("%w: feature %d has dimension %d, want %d", ErrBadConfig, i, len(v), d)
			}
			u := make([]float64, d)
			n := 0.0
			for _, x := range v {
				if math.IsNaN(x) || math.IsInf(x, 0) {
					return MauveResult{}, fmt.Errorf("%w: feature %d is not finite", ErrBadConfig, i)
				}
				n += x * x
			}
			n = math.Sqrt(n)
			for j, x := range v {
				if n > 0 {
					u[j] = x / n
				}
			}
			data = append(data, u)
		}
	}
	if cfg.ExplainedVariance > 0 {
		data = pcaReduce(data, cfg.ExplainedVariance)
	}
	if cfg.Buckets > len(data) {
		return MauveResult{}, fmt.Errorf("%w: %d clusters for %d points", ErrBadConfig, cfg.Buckets, len(data))
	}
	labels := kmeans(data, cfg.Buckets, cfg.Restarts, cfg.MaxIter, cfg.Seed)
	p := make([]float64, cfg.Buckets)
	q := make([]float64, cfg.Buckets)
	for i, l := range labels {
		if i < len(model) {
			q[l] += 1 / float64(len(model))
		} else {
			p[l] += 1 / float64(len(human))
		}
	}
	r := MauveFromHistograms(p, q, cfg.Scaling, cfg.Points)
	r.Dims = len(data[0])
	return r, nil
}

// MauveFromHistograms computes MAUVE and the precision/recall reading from two histograms over the same bins
// (each summing to 1), with scaling constant c and the given number of mixture weights.
func MauveFromHistograms(p, q []float64, c float64, points int) MauveResult {
	curve := [][2]float64{{1, 0}} // λ→0 extreme: R = q, KL(q‖R) = 0, KL(p‖R) = ∞ (reference: [0, inf])
	for i := 0; i < points; i++ {
		w := 1e-6 + (1-2e-6)*float64(i)/float64(points-1)
		curve = append(curve, frontierPoint(p, q, w, c))
	}
	curve = append(curve, [2]float64{0, 1})
	prec, rec := prdFScores(p, q, 1001, 8)
	return MauveResult{Mauve: curveArea(curve), Precision: prec, Recall: rec, P: p, Q: q, Curve: curve, Buckets: len(p)}
}

// prdFScores computes the PRD curve of model histogram q against human histogram p (Sajjadi et al. 2018 and
// their reference code, msmsajjadi/precision-recall-distributions prd_score.py compute_prd and
// prd_to_max_f_beta_pair): for slopes λ = tan θ with θ on angles points evenly spread over (0, π/2),
// α(λ) = Σ min(λ p_i, q_i) and β(λ) = α(λ)/λ, both clipped to [0, 1]; then the best F_{1/beta} along the
// curve as the precision summary and the best F_beta as the recall summary.
func prdFScores(p, q []float64, angles int, beta float64) (precision, recall float64) {
	const eps = 1e-10
	fb := func(a, r, b float64) float64 {
		d := b*b*a + r
		if d <= 0 {
			return 0
		}
		return (1 + b*b) * a * r / d
	}
	for k := 0; k < angles; k++ {
		theta := eps + (math.Pi/2-2*eps)*float64(k)/float64(angles-1)
		lam := math.Tan(theta)
		a := 0.0
		for i := range p {
			a += math.Min(lam*p[i], q[i])
		}
		r := math.Min(math.Max(a/lam, 0), 1)
		a = math.Min(math.Max(a, 0), 1)
		precision = math.Max(precision, fb(a, r, 1/beta))
		recall = math.Max(recall, fb(a, r, beta))
	}
	return precision, recall
}

// frontierPoint is (exp(-c KL(q‖R)), exp(-c KL(p‖R))) for R = w p + (1-w) q.
func frontierPoint(p, q []float64, w, c float64) [2]float64 {
	r := make([]float64, len(p))
	for i := range p {
		r[i] = w*p[i] + (1-w)*q[i]
	}
	return [2]float64{math.Exp(-c * klDiv(q, r)), math.Exp(-c * klDiv(p, r))}
}

// klDiv is KL(a‖b) in nats over bins where both are positive; +Inf when a has mass where b has none.
func klDiv(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		switch {
		case a[i] == 0:
		case b[i] == 0:
			return math.Inf(1)
		default:
			s += a[i] * math.Log(a[i]/b[i])
		}
	}
	return s
}

// curveArea is the mean of the trapezoid areas under the curve read as y(x) and as x(y), as the reference
// does. Points with equal abscissa are ordered so that the curve is traced monotonically (larger ordinate
// first), which makes equal histograms score exactly 1.
func curveArea(curve [][2]float64) float64 {
	area := func(a, b int) float64 {
		pts := append([][2]float64(nil), curve...)
		sort.SliceStable(pts, func(i, j int) bool {
			if pts[i][a] != pts[j][a] {
				return pts[i][a] < pts[j][a]
			}
			return pts[i][b] > pts[j][b]
		})
		s := 0.0
		for i := 1; i < len(pts); i++ {
			s += (pts[i][a] - pts[i-1][a]) * (pts[i][b] + pts[i-1][b]) / 2
		}
		return s
	}
	return (area(0, 1) + area(1, 0)) / 2
}
