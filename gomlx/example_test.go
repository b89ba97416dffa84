package gomlx_test

import (
	"context"
	"fmt"

	"github.com/llada-go/llada"
	"github.com/llada-go/llada/gomlx"
)

// Run the network directly: logits for one row of four tokens.
func ExampleOpen() {
	d, err := gomlx.Open("../testdata/tiny/model.onnx")
	if err != nil {
		panic(err)
	}
	defer d.Close()
	in := llada.Batch{Rows: 1, Seq: 4, IDs: []int64{5, 6, 49, 49}}
	logits := make([]float32, 4*d.VocabSize())
	if err := d.Forward(context.Background(), in, logits); err != nil {
		panic(err)
	}
	fmt.Println(d.Device(), d.VocabSize(), len(logits))
	// Output: cpu 50 200
}

// Generate with the library's samplers on the GoMLX backend.
func ExampleOpenModel() {
	m, d, err := gomlx.OpenModel("../testdata/tiny")
	if err != nil {
		panic(err)
	}
	defer d.Close()
	res, err := m.GenerateIDs(context.Background(), [][]int{{5, 6}}, llada.GenerateConfig{GenLength: 4, Steps: 4})
	if err != nil {
		panic(err)
	}
	fmt.Println(len(res.Sequences[0].IDs), res.NFE)
	// Output: 6 4
}

// Per-position greedy statistics computed in the graph.
func ExampleDenoiser_Confidence() {
	d, err := gomlx.Open("../testdata/tiny/model.onnx")
	if err != nil {
		panic(err)
	}
	defer d.Close()
	c, err := d.Contract()
	if err != nil {
		panic(err)
	}
	var conf gomlx.Confidences
	in := llada.Batch{Rows: 1, Seq: 3, IDs: []int64{5, 49, 49}}
	if err := d.Confidence(context.Background(), in, c.MaskID, &conf); err != nil {
		panic(err)
	}
	fmt.Println(len(conf.Token), conf.OK)
	// Output: 3 [true true true]
}
