package gomlx

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/llada-go/llada"
)

// BenchmarkReductionsStep times greedy generation of the shipped model on GoMLX with the step loop reading
// the logits and reading the in-graph confidence pass, and reports ms/step and the bytes the device hands
// the host per step (logits: rows×seq×vocab×4; reductions: rows×seq×(4+3×4+1), ids, floats and the OK flag).
//
//	go test -run '^$' -bench ReductionsStep -benchtime 2x ./gomlx
func BenchmarkReductionsStep(b *testing.B) {
	d := gomlxModel(b, "brown")
	c, err := d.Contract()
	if err != nil {
		b.Fatal(err)
	}
	prompt := [][]int{{5, 6, 7, 8, 9, 10, 11, 12}}
	cfg := llada.GenerateConfig{GenLength: 32, Steps: 32, BlockLength: 32}
	results := map[string]string{}
	for _, path := range []string{"logits", "reductions"} {
		b.Run("path="+path, func(b *testing.B) {
			var den llada.Denoiser = d
			perPos := float64(d.VocabSize() * 4)
			if path == "logits" {
				den = logitsOnly{d}
			} else {
				perPos = 4 + 3*4 + 1
			}
			gen := func() (steps int, last []int) {
				for st, err := range llada.Stream(context.Background(), den, c, prompt, cfg) {
					if err != nil {
						b.Fatal(err)
					}
					steps++
					last = append(last[:0], st.Canvas...)
				}
				return steps, last
			}
			gen() // compiles the graph for this shape
			steps := 0
			var last []int
			start := time.Now()
			for b.Loop() {
				n, l := gen()
				steps, last = steps+n, l
			}
			b.ReportMetric(time.Since(start).Seconds()*1000/float64(steps), "ms/step")
			b.ReportMetric(perPos*float64(len(prompt)*(len(prompt[0])+cfg.GenLength)), "host-bytes/step")
			results[path] = fmt.Sprint(last)
		})
	}
	if results["logits"] != "" && results["logits"] != results["reductions"] {
		b.Fatal("the logits and reductions paths generated different ids")
	}
}
