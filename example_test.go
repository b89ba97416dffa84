package llada_test

import (
	"context"
	"fmt"
	"log"

	"github.com/llada-go/llada"
)

// The test model in testdata/tiny is random, so these examples show the mechanics, not good text.

func ExampleOpen() {
	m, err := llada.Open("testdata/tiny")
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	c := m.Contract()
	fmt.Println(c.Family, c.VocabSize, c.MaskID, c.MaxSeqLen)
	// Output: masked 50 49 32
}

func ExampleModel_Generate() {
	m, err := llada.Open("testdata/tiny")
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	res, err := m.Generate(context.Background(), "w5 w6", llada.GenerateConfig{GenLength: 6, Steps: 6, BlockLength: 3})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(res.Sequences[0].IDs), res.NFE)
	// Output: 8 6
}

func ExampleModel_Stream() {
	m, err := llada.Open("testdata/tiny")
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	cfg := llada.GenerateConfig{GenLength: 4, Steps: 2}
	for step, err := range m.Stream(context.Background(), [][]int{{5, 6}}, cfg) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("step %d committed %d positions, nfe %d\n", step.Step, len(step.Committed[0]), step.NFE)
	}
	// Output:
	// step 0 committed 2 positions, nfe 1
	// step 1 committed 2 positions, nfe 2
}

// constantDenoiser always predicts token 7: a stand-in for another backend.
type constantDenoiser struct{}

func (constantDenoiser) VocabSize() int { return 10 }

func (constantDenoiser) Forward(_ context.Context, in llada.Batch, logits []float32) error {
	for i := range logits {
		logits[i] = 0
		if i%10 == 7 {
			logits[i] = 1
		}
	}
	return nil
}

func ExampleStream() {
	c := llada.Contract{Version: 1, Family: "masked", MaskID: 9, EOSID: 1, PadID: 0, EOTID: -1, BOSID: -1,
		VocabSize: 10, MaxSeqLen: 16}
	var last llada.Step
	for step, err := range llada.Stream(context.Background(), constantDenoiser{}, c, [][]int{{2, 3}}, llada.GenerateConfig{GenLength: 3}) {
		if err != nil {
			log.Fatal(err)
		}
		last = step
	}
	fmt.Println(last.Canvas, last.NFE)
	// Output: [2 3 7 7 7] 3
}

func ExampleGenerateConfig_Validate() {
	err := llada.GenerateConfig{GenLength: 64, BlockLength: 24}.Validate()
	fmt.Println(err)
	// Output: llada: invalid generate config: gen_length 64 is not a multiple of block_length 24
}

func ExampleParseContract() {
	c, err := llada.ParseContract(map[string]string{
		"llada.contract": "1", "llada.family": "masked", "llada.mask_token_id": "126336",
		"llada.eos_token_id": "126081", "llada.pad_token_id": "126081", "llada.vocab_size": "126464",
		"llada.max_seq_len": "4096", "llada.logits_shift": "0", "vendor.note": "kept",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.MaskID, c.EOTID, c.Extra["vendor.note"])
	// Output: 126336 -1 kept
}
