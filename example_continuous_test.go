package llada_test

import (
	"context"
	"fmt"

	"github.com/llada-go/llada"
)

func ExampleNoiseSchedule() {
	s := llada.NoiseSchedule{Kind: llada.NoiseCosine}
	t := 0.5
	fmt.Printf("alpha_bar %.4f sigma %.4f log-SNR %.4f\n", s.AlphaBar(t), s.Sigma(t), s.LogSNR(t))
	fmt.Printf("back to t: %.4f\n", s.TOfSigma(s.Sigma(t)))
	fmt.Println(s.SigmaGrid(nil, 4, 40))
	// Output:
	// alpha_bar 0.4938 sigma 1.0124 log-SNR -0.0246
	// back to t: 0.5000
	// [40 2.435435684203743 1.012389563948004 0.4249948150069447 0]
}

// A continuous-family model generates through the same API as a masked one; the sampler names its family.
func ExampleModel_Stream_continuous() {
	m, err := llada.Open("testdata/continuous-tiny")
	if err != nil {
		panic(err)
	}
	defer m.Close()
	prompt, _ := m.Tokenizer().Encode("w5 w6", true)
	cfg := llada.GenerateConfig{GenLength: 4, Steps: 3, Sampler: llada.SamplerByName(llada.SamplerHeun)}
	for st, err := range m.Stream(context.Background(), [][]int{prompt}, cfg) {
		if err != nil {
			panic(err)
		}
		// The canvas holds the prompt (held clean) and the rounded generation; Committed lists the positions whose
		// rounded token changed (all of them on the first step).
		fmt.Println(st.Step, st.NFE, st.Canvas[:st.PromptLen], len(st.Canvas[st.PromptLen:st.Seq]))
	}
	_, err = m.Generate(context.Background(), "w5", llada.GenerateConfig{GenLength: 4, Sampler: llada.SamplerByName("mdlm")})
	fmt.Println(err)
	// Output:
	// 0 2 [5 6] 4
	// 1 4 [5 6] 4
	// 2 5 [5 6] 4
	// llada: invalid generate config: sampler "mdlm" is a masked-diffusion sampler; this continuous model supports ddim, ddpm, dpm-solver++, euler, heun
}
