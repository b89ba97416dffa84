package llada_test

import (
	"context"
	"fmt"
	"log"

	"github.com/llada-go/llada"
)

// A model with the in-graph reductions (testdata/reductions: the tiny model edited by
// export/add_reductions.py) is a ReductionDenoiser: a greedy generation then reads [rows, seq] values per
// step instead of the logits, and generates the same ids as the plain model.
func ExampleReductionDenoiser() {
	plain, err := llada.Open("testdata/tiny")
	if err != nil {
		log.Fatal(err)
	}
	defer plain.Close()
	red, err := llada.Open("testdata/reductions")
	if err != nil {
		log.Fatal(err)
	}
	defer red.Close()
	_, ok := red.Denoiser().(llada.ReductionDenoiser)
	fmt.Println("reductions:", ok)
	cfg := llada.GenerateConfig{GenLength: 6, Steps: 6, BlockLength: 3, Sampler: llada.SamplerByName("fast-dllm-threshold")}
	a, err := plain.Generate(context.Background(), "w5 w6", cfg)
	if err != nil {
		log.Fatal(err)
	}
	b, err := red.Generate(context.Background(), "w5 w6", cfg)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("same ids:", fmt.Sprint(a.Sequences[0].IDs) == fmt.Sprint(b.Sequences[0].IDs))
	// Output:
	// reductions: true
	// same ids: true
}
