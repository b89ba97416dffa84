//go:build cgo

package onnx_test

import (
	"context"
	"fmt"
	"log"

	"github.com/llada-go/llada/onnx"
)

// ForwardOutputs reads optional outputs of contract extensions, here the judge's final hidden states.
func ExampleSession_ForwardOutputs() {
	s, err := onnx.Open("../models/judge/model.onnx", onnx.WithIntraOpThreads(1))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	fmt.Println(onnx.MetaHiddenStates, "=", s.Metadata()[onnx.MetaHiddenStates])
	out, err := s.ForwardOutputs(context.Background(), []int64{464, 1050, 13}, nil, 1, 3, onnx.HiddenStates)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(out[0].Name, out[0].Shape)
	// Output:
	// llada.outputs.hidden_states = 1
	// hidden_states [1 3 160]
}
