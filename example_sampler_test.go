package llada

import (
	"context"
	"fmt"
)

// Fast-dLLM's threshold sampler commits every confident position at once, so a block takes fewer forward
// passes than it has tokens.
func ExampleStream_sampler() {
	// A test double: position p prefers token 4+p, with a confidence that grows with p.
	den := confDenoiser(32, func(pos int, _ []int64) float32 { return float32(pos) * 1.5 })
	c := testContract(32)
	cfg := GenerateConfig{GenLength: 8, Sampler: SamplerByName("fast-dllm-threshold")}
	for st, err := range Stream(context.Background(), den, c, [][]int{{9}}, cfg) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("step", st.Step, "committed", st.Committed[0], "nfe", st.NFE)
	}
	// Output:
	// step 0 committed [4 5 6 7 8] nfe 1
	// step 1 committed [3] nfe 2
	// step 2 committed [2] nfe 3
	// step 3 committed [1] nfe 4
}
