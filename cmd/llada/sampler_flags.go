package main

// Sampler flags for `llada generate`.
//
//	func addSamplerFlags(fs *flag.FlagSet) func(cfg *llada.GenerateConfig) error
//
// addSamplerFlags registers --sampler NAME and every preset knob on fs (--threshold, --factor,
// --factor-off-by-one, --alg-temp, --top-p, --top-k, --eps, --schedule, --grid, --gamma, --eta, --t-on, --t-off,
// --alpha-on, --quota, --edit-threshold, --max-post-steps, --stop-at-eos, --logits-shift) and returns an
// apply function to call after fs.Parse. apply sets cfg.Sampler to the chosen preset with the given knobs;
// it clears cfg.Remasking when --sampler is given (the two select the same thing; giving --remasking
// explicitly as well is an error), rejects a knob that the chosen sampler does not use, and leaves cfg
// untouched when no sampler flag was given. Knob values are validated by cfg.Validate (call it after apply).

import (
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/llada-go/llada"
)

// samplerKnob is one knob flag: how to set it on a Sampler, and which samplers use it.
type samplerKnob struct {
	name    string
	set     func(s *llada.Sampler)
	applies func(s llada.Sampler) bool
	what    string // what the knob needs, for the error
}

func addSamplerFlags(fs *flag.FlagSet) func(cfg *llada.GenerateConfig) error {
	name := fs.String("sampler", "", "sampler preset: "+strings.Join(llada.SamplerNames(), ", ")+" (default: LLaDA, ordered by --remasking); "+
		"continuous models: "+strings.Join(llada.ContinuousSamplerNames(), ", ")+" (default "+llada.DefaultContinuousSampler+")")
	var (
		threshold, factor, algTemp, topP, eps, gamma, eta, tOn, tOff, alphaOn, editThreshold float64
		topK, quota, maxPost                                                                 int
		schedule, grid, shift                                                                string
		offByOne, stopEOS                                                                    bool
	)
	fs.Float64Var(&threshold, "threshold", 0, "confidence threshold tau in (0,1] (fast-dllm-threshold 0.9, llada2 0.95)")
	fs.Float64Var(&factor, "factor", 0, "Fast-dLLM factor f > 0: commit the longest prefix with (n+1)(1-c_n) <= f (default 1)")
	fs.BoolVar(&offByOne, "factor-off-by-one", false, "reproduce Fast-dLLM's factor off-by-one")
	fs.Float64Var(&algTemp, "alg-temp", 0, "Dream alg_temp: sample positions from softmax(score/alg_temp) (0 = top scores)")
	fs.Float64Var(&topP, "top-p", 0, "nucleus filtering in (0,1] of the filtered proposal (0 = off)")
	fs.IntVar(&topK, "top-k", 0, "top-k filtering of the filtered proposal (0 = off)")
	fs.Float64Var(&eps, "eps", 0, "end of the time grid linspace(1, eps, steps+1) (Dream 1e-3, MDLM 1e-5)")
	fs.StringVar(&schedule, "schedule", "", "masking schedule: linear, cosine, loglinear, geometric, polynomial")
	fs.StringVar(&grid, "grid", "", "time grid of the ancestral samplers: uniform or cosine")
	fs.Float64Var(&gamma, "gamma", 0, "entropy budget >= 0 of the eb sampler (default 0.1)")
	fs.Float64Var(&eta, "eta", 0, "ReMDM eta in [0,1] (cap 0.04, rescale 0.015, loop 0.02; 0 turns remasking off), or DDIM's eta in [0,1] (default 0: deterministic)")
	fs.Float64Var(&tOn, "t-on", 0, "ReMDM loop: time the loop starts (default 0.55)")
	fs.Float64Var(&tOff, "t-off", 0, "ReMDM loop: time the loop ends (default 0.05)")
	fs.Float64Var(&alphaOn, "alpha-on", 0, "ReMDM loop: alpha held during the loop (default 0.9)")
	fs.IntVar(&quota, "quota", 0, "fixed number of masks committed per step (LLaDA 2.1 num_to_transfer); steps are then ignored")
	fs.Float64Var(&editThreshold, "edit-threshold", 0, "LLaDA 2.x token editing threshold in (0,1] (0 = off)")
	fs.IntVar(&maxPost, "max-post-steps", 0, "LLaDA 2.x editing steps after a block is full (default 16; 0 for none)")
	fs.BoolVar(&stopEOS, "stop-at-eos", false, "stop a row once EOS is committed with everything before it decoded, and trim after it")
	fs.StringVar(&shift, "logits-shift", "", "assert the model's logits convention: on (Dream) or off; empty follows the model")

	usesConfidence := func(s llada.Sampler) bool { return s.Transfer != llada.TransferBernoulli }
	knobs := []samplerKnob{
		{"threshold", func(s *llada.Sampler) { s.Threshold = threshold },
			func(s llada.Sampler) bool {
				return s.Transfer == llada.TransferThreshold || s.Transfer == llada.TransferThresholdOrQuota
			}, "a threshold transfer"},
		{"factor", func(s *llada.Sampler) { s.Factor = factor },
			func(s llada.Sampler) bool { return s.Transfer == llada.TransferFactor }, "the factor transfer"},
		{"factor-off-by-one", func(s *llada.Sampler) { s.FactorOffByOne = offByOne },
			func(s llada.Sampler) bool { return s.Transfer == llada.TransferFactor }, "the factor transfer"},
		{"alg-temp", func(s *llada.Sampler) { s.AlgTemp = algTemp },
			func(s llada.Sampler) bool { return s.Transfer == llada.TransferQuota }, "the quota transfer"},
		{"top-p", func(s *llada.Sampler) { s.TopP = topP },
			func(s llada.Sampler) bool { return s.Proposal == llada.ProposeFiltered }, "the filtered proposal"},
		{"top-k", func(s *llada.Sampler) { s.TopK = topK },
			func(s llada.Sampler) bool { return s.Proposal == llada.ProposeFiltered }, "the filtered proposal"},
		{"eps", func(s *llada.Sampler) { s.Eps = eps },
			func(s llada.Sampler) bool {
				return s.Transfer == llada.TransferBernoulli || s.Counts == llada.CountsDream
			}, "a time grid (bernoulli transfer or Dream counts)"},
		{"schedule", func(s *llada.Sampler) { s.Schedule = llada.ScheduleKind(schedule) },
			func(s llada.Sampler) bool {
				return s.Transfer == llada.TransferBernoulli || s.Counts == llada.CountsDLLM
			}, "a masking schedule (bernoulli transfer or dllm counts)"},
		{"grid", func(s *llada.Sampler) { s.Grid = llada.GridKind(grid) },
			func(s llada.Sampler) bool { return s.Transfer == llada.TransferBernoulli }, "the bernoulli transfer"},
		{"gamma", func(s *llada.Sampler) { s.Gamma = gamma },
			func(s llada.Sampler) bool { return s.Transfer == llada.TransferEntropyBound }, "the entropy-bound transfer"},
		{"eta", func(s *llada.Sampler) { s.Eta = eta },
			func(s llada.Sampler) bool {
				return s.ReMDM == llada.ReMDMCap || s.ReMDM == llada.ReMDMRescale || s.ReMDM == llada.ReMDMLoop ||
					s.Name == llada.SamplerDDIM
			}, "ReMDM cap, rescale or loop, or ddim"},
		{"t-on", func(s *llada.Sampler) { s.TOn = tOn },
			func(s llada.Sampler) bool { return s.ReMDM == llada.ReMDMLoop }, "ReMDM loop"},
		{"t-off", func(s *llada.Sampler) { s.TOff = tOff },
			func(s llada.Sampler) bool { return s.ReMDM == llada.ReMDMLoop }, "ReMDM loop"},
		{"alpha-on", func(s *llada.Sampler) { s.AlphaOn = alphaOn },
			func(s llada.Sampler) bool { return s.ReMDM == llada.ReMDMLoop }, "ReMDM loop"},
		{"quota", func(s *llada.Sampler) { s.Quota = quota },
			func(s llada.Sampler) bool {
				return s.Transfer == llada.TransferQuota || s.Transfer == llada.TransferThresholdOrQuota
			}, "a quota transfer"},
		{"edit-threshold", func(s *llada.Sampler) { s.EditThreshold = editThreshold }, usesConfidence, "a confidence transfer"},
		{"max-post-steps", func(s *llada.Sampler) { s.MaxPostSteps = maxPost }, usesConfidence, "a confidence transfer"},
		{"stop-at-eos", func(s *llada.Sampler) { s.StopAtEOS = stopEOS }, func(llada.Sampler) bool { return true }, ""},
		{"logits-shift", func(s *llada.Sampler) { s.LogitsShift = llada.Shift(shift) }, func(llada.Sampler) bool { return true }, ""},
	}

	return func(cfg *llada.GenerateConfig) error {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		anyKnob := false
		for _, k := range knobs {
			anyKnob = anyKnob || set[k.name]
		}
		if !set["sampler"] && !anyKnob {
			return nil
		}
		var s llada.Sampler
		if set["sampler"] {
			var err error
			if s, err = llada.LookupSampler(*name); err != nil {
				return fmt.Errorf("--sampler: %w", err)
			}
			if set["remasking"] {
				return fmt.Errorf("--sampler %s and --remasking both choose the sampler; give one", *name)
			}
			cfg.Remasking = ""
		} else {
			// Knobs on the default sampler: the LLaDA preset that --remasking selects.
			preset := "llada-low-confidence"
			if cfg.Remasking == llada.RemaskRandom {
				preset = "llada-random"
			}
			s = llada.SamplerByName(preset)
			cfg.Remasking = ""
		}
		// The library reads a zero knob as "the default" unless its bit is in Sampler.Zero; on the command line
		// a flag given as 0 means 0 (validation then rejects a knob whose range excludes it).
		zeroBit := map[string]llada.Knob{"threshold": llada.KnobThreshold, "factor": llada.KnobFactor,
			"alg-temp": llada.KnobAlgTemp, "top-p": llada.KnobTopP, "top-k": llada.KnobTopK, "eps": llada.KnobEps,
			"gamma": llada.KnobGamma, "eta": llada.KnobEta, "t-on": llada.KnobTOn, "t-off": llada.KnobTOff,
			"alpha-on": llada.KnobAlphaOn, "quota": llada.KnobQuota, "edit-threshold": llada.KnobEditThreshold,
			"max-post-steps": llada.KnobMaxPostSteps}
		for _, k := range knobs {
			if !set[k.name] {
				continue
			}
			if !k.applies(s) {
				return fmt.Errorf("--%s does not apply to sampler %s: it needs %s", k.name, s.Name, k.what)
			}
			k.set(&s)
			if bit, ok := zeroBit[k.name]; ok {
				if v, err := strconv.ParseFloat(fs.Lookup(k.name).Value.String(), 64); err == nil && v == 0 {
					s.Zero |= bit
				}
			}
		}
		cfg.Sampler = s
		return nil
	}
}
