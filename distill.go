package llada

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Distillation provenance keys (docs/contract.md, "Distillation provenance"). They are informational: a distilled
// student is an ordinary model of its family, and nothing the runtime does depends on them.
const (
	DistillMethodKey    = "llada.distill.method"
	DistillTeacherKey   = "llada.distill.teacher"
	DistillSamplerKey   = "llada.distill.sampler"
	DistillStepsKey     = "llada.distill.steps"
	DistillGenLengthKey = "llada.distill.gen_length"
	DistillSeedKey      = "llada.distill.seed"
	DistillRoundsKey    = "llada.distill.rounds"
)

// Distillation methods the exporters write (llada.distill.method).
const (
	DistillSDTT             = "sdtt"              // self-distillation through time (Deschenaux & Gulcehre 2024)
	DistillCertaintyForcing = "certainty-forcing" // fine-tuning on the teacher's trajectories for parallel commits
	DistillProgressive      = "progressive"       // progressive distillation (Salimans & Ho 2022), continuous family
)

// Distill is a distilled model's provenance and the budget it was trained for. Integer fields are 0 when their key
// is absent; Problems lists keys that are present but malformed (the model still runs: the keys are advice).
type Distill struct {
	Method    string   `json:"method"`
	Teacher   string   `json:"teacher,omitempty"`    // teacher file base name + " sha256:" + 16 hex digits
	Sampler   string   `json:"sampler,omitempty"`    // recommended sampler, as --sampler spells it
	Steps     int      `json:"steps,omitempty"`      // recommended forward passes / solver steps
	GenLength int      `json:"gen_length,omitempty"` // the generation length those steps were trained for
	Seed      string   `json:"seed,omitempty"`       // the distillation run's seed (reproduces it)
	Rounds    int      `json:"rounds,omitempty"`     // distillation rounds (each halves the steps)
	Problems  []string `json:"problems,omitempty"`
}

// ReadDistill reads the llada.distill.* keys of a model's metadata (or of Contract.Extra, where ParseContract keeps
// them); nil when the model carries none.
func ReadDistill(meta map[string]string) *Distill {
	found := false
	for k := range meta {
		found = found || strings.HasPrefix(k, "llada.distill.")
	}
	if !found {
		return nil
	}
	get := func(k string) string { return strings.TrimSpace(meta[k]) }
	d := &Distill{Method: get(DistillMethodKey), Teacher: get(DistillTeacherKey), Sampler: get(DistillSamplerKey),
		Seed: get(DistillSeedKey)}
	switch d.Method {
	case DistillSDTT, DistillCertaintyForcing, DistillProgressive:
	case "":
		d.Problems = append(d.Problems, DistillMethodKey+" is missing")
	default:
		d.Problems = append(d.Problems, fmt.Sprintf("%s = %q is not a method this build knows (%s, %s, %s)",
			DistillMethodKey, d.Method, DistillSDTT, DistillCertaintyForcing, DistillProgressive))
	}
	if d.Sampler != "" {
		if _, ok := presets[d.Sampler]; !ok {
			d.Problems = append(d.Problems, fmt.Sprintf("%s = %q is not a sampler this build knows", DistillSamplerKey, d.Sampler))
		}
	}
	if d.Teacher != "" {
		if i := strings.LastIndex(d.Teacher, " sha256:"); i <= 0 || !isHex(d.Teacher[i+len(" sha256:"):], 16) {
			d.Problems = append(d.Problems, fmt.Sprintf("%s = %q: want NAME sha256:<16 hex digits>", DistillTeacherKey, d.Teacher))
		}
	}
	for _, f := range []struct {
		key string
		dst *int
	}{{DistillStepsKey, &d.Steps}, {DistillGenLengthKey, &d.GenLength}, {DistillRoundsKey, &d.Rounds}} {
		v := get(f.key)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			d.Problems = append(d.Problems, fmt.Sprintf("%s = %q is not a positive integer", f.key, v))
			continue
		}
		*f.dst = n
	}
	if v := d.Seed; v != "" {
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			d.Problems = append(d.Problems, fmt.Sprintf("%s = %q is not an integer", DistillSeedKey, v))
		}
	}
	slices.Sort(d.Problems)
	return d
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return false
		}
	}
	return true
}
