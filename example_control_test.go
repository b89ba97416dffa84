package llada_test

import (
	"context"
	"fmt"
	"log"

	"github.com/llada-go/llada"
)

func ExampleModel_Infill() {
	m, err := llada.Open("testdata/tiny")
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	mask := m.Contract().MaskID
	// Holes anywhere: greedy, one per step, the most confident hole first.
	res, err := m.Infill(context.Background(), []int{5, mask, mask, 8, mask}, llada.GenerateConfig{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(res.IDs), res.Holes, res.NFE, res.IDs[0], res.IDs[3])
	// Output: 5 [1 2 4] 3 5 8
}

func ExampleModel_InfillText() {
	m, err := llada.Open("testdata/tiny")
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	res, err := m.InfillText(context.Background(), "w5 <|mask:2|> w8", llada.GenerateConfig{Sampler: llada.SamplerByName("mdlm"), Seed: 1})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(res.IDs), res.Holes)
	// Output: 4 [1 2]
}

func ExampleParseCanvas() {
	tok, err := llada.LoadTokenizer("testdata/tiny/tokenizer.json")
	if err != nil {
		log.Fatal(err)
	}
	c := llada.Contract{MaskID: 49, MaxSeqLen: 32}
	ids, err := llada.ParseCanvas(tok, c, "w5 <|mask:3|> w6 <mask>")
	fmt.Println(ids, err)
	_, err = llada.ParseCanvas(tok, c, "w5 <|mask|>")
	fmt.Println(err)
	// Output:
	// [5 49 49 49 6 49] <nil>
	// llada: bad canvas: placeholder at byte 3 has no hole count: write <|mask:N|> with N >= 1
}

func ExampleFillHoles() {
	m, err := llada.Open("testdata/tiny")
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	mask := m.Contract().MaskID
	// A batch of canvases with equal length and hole count shares every forward pass.
	filled, nfe, steps, err := llada.FillHoles(context.Background(), m.Denoiser(), m.Contract(),
		[][]int{{5, mask, 7}, {mask, 6, 9}}, llada.GenerateConfig{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(filled), filled[0][0], filled[1][2], nfe, steps)
	// Output: 2 5 9 1 1
}

func ExampleModel_Edit() {
	m, err := llada.Open("testdata/tiny")
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	// Rewrite tokens 1..2 with three new ones, and token 4 in place.
	res, err := m.Edit(context.Background(), []int{5, 6, 7, 8, 9}, []llada.Span{{Start: 1, End: 3, Len: 3}, {Start: 4, End: 5}},
		llada.GenerateConfig{Temperature: 1, Seed: 2})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(res.IDs), res.Holes, res.IDs[0], res.IDs[4])
	// Output: 6 [1 2 3 5] 5 8
}

func ExampleModel_Repair() {
	m, err := llada.Open("testdata/tiny")
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	res, err := m.Repair(context.Background(), []int{5, 6, 7, 8, 9, 10}, llada.RepairConfig{K: 2, Rounds: 2, Keep: 1})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(res.Rounds), len(res.Rounds[0].Remasked), res.IDs[0])
	// Output: 2 2 5
}

func ExampleModel_Augment() {
	m, err := llada.Open("testdata/tiny")
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	vars, err := m.Augment(context.Background(), []int{5, 6, 7, 8, 9, 10, 11, 12},
		llada.AugmentConfig{MaskRatio: 0.25, Variants: 3, Seed: 1, Fill: llada.GenerateConfig{Temperature: 1}})
	if err != nil {
		log.Fatal(err)
	}
	for _, v := range vars {
		fmt.Println(len(v.IDs), len(v.Masked))
	}
	// Output:
	// 8 2
	// 8 2
	// 8 2
}

// Refine drafts with the shipped autoregressive judge and repairs the draft with the Brown diffusion model
// (both share the Brown tokenizer).
func ExampleModel_Refine() {
	m, err := llada.Open("models/brown")
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	d, err := llada.OpenDrafter("models/judge/model.onnx")
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	prompt, err := m.Tokenizer().Encode("The jury said that", true)
	if err != nil {
		log.Fatal(err)
	}
	res, err := m.Refine(context.Background(), d, prompt, llada.RefineConfig{
		Draft:  llada.DraftConfig{Tokens: 8},
		Repair: llada.RepairConfig{K: 2},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(res.Draft)-len(prompt), len(res.Repair.Rounds[0].Remasked), res.ChangedShare <= 0.25)
	// Output: 8 2 true
}

func ExampleGuidance() {
	m, err := llada.Open("testdata/tiny")
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	// w*cond + (1-w)*uncond with w = 2, switched on for the second half of the generation, away from a
	// negative prompt.
	neg, err := m.Tokenizer().Encode("w9 w9", true)
	if err != nil {
		log.Fatal(err)
	}
	g := llada.Guidance{Form: llada.GuidanceWeight, Scale: 2, Schedule: llada.GuidanceInterval, Start: 0.5, End: 1,
		NegativeIDs: [][]int{neg}}
	res, err := m.Generate(context.Background(), "w5 w6", llada.GenerateConfig{GenLength: 4, Guidance: g})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(res.Sequences[0].IDs), res.NFE)
	// Output: 6 4
}

func ExampleEditCanvas() {
	canvas, holes, err := llada.EditCanvas([]int{5, 6, 7, 8}, []llada.Span{{Start: 1, End: 3, Len: 1}}, 49)
	fmt.Println(canvas, holes, err)
	_, _, err = llada.EditCanvas([]int{5, 6, 7, 8}, []llada.Span{{Start: 0, End: 2}, {Start: 1, End: 3}}, 49)
	fmt.Println(err)
	// Output:
	// [5 49 8] [1] <nil>
	// llada: bad canvas: spans [0,2) and [1,3) overlap
}

func ExampleTokenLogProbs() {
	m, err := llada.Open("testdata/tiny")
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	// log p(token | everything else), each position scored with only itself masked.
	lp, nfe, err := llada.TokenLogProbs(context.Background(), m.Denoiser(), m.Contract(), []int{5, 6, 7, 8}, 1, 0)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(lp), nfe, lp[0] < 0)
	// Output: 3 1 true
}

func ExampleDrafter_Draft() {
	d, err := llada.OpenDrafter("models/judge/model.onnx")
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	draft, err := d.Draft(context.Background(), []int{492, 502}, llada.DraftConfig{Tokens: 5, Temperature: 0.8, Seed: 3})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(draft), draft[:2])
	// Output: 7 [492 502]
}

// Package-level entry points take any Denoiser: here a stand-in that always predicts token 7.
var exampleContract = llada.Contract{Version: 1, Family: "masked", MaskID: 9, EOSID: 1, PadID: 0, EOTID: -1, BOSID: -1,
	VocabSize: 10, MaxSeqLen: 16}

func ExampleRepair() {
	// The tokens that are not 7 are the least likely in context; two rounds of k = 1 replace both.
	res, err := llada.Repair(context.Background(), constantDenoiser{}, exampleContract, []int{7, 3, 7, 5},
		llada.RepairConfig{K: 1, Rounds: 2})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.IDs, res.Rounds[0].Remasked, res.Rounds[1].Remasked, res.Changed)
	// Output: [7 7 7 7] [1] [3] 2
}

func ExampleAugment() {
	vars, err := llada.Augment(context.Background(), constantDenoiser{}, exampleContract, []int{2, 3, 4, 5, 6},
		llada.AugmentConfig{MaskRatio: 0.4, Variants: 2, Keep: 1, Seed: 5})
	if err != nil {
		log.Fatal(err)
	}
	for _, v := range vars {
		fmt.Println(len(v.Masked), v.IDs[0])
	}
	// Output:
	// 2 2
	// 2 2
}

func ExampleNewDrafter() {
	// Any causal network whose logits at position i predict token i+1.
	d, err := llada.NewDrafter(constantDenoiser{}, llada.DrafterSpec{MaxSeqLen: 16, NeverID: 9, EOSID: -1})
	if err != nil {
		log.Fatal(err)
	}
	draft, err := d.Draft(context.Background(), []int{2, 3}, llada.DraftConfig{Tokens: 3})
	fmt.Println(draft, err)
	// Output: [2 3 7 7 7] <nil>
}
