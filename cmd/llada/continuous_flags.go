package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/llada-go/llada"
)

// addContinuousFlags registers the knobs of the continuous-family samplers (ddim, ddpm, dpm-solver++, euler,
// heun) on fs: --x0, --no-self-cond, --noise-schedule. The family comes from the model; --sampler picks the
// sampler (a continuous model without --sampler runs llada.DefaultContinuousSampler). The returned apply,
// called after applySampler, sets cfg.Sampler.Continuous and rejects these flags with a masked sampler.
func addContinuousFlags(fs *flag.FlagSet) func(cfg *llada.GenerateConfig) error {
	x0 := fs.String("x0", "", "continuous samplers: x0 estimate, interpolate (softmax(logits)·E, CDCD; default) or clamp (nearest embedding, Diffusion-LM)")
	noSC := fs.Bool("no-self-cond", false, "continuous samplers: feed zeros instead of the previous x0 estimate to a self-conditioned model")
	var kinds []string
	for _, k := range llada.NoiseScheduleKinds {
		if k != llada.NoiseTabulated {
			kinds = append(kinds, string(k))
		}
	}
	sched := fs.String("noise-schedule", "", "continuous samplers: where the steps go, "+strings.Join(kinds, ", ")+
		" (default: the model's trained schedule); edm and ve span [sigma_max/1000, sigma_max] of the model")
	return func(cfg *llada.GenerateConfig) error {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["x0"] && !set["no-self-cond"] && !set["noise-schedule"] {
			return nil
		}
		if cfg.Sampler.Name == "" && cfg.Sampler.Transfer == "" {
			cfg.Sampler = llada.SamplerByName(llada.DefaultContinuousSampler)
			cfg.Remasking = ""
		}
		if cfg.Sampler.Transfer != llada.TransferContinuous {
			return fmt.Errorf("--x0, --no-self-cond and --noise-schedule apply to the continuous samplers (%s), not %s",
				strings.Join(llada.ContinuousSamplerNames(), ", "), cfg.Sampler.Name)
		}
		o := &cfg.Sampler.Continuous
		o.X0 = llada.X0Mode(*x0)
		o.NoSelfCond = *noSC
		if *sched != "" {
			// edm and ve without sigmas take them from the model (see llada.ContinuousOptions.Schedule)
			o.Schedule = llada.NoiseSchedule{Kind: llada.NoiseScheduleKind(*sched)}
		}
		return nil
	}
}
