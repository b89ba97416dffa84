package main

import (
	"flag"
	"fmt"

	"github.com/llada-go/llada"
)

// addGuidanceFlags registers the guidance flags beyond --cfg-scale (--guidance-form, --guidance-schedule,
// --guidance-start, --guidance-end, --negative-prompt) and returns an apply function to call once the model's
// tokenizer is known. When any of them is given, --cfg-scale becomes the scale of llada.Guidance in the chosen
// form (so "--guidance-form weight --cfg-scale 1.5" is w = 1.5).
func addGuidanceFlags(fs *flag.FlagSet) func(cfg *llada.GenerateConfig, tok llada.Tokenizer) error {
	var g llada.Guidance
	var form, schedule string
	fs.StringVar(&form, "guidance-form", "", "guidance parameterisation: llada (uncond + (s+1)(cond-uncond), default) or weight (w*cond + (1-w)*uncond)")
	fs.StringVar(&schedule, "guidance-schedule", "", "guidance over time: constant (default), ramp-up, ramp-down, interval")
	fs.Float64Var(&g.Start, "guidance-start", 0, "interval schedule: progress where guidance turns on, in [0,1)")
	fs.Float64Var(&g.End, "guidance-end", 0, "interval schedule: progress where guidance turns off, in (0,1]")
	negative := fs.String("negative-prompt", "", "unconditional prompt for guidance (default: the prompt replaced by masks)")
	return func(cfg *llada.GenerateConfig, tok llada.Tokenizer) error {
		if form == "" && schedule == "" && g.Start == 0 && g.End == 0 && *negative == "" {
			return nil
		}
		g.Form, g.Schedule = llada.GuidanceForm(form), llada.GuidanceSchedule(schedule)
		g.Scale, cfg.CFGScale = cfg.CFGScale, 0
		if *negative != "" {
			ids, err := tok.Encode(*negative, true)
			if err != nil {
				return fmt.Errorf("--negative-prompt: %w", err)
			}
			g.NegativeIDs = [][]int{ids}
		}
		cfg.Guidance = g
		return nil
	}
}
