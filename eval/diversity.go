package eval

import (
	"math"
	"strconv"
	"strings"
)

// UnigramEntropy is the mean over samples of the entropy (nats) of each sample's token histogram. Low values
// flag repetitive samples (the MDLM/ReMDM line of work reports it next to generative perplexity, because a
// sampler can lower perplexity by repeating itself). Empty samples are skipped; no samples give 0.
func UnigramEntropy(samples [][]int) float64 {
	total, n := 0.0, 0
	counts := map[int]int{}
	for _, s := range samples {
		if len(s) == 0 {
			continue
		}
		clear(counts)
		for _, t := range s {
			counts[t]++
		}
		h := 0.0
		for _, c := range counts {
			p := float64(c) / float64(len(s))
			h -= p * math.Log(p)
		}
		total += h
		n++
	}
	if n == 0 {
		return 0
	}
	return total / float64(n)
}

// DistinctN is the number of distinct n-grams over all samples divided by the number of n-grams (Li et al.
// 2016, "A Diversity-Promoting Objective Function for Neural Conversation Models"). 1 means no n-gram repeats
// anywhere; collapse onto a few outputs drives it towards 0. No n-grams give 0.
func DistinctN(samples [][]int, n int) float64 {
	if n < 1 {
		return 0
	}
	seen := map[string]struct{}{}
	total := 0
	for _, s := range samples {
		for i := 0; i+n <= len(s); i++ {
			seen[gramKey(s[i:i+n])] = struct{}{}
			total++
		}
	}
	if total == 0 {
		return 0
	}
	return float64(len(seen)) / float64(total)
}

func gramKey(g []int) string {
	var b strings.Builder
	for i, t := range g {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.Itoa(t))
	}
	return b.String()
}

// SelfBLEU is the mean over samples of the BLEU-n of each sample against all the others as references (Zhu et
// al. 2018, Texygen): high values mean the samples resemble each other. BLEU here is corpus-free sentence BLEU
// with uniform weights over 1..n-grams, clipped counts against the maximum count in any reference, the brevity
// penalty against the closest reference length (shorter on ties), and "method 1" smoothing of Chen & Cherry
// (2014): a zero n-gram match count counts as 0.1, as Texygen does through NLTK. Tokens are compared by id.
// Fewer than two samples give 0.
func SelfBLEU(samples [][]int, n int) float64 {
	if len(samples) < 2 || n < 1 {
		return 0
	}
	grams := make([][]map[string]int, len(samples)) // [sample][order-1] -> counts
	for i, s := range samples {
		grams[i] = make([]map[string]int, n)
		for k := 1; k <= n; k++ {
			m := map[string]int{}
			for j := 0; j+k <= len(s); j++ {
				m[gramKey(s[j:j+k])]++
			}
			grams[i][k-1] = m
		}
	}
	sum := 0.0
	for i, hyp := range samples {
		if len(hyp) == 0 {
			continue
		}
		logP := 0.0
		for k := 1; k <= n; k++ {
			matched, denom := 0, 0
			for g, c := range grams[i][k-1] {
				best := 0
				for j := range samples {
					if j != i {
						best = max(best, grams[j][k-1][g])
					}
				}
				matched += min(c, best)
				denom += c
			}
			if denom == 0 {
				// A hypothesis shorter than k has no k-grams: NLTK scores the whole sentence 0.
				logP = math.Inf(-1)
				break
			}
			num := float64(matched)
			if matched == 0 {
				num = 0.1
			}
			logP += math.Log(num/float64(denom)) / float64(n)
		}
		if math.IsInf(logP, -1) {
			continue
		}
		closest := -1
		for j, ref := range samples {
			if j == i {
				continue
			}
			d, bd := abs(len(ref)-len(hyp)), abs(closest-len(hyp))
			if closest < 0 || d < bd || (d == bd && len(ref) < closest) {
				closest = len(ref)
			}
		}
		bp := 1.0
		if len(hyp) < closest {
			bp = math.Exp(1 - float64(closest)/float64(len(hyp)))
		}
		sum += bp * math.Exp(logP)
	}
	return sum / float64(len(samples))
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
