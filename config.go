package llada

import (
	"errors"
	"fmt"
	"math"
)

// GenerateConfig holds the per-call settings of one generation. The zero value is usable: it generates
// DefaultGenLength tokens in one block with one token committed per step, greedily, with the LLaDA
// low-confidence sampler.
type GenerateConfig struct {
	// GenLength is the number of tokens to generate after the prompt. 0 means DefaultGenLength.
	GenLength int
	// Steps is the total number of denoising steps over all blocks. 0 means GenLength.
	Steps int
	// BlockLength splits the generation into semi-autoregressive blocks decoded left to right.
	// 0 means one block of GenLength. GenLength must be a multiple of it and Steps a multiple of the block count.
	BlockLength int
	// Temperature > 0 samples proposals from softmax(logits/T) in float64 (the law of LLaDA's float64
	// Gumbel-max, drawn by inverse CDF with one uniform per position); 0 takes the argmax.
	Temperature float64
	// CFGScale > 0 enables classifier-free guidance: logits = uncond + (CFGScale+1)*(cond-uncond), where the
	// unconditional input has every prompt position replaced by the mask token.
	CFGScale float64
	// Guidance is classifier-free guidance in full: forms, schedules, per-row scales, negative prompts. CFGScale
	// is its LLaDA-form Scale; set one or the other.
	Guidance Guidance
	// Remasking picks the order in which masked positions are committed: RemaskLowConfidence (default) or
	// RemaskRandom.
	Remasking Remasking
	// SuppressEOS sets the EOS logit to -Inf before proposing, so EOS is never generated
	// (LLaDA's logits_eos_inf).
	SuppressEOS bool
	// DeferEOS gives proposals of EOS and EOT zero confidence, so they are committed last
	// (LLaDA's confidence_eos_eot_inf).
	DeferEOS bool
	// Seed seeds the generation's random stream; equal seeds give equal outputs.
	Seed uint64
	// Sampler selects the sampler: a preset (SamplerByName("fast-dllm-threshold")) or a custom composition.
	// The zero value is LLaDA's sampler with the Remasking order; setting both Sampler and Remasking is an
	// error, since Remasking only names the two LLaDA presets.
	Sampler Sampler
	// Constraint, when set, keeps every row's generated text (trimmed of ASCII whitespace) in a regular
	// language: see CompileRegex, CompileJSONSchema and docs/constraints.md.
	Constraint *Constraint
	// Cache selects Fast-dLLM's prefix or dual KV cache (see CacheMode); the model must have the KV-cache
	// extension (CachedDenoiser) and the sampler must be a block-wise confidence sampler. Zero: no cache.
	Cache CacheMode
}

// DefaultGenLength is the generation length used when GenerateConfig.GenLength is 0.
const DefaultGenLength = 64

// Remasking names how LLaDA's sampler orders masked positions.
type Remasking string

const (
	RemaskLowConfidence Remasking = "low_confidence" // commit the most probable proposals first
	RemaskRandom        Remasking = "random"         // commit positions in random order
)

// ErrInvalidConfig is wrapped by every validation error of GenerateConfig.
var ErrInvalidConfig = errors.New("llada: invalid generate config")

// withDefaults returns c with zero fields replaced by their documented defaults.
func (c GenerateConfig) withDefaults() GenerateConfig {
	if c.GenLength == 0 {
		c.GenLength = DefaultGenLength
	}
	if c.BlockLength == 0 {
		c.BlockLength = c.GenLength
	}
	if c.Steps == 0 {
		c.Steps = c.GenLength
	}
	return c
}

// sampler resolves the Sampler a config runs, with defaults applied.
func (c GenerateConfig) sampler() (Sampler, error) {
	if c.Sampler.Name == "" && c.Sampler.Transfer == "" {
		switch c.Remasking {
		case "", RemaskLowConfidence:
			return presets["llada-low-confidence"].withDefaults(), nil
		case RemaskRandom:
			return presets["llada-random"].withDefaults(), nil
		default:
			return Sampler{}, fmt.Errorf("remasking %q is unknown (want %q or %q)", c.Remasking, RemaskLowConfidence, RemaskRandom)
		}
	}
	if c.Remasking != "" {
		return Sampler{}, fmt.Errorf("remasking %q and sampler %q are both set; remasking only selects the LLaDA presets", c.Remasking, c.Sampler.Name)
	}
	s, err := c.Sampler.resolve()
	if err != nil {
		return Sampler{}, err
	}
	return s, s.validate()
}

// Validate reports the first impossible or out-of-range setting, after defaults are applied.
func (c GenerateConfig) Validate() error {
	c = c.withDefaults()
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, a...))
	}
	switch {
	case c.GenLength < 0:
		return bad("gen_length %d is negative", c.GenLength)
	case c.BlockLength < 0:
		return bad("block_length %d is negative", c.BlockLength)
	case c.Steps < 0:
		return bad("steps %d is negative", c.Steps)
	case c.GenLength%c.BlockLength != 0:
		return bad("gen_length %d is not a multiple of block_length %d", c.GenLength, c.BlockLength)
	}
	blocks := c.GenLength / c.BlockLength
	if c.Steps%blocks != 0 {
		return bad("steps %d is not a multiple of the number of blocks %d (gen_length/block_length)", c.Steps, blocks)
	}
	if math.IsNaN(c.Temperature) || math.IsInf(c.Temperature, 0) || c.Temperature < 0 {
		return bad("temperature %v must be a finite number >= 0", c.Temperature)
	}
	if err := c.validateGuidance(); err != nil {
		return bad("%v", err)
	}
	s, err := c.sampler()
	if err != nil {
		return bad("%v", err)
	}
	if c.DeferEOS && (s.Proposal != ProposeLLaDA || s.Score != ScoreProb) {
		return bad("defer_eos (LLaDA's confidence_eos_eot_inf) needs the LLaDA proposal with the prob score")
	}
	if err := c.validateCache(s); err != nil {
		return bad("%v", err)
	}
	return nil
}
