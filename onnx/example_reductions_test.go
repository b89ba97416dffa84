//go:build cgo

package onnx_test

import (
	"context"
	"fmt"
	"log"

	"github.com/llada-go/llada/onnx"
)

// ForwardReductions fetches the in-graph reductions (argmax id, its probability, top-2 margin, entropy per
// position) of a model edited by export/add_reductions.py, without the logits.
func ExampleSession_ForwardReductions() {
	s, err := onnx.Open("../testdata/reductions/model.onnx", onnx.WithIntraOpThreads(1))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	exclude, ok, err := s.Reductions()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("reductions:", ok, "excluded id:", exclude)
	ids := []int64{5, 6, 49, 49}
	out := onnx.Reductions{Token: make([]int64, 4), Prob: make([]float32, 4), Margin: make([]float32, 4), Entropy: make([]float32, 4)}
	if err := s.ForwardReductions(context.Background(), ids, nil, 1, 4, 0, 4, &out); err != nil {
		log.Fatal(err)
	}
	for _, t := range out.Token {
		fmt.Println(t != int64(exclude), t >= 0 && t < int64(s.VocabSize()))
	}
	// Output:
	// reductions: true excluded id: 49
	// true true
	// true true
	// true true
	// true true
}
