package main

import (
	"flag"
	"fmt"

	"github.com/llada-go/llada"
)

// addGenerateSettings registers the generation settings of `llada generate` (length, steps, blocks,
// temperature, guidance, remasking, seed, EOS handling, the KV cache and every sampler flag) on fs, filling cfg. Call the
// returned function after fs.Parse: it applies the remasking and sampler choices and checks the length.
// `llada bench` parses its cases with the same definitions, so both accept the same settings.
func addGenerateSettings(fs *flag.FlagSet, cfg *llada.GenerateConfig) func() error {
	fs.IntVar(&cfg.GenLength, "gen-length", 64, "tokens to generate")
	fs.IntVar(&cfg.Steps, "steps", 0, "denoising steps over all blocks (0 = gen-length)")
	fs.IntVar(&cfg.BlockLength, "block-length", 0, "semi-autoregressive block length (0 = gen-length, one block)")
	fs.Float64Var(&cfg.Temperature, "temperature", 0, "sampling temperature (0 = greedy)")
	fs.Float64Var(&cfg.CFGScale, "cfg-scale", 0, "classifier-free guidance scale (0 = off)")
	remasking := fs.String("remasking", string(llada.RemaskLowConfidence), "LLaDA remasking: low_confidence or random")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "random seed")
	fs.BoolVar(&cfg.SuppressEOS, "suppress-eos", false, "never generate EOS (LLaDA logits_eos_inf)")
	fs.BoolVar(&cfg.DeferEOS, "defer-eos", false, "commit EOS/EOT proposals last (LLaDA confidence_eos_eot_inf)")
	cache := fs.String("cache", "none", "Fast-dLLM KV cache: none, prefix or dual (needs a model exported with the KV-cache extension "+
		"and a block-wise confidence sampler)")
	applySampler := addSamplerFlags(fs)
	return func() error {
		cfg.Remasking = llada.Remasking(*remasking)
		mode, err := llada.ParseCacheMode(*cache)
		if err != nil {
			return fmt.Errorf("--cache: %w", err)
		}
		cfg.Cache = mode
		if err := applySampler(cfg); err != nil {
			return err
		}
		if cfg.GenLength <= 0 {
			return fmt.Errorf("--gen-length %d: must be positive", cfg.GenLength)
		}
		return nil
	}
}
