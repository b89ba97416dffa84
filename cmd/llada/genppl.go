package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/llada-go/llada"
	"github.com/llada-go/llada/eval"
)

func init() {
	register("genppl", command{summary: "score one model+sampler's continuations of held-out prompts under the judge (either family)", run: runGenPPL})
}

// runGenPPL samples continuations of held-out sentence prefixes through Model.Stream, so it serves masked and
// continuous models alike, and scores them with the AR judge (generative perplexity) and the diversity metrics.
// It is how the continuous model is compared with the masked one at equal forward passes.
func runGenPPL(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("genppl", stderr)
	var mf modelFlags
	mf.add(fs)
	var cfg llada.GenerateConfig
	judgePath := fs.String("judge", defaultJudge, "autoregressive judge (ONNX); must share the model's tokenizer")
	sentences := fs.String("sentences", defaultSentences, "held-out sentences (JSON: {\"sentences\": [...]})")
	n := fs.Int("prompts", 24, "prompts (held-out sentence prefixes)")
	plen := fs.Int("prompt-length", 8, "prompt tokens")
	fs.IntVar(&cfg.GenLength, "gen-length", 32, "generated tokens per prompt")
	fs.IntVar(&cfg.Steps, "steps", 0, "denoising steps (0 = gen-length)")
	fs.Float64Var(&cfg.Temperature, "temperature", 0, "sampling temperature of masked samplers")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "random seed")
	batch := fs.Int("batch", 8, "rows per generation")
	applySampler := addSamplerFlags(fs)
	applyContinuous := addContinuousFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := applySampler(&cfg); err != nil {
		return err
	}
	if err := applyContinuous(&cfg); err != nil {
		return err
	}
	m, err := mf.open()
	if err != nil {
		return err
	}
	defer m.Close()
	judge, err := eval.OpenJudge(*judgePath)
	if err != nil {
		return err
	}
	defer judge.Close()
	if err := judge.CheckVocab(m.Contract().VocabSize); err != nil {
		return err
	}
	sents, err := eval.LoadSentences(*sentences)
	if err != nil {
		return err
	}
	prompts, err := eval.SentencePrefixes(m.Tokenizer(), sents, *plen, *n)
	if err != nil {
		return err
	}
	var seqs [][]int
	var from []int
	nfe := 0
	start := time.Now()
	for lo := 0; lo < len(prompts); lo += *batch {
		hi := min(lo+*batch, len(prompts))
		cfg.Seed += uint64(lo)
		res, err := m.GenerateIDs(ctx, prompts[lo:hi], cfg)
		if err != nil {
			return err
		}
		nfe += res.NFE
		for _, s := range res.Sequences {
			seqs = append(seqs, s.IDs)
			from = append(from, s.PromptLen)
		}
	}
	secs := time.Since(start).Seconds()
	sc, err := eval.ScoreSamples(ctx, judge, seqs, from, 32)
	if err != nil {
		return err
	}
	name := cfg.Sampler.Name
	if name == "" {
		name = "(default)"
	}
	_, err = fmt.Fprintf(stdout, "family=%s sampler=%s samples=%d gen_length=%d nfe_per_batch=%.1f gen_ppl=%.1f distinct1=%.3f distinct2=%.3f self_bleu4=%.3f entropy=%.3f seconds=%.1f\n",
		m.Contract().Family, name, sc.Samples, cfg.GenLength, float64(nfe)/float64((len(prompts)+*batch-1)/(*batch)),
		sc.GenPPL, sc.Distinct[0], sc.Distinct[1], sc.SelfBLEU, sc.Entropy, secs)
	return err
}
