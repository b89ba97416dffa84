package eval

import (
	"math"
	"math/rand/v2"
	"sort"
)

// pcaReduce centres the rows and projects them on the fewest principal axes whose eigenvalues hold at least
// share of the total variance (the reference's cumsum(explained_variance_ratio_) >= share rule). The covariance
// is diagonalised by cyclic Jacobi rotations, exact enough for the few hundred dimensions of our features.
func pcaReduce(x [][]float64, share float64) [][]float64 {
	n, d := len(x), len(x[0])
	mu := make([]float64, d)
	for _, v := range x {
		for j, a := range v {
			mu[j] += a / float64(n)
		}
	}
	cov := make([][]float64, d)
	for i := range cov {
		cov[i] = make([]float64, d)
	}
	c := make([]float64, d)
	for _, v := range x {
		for j := range v {
			c[j] = v[j] - mu[j]
		}
		for i := 0; i < d; i++ {
			if c[i] == 0 {
				continue
			}
			row := cov[i]
			for j := i; j < d; j++ {
				row[j] += c[i] * c[j]
			}
		}
	}
	for i := 0; i < d; i++ {
		for j := i; j < d; j++ {
			cov[i][j] /= float64(max(n-1, 1))
			cov[j][i] = cov[i][j]
		}
	}
	vals, vecs := jacobiEigen(cov)
	order := make([]int, d)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return vals[order[a]] > vals[order[b]] })
	total := 0.0
	for _, v := range vals {
		total += math.Max(v, 0)
	}
	keep, acc := d, 0.0
	for i, k := range order {
		acc += math.Max(vals[k], 0)
		if total > 0 && acc/total >= share {
			keep = i + 1
			break
		}
	}
	out := make([][]float64, n)
	for r, v := range x {
		o := make([]float64, keep)
		for i := 0; i < keep; i++ {
			k := order[i]
			s := 0.0
			for j := 0; j < d; j++ {
				s += (v[j] - mu[j]) * vecs[j][k]
			}
			o[i] = s
		}
		out[r] = o
	}
	return out
}

// jacobiEigen diagonalises a symmetric matrix (destroyed) by cyclic Jacobi rotations and returns its
// eigenvalues and the eigenvectors as the columns of a matrix.
func jacobiEigen(a [][]float64) ([]float64, [][]float64) {
	d := len(a)
	v := make([][]float64, d)
	for i := range v {
		v[i] = make([]float64, d)
		v[i][i] = 1
	}
	for sweep := 0; sweep < 100; sweep++ {
		off, diag := 0.0, 0.0
		for i := 0; i < d; i++ {
			diag += a[i][i] * a[i][i]
			for j := i + 1; j < d; j++ {
				off += a[i][j] * a[i][j]
			}
		}
		if off <= 1e-22*diag || off == 0 {
			break
		}
		for p := 0; p < d; p++ {
			for q := p + 1; q < d; q++ {
				if a[p][q] == 0 {
					continue
				}
				theta := (a[q][q] - a[p][p]) / (2 * a[p][q])
				t := 1 / (math.Abs(theta) + math.Sqrt(theta*theta+1))
				if theta < 0 {
					t = -t
				}
				c := 1 / math.Sqrt(t*t+1)
				s := t * c
				for k := 0; k < d; k++ {
					akp, akq := a[k][p], a[k][q]
					a[k][p] = c*akp - s*akq
					a[k][q] = s*akp + c*akq
				}
				for k := 0; k < d; k++ {
					apk, aqk := a[p][k], a[q][k]
					a[p][k] = c*apk - s*aqk
					a[q][k] = s*apk + c*aqk
				}
				for k := 0; k < d; k++ {
					vkp, vkq := v[k][p], v[k][q]
					v[k][p] = c*vkp - s*vkq
					v[k][q] = s*vkp + c*vkq
				}
			}
		}
	}
	vals := make([]float64, d)
	for i := range vals {
		vals[i] = a[i][i]
	}
	return vals, v
}

// kmeans clusters x into k groups with Lloyd's algorithm from k distinct data points drawn with a seeded
// generator, restarts times, and returns the labels of the run with the lowest within-cluster sum of squares.
// Ties (equal distances, equal objectives) go to the lowest index. A cluster left empty is moved to the point
// farthest from its centroid.
func kmeans(x [][]float64, k, restarts, maxIter int, seed uint64) []int {
	rng := rand.New(rand.NewPCG(seed, 0x6b6d))
	n, d := len(x), len(x[0])
	var best []int
	bestObj := math.Inf(1)
	labels := make([]int, n)
	for run := 0; run < restarts; run++ {
		cent := make([][]float64, k)
		for i, j := range rng.Perm(n)[:k] {
			cent[i] = append([]float64(nil), x[j]...)
		}
		for i := range labels {
			labels[i] = -1
		}
		obj := 0.0
		for it := 0; it < maxIter; it++ {
			changed := false
			obj = 0
			for i, v := range x {
				bl, bd := 0, math.Inf(1)
				for c := range cent {
					if dd := sqDist(v, cent[c]); dd < bd {
						bl, bd = c, dd
					}
				}
				if labels[i] != bl {
					labels[i], changed = bl, true
				}
				obj += bd
			}
			if !changed {
				break
			}
			counts := make([]int, k)
			for c := range cent {
				for j := range cent[c] {
					cent[c][j] = 0
				}
			}
			for i, v := range x {
				counts[labels[i]]++
				for j := 0; j < d; j++ {
					cent[labels[i]][j] += v[j]
				}
			}
			for c := range cent {
				for j := range cent[c] {
					if counts[c] > 0 {
						cent[c][j] /= float64(counts[c])
					}
				}
			}
			taken := map[int]bool{}
			for c := range cent {
				if counts[c] > 0 {
					continue
				}
				// Empty cluster: restart it at the point worst served by its centroid; that point moves to
				// it in the next assignment, so the iterations go on.
				far, fd := -1, -1.0
				for i, v := range x {
					if dd := sqDist(v, cent[labels[i]]); dd > fd && !taken[i] {
						far, fd = i, dd
					}
				}
				taken[far] = true
				copy(cent[c], x[far])
			}
		}
		if obj < bestObj {
			bestObj = obj
			best = append(best[:0], labels...)
		}
	}
	return best
}

func sqDist(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		t := a[i] - b[i]
		s += t * t
	}
	return s
}
