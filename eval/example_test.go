package eval

import (
	"context"
	"fmt"
	"math"
)

// Fill decodes masked positions anywhere in a canvas, here a gap in the middle and the first token, with the
// LLaDA low-confidence sampler committing two tokens per forward pass.
func ExampleFill() {
	den := arithDenoiser(false) // predicts 3+(a+p) mod 30 once it sees any token of the row
	c := testContract(arithVocab, arithMask)
	canvas := []int{0, 4, 5, 0, 0, 0, 9, 10} // 0 is the mask id
	res, err := Fill(context.Background(), den, c, [][]int{canvas}, Decoding{Sampler: "llada-low-confidence", TokensPerStep: 2}, 8, 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Filled[0], "NFE", res.NFE[0])
	// Output: [3 4 5 6 7 8 9 10] NFE 2
}

// LikelihoodBound estimates LLaDA's bound on the negative log-likelihood; a model that predicts uniformly over
// 16 tokens pays exactly log 16 nats per token, whatever the masks.
func ExampleLikelihoodBound() {
	uniform := &funcDenoiser{vocab: 16, fill: func(_ []int64, _ int, out []float32) {
		for i := range out {
			out[i] = 0
		}
	}}
	items := []LikelihoodItem{{Target: []int{3, 4, 5, 6, 7, 8, 9, 10}}}
	b, err := LikelihoodBound(context.Background(), uniform, testContract(16, 0), items, MCConfig{Samples: 32, Batch: 8, Seed: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%.4f nats/token (log 16 = %.4f), s.e. %.4f, %d copies\n", b.PerToken(), math.Log(16), b.PerTokenSE(), b.Copies)
	// Output: 2.7726 nats/token (log 16 = 2.7726), s.e. 0.0000, 32 copies
}

// The diversity metrics flag collapse: four identical samples.
func ExampleDistinctN() {
	collapsed := [][]int{{5, 6, 7}, {5, 6, 7}, {5, 6, 7}, {5, 6, 7}}
	varied := [][]int{{5, 6, 7}, {8, 9, 10}, {11, 12, 13}, {14, 15, 16}}
	fmt.Printf("distinct-2 %.2f vs %.2f, self-BLEU-2 %.2f vs %.2f\n",
		DistinctN(collapsed, 2), DistinctN(varied, 2), SelfBLEU(collapsed, 2), SelfBLEU(varied, 2))
	// Output: distinct-2 0.25 vs 1.00, self-BLEU-2 1.00 vs 0.04
}
