package llada

import (
	"fmt"
	"math"
)

// GuidanceForm names the parameterisation of classifier-free guidance's scale.
type GuidanceForm string

const (
	// GuidanceLLaDA is ML-GSAI/LLaDA generate.py's form: logits = uncond + (s+1)*(cond-uncond); s = 0 is off.
	GuidanceLLaDA GuidanceForm = "llada"
	// GuidanceWeight is the form of Ho & Salimans' w: logits = w*cond + (1-w)*uncond; w = 1 is off, w < 1
	// moves towards the unconditional model.
	GuidanceWeight GuidanceForm = "weight"
)

// GuidanceSchedule names how guidance's strength varies over a generation. Time is a row's progress
// p = 1 - (masks left)/(masks at the start) in [0, 1], the masked-diffusion time read backwards, so it means the
// same for every sampler and block layout.
type GuidanceSchedule string

const (
	GuidanceConstant GuidanceSchedule = "constant"  // full strength throughout (default)
	GuidanceRampUp   GuidanceSchedule = "ramp-up"   // strength grows linearly from 0 at p=0 to full at p=1
	GuidanceRampDown GuidanceSchedule = "ramp-down" // strength falls linearly from full at p=0 to 0 at p=1
	GuidanceInterval GuidanceSchedule = "interval"  // full strength for Start <= p < End (End = 1 includes p=1), off elsewhere
)

// Guidance configures classifier-free guidance. The zero value is off. Whatever the form and schedule, every
// sampler mixes through one code path (mixGuidance) with the strength s = Scale (LLaDA form) or w-1 (weight
// form), multiplied by the schedule's factor at the row's progress.
type Guidance struct {
	// Scale is the guidance scale in Form's parameterisation.
	Scale float64
	// Form is GuidanceLLaDA (default) or GuidanceWeight.
	Form GuidanceForm
	// Schedule varies the strength over time; empty is GuidanceConstant.
	Schedule GuidanceSchedule
	// Start and End bound GuidanceInterval's window of progress, 0 <= Start < End <= 1.
	Start, End float64
	// RowScales, when set, holds one scale per batch row (in Form's parameterisation) in place of Scale.
	RowScales []float64
	// NegativeIDs is the unconditional input's prompt: one token-id prompt for every row, or one per row. Nil
	// keeps LLaDA's unconditional input, the prompt replaced by masks. Prompts and negative prompts are left-padded
	// to a common length.
	NegativeIDs [][]int
}

// strength converts a scale in g's form into the LLaDA-form strength s of mixGuidance.
func (g Guidance) strength(scale float64) float64 {
	if g.Form == GuidanceWeight {
		return scale - 1
	}
	return scale
}

// enabled reports whether any row is guided at some time.
func (g Guidance) enabled() bool {
	if len(g.RowScales) > 0 {
		for _, s := range g.RowScales {
			if g.strength(s) != 0 {
				return true
			}
		}
		return false
	}
	return g.strength(g.Scale) != 0
}

// Factor is the schedule's multiplier of the guidance strength at progress p in [0, 1].
func (g Guidance) Factor(p float64) float64 {
	switch g.Schedule {
	case GuidanceRampUp:
		return p
	case GuidanceRampDown:
		return 1 - p
	case GuidanceInterval:
		if (p >= g.Start && p < g.End) || (p >= 1 && g.End >= 1) {
			return 1
		}
		return 0
	}
	return 1
}

// Strength is the LLaDA-form strength s (logits = uncond + (s+1)*(cond-uncond)) that row r gets at progress p.
func (g Guidance) Strength(r int, p float64) float64 {
	scale := g.Scale
	if len(g.RowScales) > 0 {
		scale = g.RowScales[r]
	}
	return g.strength(scale) * g.Factor(p)
}

func (g Guidance) validate() error {
	finite := func(name string, v float64) error {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("guidance %s %v is not a finite number", name, v)
		}
		return nil
	}
	checkScale := func(name string, v float64) error {
		if err := finite(name, v); err != nil {
			return err
		}
		if g.Form == GuidanceWeight {
			if v < 0 {
				return fmt.Errorf("guidance %s %v: the weight form needs w >= 0 (w = 1 is off)", name, v)
			}
		} else if v < 0 {
			return fmt.Errorf("guidance %s %v: the llada form needs s >= 0 (s = 0 is off)", name, v)
		}
		return nil
	}
	switch g.Form {
	case "", GuidanceLLaDA, GuidanceWeight:
	default:
		return fmt.Errorf("guidance form %q is unknown (want %q or %q)", g.Form, GuidanceLLaDA, GuidanceWeight)
	}
	if err := checkScale("scale", g.Scale); err != nil {
		return err
	}
	for r, s := range g.RowScales {
		if err := checkScale(fmt.Sprintf("row %d scale", r), s); err != nil {
			return err
		}
	}
	switch g.Schedule {
	case "", GuidanceConstant, GuidanceRampUp, GuidanceRampDown:
		if g.Start != 0 || g.End != 0 {
			return fmt.Errorf("guidance start/end (%v, %v) only apply to the %q schedule", g.Start, g.End, GuidanceInterval)
		}
	case GuidanceInterval:
		if err := finite("start", g.Start); err != nil {
			return err
		}
		if err := finite("end", g.End); err != nil {
			return err
		}
		if !(0 <= g.Start && g.Start < g.End && g.End <= 1) {
			return fmt.Errorf("guidance interval [%v, %v) must satisfy 0 <= start < end <= 1", g.Start, g.End)
		}
	default:
		return fmt.Errorf("guidance schedule %q is unknown (want %q, %q, %q or %q)", g.Schedule,
			GuidanceConstant, GuidanceRampUp, GuidanceRampDown, GuidanceInterval)
	}
	for i, n := range g.NegativeIDs {
		if len(n) == 0 {
			return fmt.Errorf("guidance negative prompt %d is empty", i)
		}
	}
	return nil
}

// negativeLen is the longest negative prompt, 0 without one or when guidance is off.
func (g Guidance) negativeLen() int {
	if !g.enabled() {
		return 0
	}
	n := 0
	for _, p := range g.NegativeIDs {
		n = max(n, len(p))
	}
	return n
}

// guidance returns the effective guidance of c: Guidance, or the legacy CFGScale in the LLaDA form.
func (c GenerateConfig) guidance() Guidance {
	g := c.Guidance
	if c.CFGScale != 0 && g.Scale == 0 && len(g.RowScales) == 0 && (g.Form == "" || g.Form == GuidanceLLaDA) {
		g.Scale, g.Form = c.CFGScale, GuidanceLLaDA
	}
	return g
}

// validateGuidance checks CFGScale and Guidance together.
func (c GenerateConfig) validateGuidance() error {
	if math.IsNaN(c.CFGScale) || math.IsInf(c.CFGScale, 0) || c.CFGScale < 0 {
		return fmt.Errorf("cfg_scale %v must be a finite number >= 0", c.CFGScale)
	}
	if c.CFGScale != 0 && (c.Guidance.Scale != 0 || len(c.Guidance.RowScales) > 0 || c.Guidance.Form == GuidanceWeight) {
		return fmt.Errorf("cfg_scale %v and guidance scales are both set; use one", c.CFGScale)
	}
	return c.guidance().validate()
}

// mixGuidance applies classifier-free guidance in place: cond becomes uncond + (scale+1)*(cond-uncond).
//
// This is the parameterisation of ML-GSAI/LLaDA generate.py (cfg_scale 0 = no guidance); the weight form
// w*cond + (1-w)*uncond is the same mix with scale = w-1 (see Guidance.Strength). Every sampler and family mixes
// through this function, so that forms and schedules mean the same everywhere.
func mixGuidance(cond, uncond []float32, scale float64) {
	s := float32(scale + 1)
	uncond = uncond[:len(cond)]
	for i, c := range cond {
		u := uncond[i]
		cond[i] = u + s*(c-u)
	}
}

// guideState is a generation's guidance: the unconditional half of the forward batch and the per-row
// strengths of the current canvas.
type guideState struct {
	on       bool
	cfg      Guidance
	constant bool      // no schedule: strengths never change
	holes    []int     // per row: masks at the start, the denominator of progress
	strength []float64 // per row, for the current canvas
	negative bool      // the unconditional prompt is NegativeIDs (fixed in fwdIDs), not the masked prompt
}

// initGuidance sizes the forward batch (cond rows, then as many unconditional rows under guidance) and
// returns its number of rows.
func (g *generation) initGuidance() (int, error) {
	gd := g.cfg.guidance()
	g.guide = guideState{on: gd.enabled(), cfg: gd}
	if !g.guide.on {
		g.fwdIDs, g.fwdAtt = g.canvas, g.attention
		return g.rows, nil
	}
	if n := len(gd.RowScales); n > 0 && n != g.rows {
		return 0, fmt.Errorf("%w: guidance has %d row scales for %d rows", ErrInvalidConfig, n, g.rows)
	}
	if n := len(gd.NegativeIDs); n > 1 && n != g.rows {
		return 0, fmt.Errorf("%w: guidance has %d negative prompts for %d rows (want 1 or %d)", ErrInvalidConfig, n, g.rows, g.rows)
	}
	rows, seq := g.rows, g.seq
	n := rows * seq
	g.fwdIDs = make([]int64, 2*n)
	g.guide.negative = len(gd.NegativeIDs) > 0
	if g.guide.negative {
		g.fwdAtt = make([]int64, 2*n)
		for r := 0; r < rows; r++ {
			neg := gd.NegativeIDs[min(r, len(gd.NegativeIDs)-1)]
			pad := g.promptLen - len(neg)
			for j := 0; j < seq; j++ {
				k := n + r*seq + j
				g.fwdAtt[k] = 1
				switch {
				case j < pad:
					g.fwdIDs[k], g.fwdAtt[k] = int64(g.c.PadID), 0
				case j < g.promptLen:
					id := neg[j-pad]
					if id < 0 || id >= g.vocab {
						return 0, fmt.Errorf("%w: negative prompt token %d: id %d outside the vocabulary [0,%d)", ErrInvalidConfig, j-pad, id, g.vocab)
					}
					g.fwdIDs[k] = int64(id)
				}
				if g.attention != nil {
					g.fwdAtt[r*seq+j] = g.attention[r*seq+j]
				} else {
					g.fwdAtt[r*seq+j] = 1
				}
			}
		}
	} else if g.attention != nil {
		g.fwdAtt = make([]int64, 2*n)
		copy(g.fwdAtt, g.attention)
		copy(g.fwdAtt[n:], g.attention)
	}
	g.guide.strength = make([]float64, rows)
	g.guide.holes = make([]int, rows)
	g.guide.constant = gd.Schedule == "" || gd.Schedule == GuidanceConstant
	mask := int64(g.c.MaskID)
	for r := 0; r < rows; r++ {
		for _, id := range g.canvas[r*seq : (r+1)*seq] {
			if id == mask {
				g.guide.holes[r]++
			}
		}
		g.guide.strength[r] = gd.Strength(r, 0)
	}
	return 2 * rows, nil
}

// forwardBatch returns the batch of the next forward pass and the logits it fills: the canvas alone, or under
// guidance the canvas and its unconditional copy. When the schedule gives every row strength 0 at the current
// progress (outside an interval, the end of a ramp), the unconditional half is skipped: it would not be read.
func (g *generation) forwardBatch() (Batch, []float32) {
	rows := g.rows
	if g.guide.on {
		copy(g.fwdIDs, g.canvas) // the conditional half
		g.updateStrengths()
		for _, s := range g.guide.strength {
			if s != 0 {
				g.writeUncond()
				rows *= 2
				break
			}
		}
	}
	n := rows * g.seq
	in := Batch{IDs: g.fwdIDs[:n], Rows: rows, Seq: g.seq}
	if g.fwdAtt != nil {
		in.Attention = g.fwdAtt[:n]
	}
	return in, g.logits[:n*g.vocab]
}

// writeUncond writes the unconditional half of the forward batch from the current canvas: the canvas with its
// prompt masked (LLaDA), or with the negative prompt in the prompt's place.
func (g *generation) writeUncond() {
	n := g.rows * g.seq
	mask := int64(g.c.MaskID)
	if g.guide.negative {
		for r := 0; r < g.rows; r++ {
			base := r * g.seq
			copy(g.fwdIDs[n+base+g.promptLen:n+base+g.seq], g.canvas[base+g.promptLen:base+g.seq])
		}
		return
	}
	for j, id := range g.canvas {
		if g.isPrompt[j] {
			id = mask
		}
		g.fwdIDs[n+j] = id
	}
}

// updateStrengths sets every row's guidance strength at the row's current progress.
func (g *generation) updateStrengths() {
	if !g.guide.constant {
		mask := int64(g.c.MaskID)
		for r := 0; r < g.rows; r++ {
			left := 0
			for _, id := range g.canvas[r*g.seq : (r+1)*g.seq] {
				if id == mask {
					left++
				}
			}
			p := 1.0
			if h := g.guide.holes[r]; h > 0 {
				p = 1 - float64(left)/float64(h)
			}
			g.guide.strength[r] = g.guide.cfg.Strength(r, p)
		}
	}
}

// mixWork mixes guidance into the conditional logits of every work position not mixed since the last pass,
// with its row's strength as of that pass (the canvas, hence the progress, has not changed since).
func (g *generation) mixWork() {
	n := g.rows * g.seq
	for _, j := range g.work {
		k := g.logitsRow(j)
		if !g.mixed[k] && g.guide.strength[j/g.seq] != 0 { // strength 0 leaves cond exactly as it is
			mixGuidance(g.logits[k*g.vocab:(k+1)*g.vocab], g.logits[(n+k)*g.vocab:(n+k+1)*g.vocab], g.guide.strength[j/g.seq])
			g.mixed[k] = true
		}
	}
}
