package eval

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/llada-go/llada"
)

// Decoding is one sampler setting under evaluation: a sampler by name and a forward-pass budget.
type Decoding struct {
	// Sampler names an engine preset or one of this package's compositions (see SamplerNames).
	Sampler string
	// TokensPerStep sets the NFE budget of samplers that follow a step count: a region of m masks gets
	// ceil(m/TokensPerStep) denoising steps, so 1 commits one token per forward pass and larger values decode in
	// parallel. 0 means 1. Adaptive samplers (confidence thresholds, entropy bounds) ignore it; Knob moves them.
	TokensPerStep int
	// Knob, when non-zero, replaces the knob that sets an adaptive sampler's parallelism: the threshold τ of
	// fast-dllm-threshold and llada2-edit, the factor f of fast-dllm-factor, the entropy budget γ of eb.
	Knob float64
	// BlockLength splits the decoded region into semi-autoregressive blocks; 0 means one block.
	BlockLength int
	// Temperature of the proposals (0 = argmax). Continuous samplers take none: their randomness is the
	// Gaussian starting point (and, for ddpm, the noise of every step).
	Temperature float64
	// Steps is the number of solver steps of a continuous-family sampler (ddim, ddpm, dpm-solver++, euler,
	// heun): the NFE budget of that family, which integrates every position at once instead of committing
	// tokens. 0 means 8. Masked samplers ignore it.
	Steps int
}

// defaultContinuousSteps is what a zero Decoding.Steps means.
const defaultContinuousSteps = 8

// Continuous reports whether the setting runs a continuous-family sampler, which needs a continuous model
// (llada.family = continuous) and runs through llada.Model.Stream.
func (d Decoding) Continuous() bool {
	s, err := lookupSampler(d.Sampler)
	return err == nil && s.Transfer == llada.TransferContinuous
}

// Family names the model family of the setting's sampler, for tables and plots.
func (d Decoding) Family() string {
	if d.Continuous() {
		return llada.FamilyContinuous
	}
	return "masked"
}

// Setting names the budget part of the setting: "k=2", "τ=0.7", or "auto" for an adaptive sampler without a
// knob to move.
func (d Decoding) Setting() string {
	s, err := lookupSampler(d.Sampler)
	if err == nil && s.Transfer == llada.TransferContinuous {
		return fmt.Sprintf("steps=%d", d.continuousSteps())
	}
	if err == nil && adaptive(s) {
		sw := knobSweep(s)
		if sw == nil {
			return "auto"
		}
		v := d.Knob
		if v == 0 {
			v = sw.get(s)
		}
		if v == 0 {
			v = sw.values[0]
		}
		return sw.symbol + "=" + strconv.FormatFloat(v, 'g', -1, 64)
	}
	return fmt.Sprintf("k=%d", max(d.TokensPerStep, 1))
}

// Name is the sampler as tables and plot legends show it: a continuous-family sampler carries its family, so
// that its rows read apart from the masked ones beside them.
func (d Decoding) Name() string {
	if d.Continuous() {
		return d.Sampler + " (continuous)"
	}
	return d.Sampler
}

// Label names the setting in tables and plots.
func (d Decoding) Label() string { return d.Sampler + " " + d.Setting() }

// compositions are samplers this package adds to the engine's presets, to isolate the decoding order on tasks
// where it matters: LLaDA's proposals and per-step quota with another score.
var compositions = map[string]llada.Sampler{
	// The top-probability-margin order of Kim et al. 2025 ("Train for the Worst, Plan for the Best"): the
	// position with the largest top-1 minus top-2 probability first, under LLaDA's schedule.
	"llada-margin": {Name: "llada-margin", Proposal: llada.ProposeLLaDA, Score: llada.ScoreMargin, Transfer: llada.TransferQuota, Counts: llada.CountsLLaDA},
	// The lowest-entropy position first, under LLaDA's schedule.
	"llada-entropy": {Name: "llada-entropy", Proposal: llada.ProposeLLaDA, Score: llada.ScoreNegEntropy, Transfer: llada.TransferQuota, Counts: llada.CountsLLaDA},
}

// SamplerNames lists the samplers that can be evaluated, sorted: the engine's presets and this package's
// compositions.
func SamplerNames() []string {
	names := llada.SamplerNames()
	for n := range compositions {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// PresetNames lists only the engine's presets.
func PresetNames() []string { return llada.SamplerNames() }

func lookupSampler(name string) (llada.Sampler, error) {
	if s, ok := compositions[name]; ok {
		return s, nil
	}
	s, err := llada.LookupSampler(name)
	if err != nil {
		return llada.Sampler{}, fmt.Errorf("%w %q (known: %s)", ErrUnknownSampler, name, strings.Join(SamplerNames(), ", "))
	}
	return s, nil
}

// adaptive reports whether the sampler decides its own number of steps, ignoring GenerateConfig.Steps.
func adaptive(s llada.Sampler) bool {
	if s.Quota > 0 {
		return true
	}
	switch s.Transfer {
	case llada.TransferThreshold, llada.TransferFactor, llada.TransferFirstHitting, llada.TransferEntropyBound:
		return true
	}
	return false
}

// sweep is the knob that trades quality for forward passes in an adaptive sampler, and the values swept.
type sweep struct {
	symbol string
	values []float64
	get    func(llada.Sampler) float64
	set    func(*llada.Sampler, float64)
}

// knobSweep returns the sampler's parallelism knob, or nil when it has none (first-hitting commits one token
// per pass).
func knobSweep(s llada.Sampler) *sweep {
	switch {
	case s.Transfer == llada.TransferThreshold || (s.Quota > 0 && s.Transfer == llada.TransferThresholdOrQuota):
		// Fast-dLLM's default τ is 0.9, LLaDA 2.1's 0.95; lower thresholds commit more per pass.
		first := 0.9
		if s.Threshold > 0 {
			first = s.Threshold
		}
		return &sweep{"τ", []float64{first, 0.5, 0.2, 0.1},
			func(s llada.Sampler) float64 { return s.Threshold }, func(s *llada.Sampler, v float64) { s.Threshold = v }}
	case s.Transfer == llada.TransferFactor:
		return &sweep{"f", []float64{1, 2, 4, 8},
			func(s llada.Sampler) float64 { return s.Factor }, func(s *llada.Sampler, v float64) { s.Factor = v }}
	case s.Transfer == llada.TransferEntropyBound:
		return &sweep{"γ", []float64{0.1, 4, 16, 64},
			func(s llada.Sampler) float64 { return s.Gamma }, func(s *llada.Sampler, v float64) { s.Gamma = v }}
	}
	return nil
}

func (d Decoding) continuousSteps() int {
	if d.Steps > 0 {
		return d.Steps
	}
	return defaultContinuousSteps
}

// decodings expands samplers into settings: every budget for a step-count sampler (tokens per step, or solver
// steps for a continuous sampler); for an adaptive one, the first len(budgets) (at most 4) values of its knob
// sweep, or a single run when it has no knob.
func decodings(samplers []string, budgets []int, temperature float64) ([]Decoding, error) {
	var out []Decoding
	for _, name := range samplers {
		s, err := lookupSampler(name)
		if err != nil {
			return nil, err
		}
		if s.Transfer == llada.TransferContinuous {
			for _, n := range budgets {
				out = append(out, Decoding{Sampler: name, Steps: n})
			}
			continue
		}
		if !adaptive(s) {
			for _, k := range budgets {
				out = append(out, Decoding{Sampler: name, TokensPerStep: k, Temperature: temperature})
			}
			continue
		}
		sw := knobSweep(s)
		if sw == nil {
			out = append(out, Decoding{Sampler: name, Temperature: temperature})
			continue
		}
		for _, v := range sw.values[:min(len(budgets), len(sw.values))] {
			out = append(out, Decoding{Sampler: name, Knob: v, Temperature: temperature})
		}
	}
	return out, nil
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
	s, err := lookupSampler(d.Sampler)
	if err != nil {
		return llada.GenerateConfig{}, err
	}
	if s.Transfer == llada.TransferContinuous {
		// The whole region is integrated at once: no blocks, no temperature, Steps solver steps.
		if d.Steps < 0 || d.Temperature != 0 || d.Knob != 0 || d.BlockLength != 0 {
			return llada.GenerateConfig{}, fmt.Errorf("%w: continuous sampler %s takes solver steps only (steps %d, temperature %v, knob %v, block length %d)",
				ErrBadConfig, d.Sampler, d.Steps, d.Temperature, d.Knob, d.BlockLength)
		}
		cfg := llada.GenerateConfig{GenLength: masked, Steps: d.continuousSteps(), Seed: seed, Sampler: s}
		if err := cfg.Validate(); err != nil {
			return llada.GenerateConfig{}, fmt.Errorf("eval: sampler %s: %w", d.Label(), err)
		}
		return cfg, nil
	}
	if d.Knob != 0 {
		sw := knobSweep(s)
		if sw == nil {
			return llada.GenerateConfig{}, fmt.Errorf("%w: sampler %s has no knob to set to %v", ErrBadConfig, d.Sampler, d.Knob)
		}
		sw.set(&s, d.Knob)
	}
	cfg := llada.GenerateConfig{GenLength: masked, Temperature: d.Temperature, Seed: seed, Sampler: s}
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
	if err := cfg.Validate(); err != nil {
		return llada.GenerateConfig{}, fmt.Errorf("eval: sampler %s: %w", d.Label(), err)
	}
	return cfg, nil
}
