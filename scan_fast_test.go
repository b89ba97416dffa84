package llada

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// withKernels runs fn with the scoring pass forced onto k (nil: the scalar pass) for every row width.
func withKernels(k scanKernels, fn func()) {
	saved := useKernels
	useKernels = func(int) scanKernels { return k }
	defer func() { useKernels = saved }()
	fn()
}

// kernelSets are the implementations under test: the plain-Go contract everywhere, and the native (AVX2)
// kernels where this build and CPU have them.
func kernelSets() map[string]scanKernels {
	ks := map[string]scanKernels{"go": goKernels{}}
	if k := nativeKernels(); k != nil {
		ks["native"] = k
	}
	return ks
}

// adversarialRows are rows of width n that stress the pass: ties of the maximum (also at the never-proposed
// and skipped ids), -Inf runs, a lone finite logit, huge and tiny values, rows whose mass sits far below the
// subnormal range at low temperature, and NaN/+Inf (unscorable).
func adversarialRows(n, mask, eos int, rng *rand.Rand) map[string][]float32 {
	ninf := float32(math.Inf(-1))
	fill := func(f func(i int) float32) []float32 {
		r := make([]float32, n)
		for i := range r {
			r[i] = f(i)
		}
		return r
	}
	normal := func(s float64) func(int) float32 {
		return func(int) float32 { return float32(rng.NormFloat64() * s) }
	}
	rows := map[string][]float32{
		"normal":      fill(normal(2.5)),
		"peaked":      fill(normal(1)),
		"flat":        fill(func(int) float32 { return 0.25 }),
		"huge":        fill(func(int) float32 { return float32(rng.NormFloat64() * 1e30) }),
		"wide":        fill(normal(400)),
		"mostly-ninf": fill(func(i int) float32 { return ninf }),
		"all-ninf":    fill(func(int) float32 { return ninf }),
		"nan":         fill(normal(1)),
		"pinf":        fill(normal(1)),
		"ties":        fill(func(i int) float32 { return float32(i % 7) }),
		"mask-max":    fill(normal(1)),
		"mask-tie":    fill(normal(1)),
		"eos-max":     fill(normal(1)),
		"tail-ties":   fill(normal(1)),
	}
	rows["peaked"][n/3] += 30
	rows["peaked"][n/2] += 29
	for i := 0; i < n; i += 97 {
		rows["mostly-ninf"][i] = float32(rng.NormFloat64())
	}
	rows["mostly-ninf"][n-1] = 3
	rows["nan"][n-2] = float32(math.NaN())
	rows["pinf"][n/4] = float32(math.Inf(1))
	rows["mask-max"][mask] = 50
	rows["mask-tie"][mask], rows["mask-tie"][7], rows["mask-tie"][n-5] = 40, 40, 40
	rows["eos-max"][eos] = 60
	rows["tail-ties"][n-1], rows["tail-ties"][n-3] = 9, 9
	lone := fill(func(int) float32 { return ninf })
	lone[n-2] = -1
	rows["lone"] = lone
	return rows
}

func TestKernelScoringEqualsScalar(t *testing.T) {
	const mask, eos, eot = 1000, 2000, 2001
	type variant struct {
		name string
		s    scorer
	}
	var variants []variant
	for _, prop := range []Proposal{ProposeLLaDA, ProposeFiltered} {
		for _, score := range []Score{ScoreProb, ScoreMargin, ScoreNegEntropy, ScoreRandom} {
			for _, temp := range []float64{0, 0.01, 0.7, 1} {
				for _, sk := range []struct {
					name string
					skip [2][3]int
				}{
					{"plain", [2][3]int{{-1, -1, mask}, {-1, -1, -1}}},
					{"suppress-eos", [2][3]int{{eos, -1, mask}, {eos, -1, -1}}},
					{"defer-eos", [2][3]int{{-1, -1, mask}, {eos, eot, -1}}},
					{"suppress-mask", [2][3]int{{-1, -1, mask}, {-1, -1, mask}}},
				} {
					skipName, skip := sk.name, sk.skip
					s := scorer{proposal: prop, score: score, temperature: temp, proposeSkip: skip[0], confSkip: skip[1]}
					variants = append(variants, variant{fmt.Sprintf("%v/%v/T=%g/%s", prop, score, temp, skipName), s})
				}
			}
		}
	}
	for kname, k := range kernelSets() {
		var worst [2]float64
		defer func() {
			t.Logf("%s kernels: largest prob/score difference %.2g, entropy %.2g", kname, worst[0], worst[1])
		}()
		for _, n := range []int{2048 + 13, 126464} {
			rows := adversarialRows(n, mask, eos, rand.New(rand.NewPCG(uint64(n), 5)))
			for rname, row := range rows {
				if n > 10000 && (kname != "native" || rname != "peaked" && rname != "mask-tie") {
					continue // the full vocabulary for two rows on the fast kernels keeps the test short
				}
				for vi, v := range variants {
					if n > 10000 && (vi+vi/4)%4 != 0 {
						continue // a quarter of the variants at the full vocabulary, each temperature with another skip set
					}
					name := fmt.Sprintf("%s/n=%d/%s/%s", kname, n, rname, v.name)
					var want, got scored
					withKernels(nil, func() { want = v.s.run(row, rand.NewPCG(3, 4), nil) })
					withKernels(k, func() { got = v.s.run(row, rand.NewPCG(3, 4), nil) })
					require.Equal(t, want.ok, got.ok, name)
					require.Equal(t, want.token, got.token, name)
					if !want.ok {
						continue
					}
					// The native exp is float32 (sums in float64): probabilities within 1e-6, entropy
					// (nats) within 1e-5. The plain-Go kernels differ only by summation order.
					assert.InDelta(t, want.prob, got.prob, 1e-6, name)
					assert.InDelta(t, want.score, got.score, 1e-6, name)
					assert.InDelta(t, want.entropy, got.entropy, 1e-5, name)
					worst[0] = max(worst[0], math.Abs(want.prob-got.prob), math.Abs(want.score-got.score))
					worst[1] = max(worst[1], math.Abs(want.entropy-got.entropy))
				}
			}
		}
	}
}

// TestKernelDrawsEqualScalar checks that the sampled proposal at T > 0 is the same id on both paths for the
// same seed, over many seeds: both walk the same cumulative mass to the same target, and only rounding (far
// below these rows' smallest gaps) separates them.
func TestKernelDrawsEqualScalar(t *testing.T) {
	const n, mask = 4099, 17
	rng := rand.New(rand.NewPCG(8, 9))
	row := make([]float32, n)
	for i := range row {
		row[i] = float32(rng.NormFloat64() * 2)
	}
	for kname, k := range kernelSets() {
		for _, temp := range []float64{1, 0.5, 2} {
			s := scorer{proposal: ProposeLLaDA, score: ScoreProb, temperature: temp, proposeSkip: [3]int{-1, -1, mask}, confSkip: noSkip3()}
			counts := map[int]int{}
			for seed := uint64(0); seed < 400; seed++ {
				var want, got scored
				withKernels(nil, func() { want = s.run(row, rand.NewPCG(seed, 1), nil) })
				withKernels(k, func() { got = s.run(row, rand.NewPCG(seed, 1), nil) })
				require.Equal(t, want.token, got.token, "%s T=%g seed %d", kname, temp, seed)
				counts[got.token]++
			}
			assert.Greater(t, len(counts), 20, "%s T=%g: draws spread over the vocabulary", kname, temp)
		}
	}
}

func TestSplitSpans(t *testing.T) {
	var out [5]idRange
	k := splitSpans(10, [3]int{3, -1, 9}, 5, &out)
	assert.Equal(t, []idRange{{0, 3}, {4, 5}, {6, 9}}, out[:k])
	k = splitSpans(3, [3]int{0, 1, 2}, 1, &out)
	assert.Empty(t, out[:k])
	k = splitSpans(4, noSkip3(), -1, &out)
	assert.Equal(t, []idRange{{0, 4}}, out[:k])
}

// BenchmarkScoreKernels times the fused pass at V=126,464 on the scalar path and on the native kernels in
// the same run, so that the ratio survives a loaded machine; cpu-ns/position (process CPU time, GC
// included) moves less with the load than the wall-clock ns/position:
//
//	go test -run '^$' -bench 'BenchmarkScoreKernels' -benchtime 5x -cpu 1 .
func BenchmarkScoreKernels(b *testing.B) {
	logits := benchLogits()
	paths := map[string]scanKernels{"scalar": nil}
	if k := nativeKernels(); k != nil {
		paths["native"] = k
	}
	for _, c := range []struct {
		prop  Proposal
		score Score
		temp  float64
	}{
		{ProposeLLaDA, ScoreProb, 0}, {ProposeLLaDA, ScoreMargin, 0}, {ProposeLLaDA, ScoreNegEntropy, 0},
		{ProposeLLaDA, ScoreProb, 1}, {ProposeLLaDA, ScoreProb, 0.5}, {ProposeFiltered, ScoreProb, 1},
	} {
		s := scorer{proposal: c.prop, score: c.score, temperature: c.temp, proposeSkip: noSkip3(), confSkip: noSkip3()}
		s.proposeSkip[2] = 126336
		name := fmt.Sprintf("%v/%v/T=%g", c.prop, c.score, c.temp)
		for _, path := range []string{"scalar", "native"} {
			k, ok := paths[path]
			if !ok {
				continue
			}
			b.Run(name+"/"+path, func(b *testing.B) {
				withKernels(k, func() {
					rng := rand.NewPCG(0, 0)
					b.ResetTimer()
					cpu0 := processCPUTime()
					for i := 0; i < b.N; i++ {
						for p := 0; p < benchLen; p++ {
							q := p % benchDistinct
							rng.Seed(uint64(i), uint64(p))
							if r := s.run(logits[q*benchVocab:(q+1)*benchVocab], rng, nil); !r.ok {
								b.Fatal("unscorable")
							}
						}
					}
					b.ReportMetric(float64((processCPUTime()-cpu0).Nanoseconds())/float64(b.N*benchLen), "cpu-ns/position")
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchLen), "ns/position")
				})
			})
		}
	}
}
