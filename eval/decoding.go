package eval

import (
	"fmt"
	"sort"
	"strings"

	"github.com/llada-go/llada"
)

// Decoding is one sampler setting under evaluation: a sampler by name and a forward-pass budget.
type Decoding struct {
	// Sampler names an engine sampler (see SamplerNames).
	Sampler string
	// TokensPerStep sets the NFE budget: a region of m masks gets ceil(m/TokensPerStep) denoising steps, so
	// 1 commits one token per forward pass and larger values decode in parallel. Samplers that pick their own
	// number of steps (confidence thresholds) ignore it. 0 means 1.
	TokensPerStep int
	// BlockLength splits the decoded region into semi-autoregressive blocks; 0 means one block.
	BlockLength int
	// Temperature of the proposals (0 = argmax).
	Temperature float64
}

// Label names the setting in tables and plots.
func (d Decoding) Label() string {
	return fmt.Sprintf("%s k=%d", d.Sampler, max(d.TokensPerStep, 1))
}

// engineSamplers maps the sampler names this package accepts onto the engine's LLaDA remasking orders. When the
// engine's named presets are available, setSampler becomes a lookup of the preset by name.
var engineSamplers = map[string]llada.Remasking{
	"llada-low-confidence": llada.RemaskLowConfidence,
	"llada-random":         llada.RemaskRandom,
}

// SamplerNames lists the samplers that can be evaluated, sorted.
func SamplerNames() []string {
	names := make([]string, 0, len(engineSamplers))
	for n := range engineSamplers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// setSampler selects the named sampler in cfg.
func setSampler(cfg *llada.GenerateConfig, name string) error {
	r, ok := engineSamplers[name]
	if !ok {
		return fmt.Errorf("%w %q (known: %s)", ErrUnknownSampler, name, strings.Join(SamplerNames(), ", "))
	}
	cfg.Remasking = r
	return nil
}

// config returns the engine configuration that decodes a region of masked tokens with d.
func (d Decoding) config(masked int, seed uint64) (llada.GenerateConfig, error) {
	if masked <= 0 {
		return llada.GenerateConfig{}, fmt.Errorf("%w: nothing to decode (%d masked positions)", ErrBadConfig, masked)
	}
	k := d.TokensPerStep
	if k == 0 {
		k = 1
	}
	if k < 0 {
		return llada.GenerateConfig{}, fmt.Errorf("%w: tokens per step %d must be positive", ErrBadConfig, d.TokensPerStep)
	}
	cfg := llada.GenerateConfig{GenLength: masked, Temperature: d.Temperature, Seed: seed}
	blocks := 1
	if d.BlockLength > 0 && d.BlockLength < masked {
		if masked%d.BlockLength != 0 {
			return llada.GenerateConfig{}, fmt.Errorf("%w: %d masked positions are not a multiple of block length %d",
				ErrBadConfig, masked, d.BlockLength)
		}
		cfg.BlockLength = d.BlockLength
		blocks = masked / d.BlockLength
	}
	steps := (masked + k - 1) / k
	steps = (steps + blocks - 1) / blocks * blocks // the engine wants whole steps per block
	cfg.Steps = steps
	if err := setSampler(&cfg, d.Sampler); err != nil {
		return llada.GenerateConfig{}, err
	}
	if err := cfg.Validate(); err != nil {
		return llada.GenerateConfig{}, fmt.Errorf("eval: sampler %s: %w", d.Label(), err)
	}
	return cfg, nil
}
