//go:build cgo

package onnx_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/llada-go/llada/onnx"
)

// Open finds ONNX Runtime (see LibraryPath), loads the model and checks its inputs and outputs.
func ExampleOpen() {
	s, err := onnx.Open("../testdata/onnx/tiny.onnx", onnx.WithIntraOpThreads(1))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	for _, in := range s.Inputs() {
		fmt.Println("input ", in)
	}
	for _, out := range s.Outputs() {
		fmt.Println("output", out)
	}
	fmt.Println("vocab:", s.VocabSize(), "mask token:", s.Metadata()["llada.mask_token_id"])
	// Output:
	// input  input_ids int64 [?,?]
	// input  attention_mask int64 [?,?]
	// output logits float32 [?,?,50]
	// vocab: 50 mask token: 49
}

// Forward fills a caller-owned logits buffer of rows*seq*vocab float32s; reuse it across calls. (torch
// computes the same argmaxes for these inputs.)
func ExampleSession_Forward() {
	s, err := onnx.Open("../testdata/onnx/tiny.onnx", onnx.WithIntraOpThreads(1))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	const rows, seq = 2, 4
	ids := []int64{
		0, 0, 12, 49, // left-padded row: the first two positions are padding
		7, 49, 49, 3,
	}
	attention := []int64{
		0, 0, 1, 1,
		1, 1, 1, 1,
	}
	vocab := s.VocabSize()
	logits := make([]float32, rows*seq*vocab)
	if err := s.Forward(context.Background(), ids, attention, rows, seq, logits); err != nil {
		log.Fatal(err)
	}
	for r := 0; r < rows; r++ {
		var best []int
		for p := 0; p < seq; p++ {
			row := logits[(r*seq+p)*vocab : (r*seq+p+1)*vocab]
			arg := 0
			for j, v := range row {
				if v > row[arg] {
					arg = j
				}
			}
			best = append(best, arg)
		}
		fmt.Println("row", r, "argmax:", best)
	}
	// Output:
	// row 0 argmax: [47 25 10 12]
	// row 1 argmax: [25 0 10 44]
}

// OpenBytes serves models embedded in the binary (//go:embed model.onnx); here the bytes come from a file.
func ExampleOpenBytes() {
	model, err := os.ReadFile("../testdata/onnx/tiny_nomask.onnx")
	if err != nil {
		log.Fatal(err)
	}
	s, err := onnx.OpenBytes(model, onnx.WithGraphOptimization(onnx.GraphOptimizationBasic))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	fmt.Println("attention_mask input:", s.HasAttentionMask())
	fmt.Println("contract:", s.Metadata()["llada.contract"], s.Metadata()["llada.family"])
	// Output:
	// attention_mask input: false
	// contract: 1 masked
}
