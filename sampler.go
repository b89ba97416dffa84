package llada

import (
	"fmt"
	"math"
	"strings"
)

// Sampler is a composition of sampler parts: how tokens are proposed at masked positions, how those positions
// are scored, which of them are committed at each step (transfer rule and step schedule), whether decoded
// tokens may be remasked or edited, and when a generation stops early.
//
// The zero value is LLaDA's low-confidence sampler (ML-GSAI/LLaDA generate.py). Named presets reproduce the
// published samplers; see SamplerNames, SamplerByName and docs/samplers.md. A preset is a value: copy it,
// change knobs, and put it in GenerateConfig.Sampler.
//
// Zero knobs take the default documented on each field, so custom compositions only set what they change. To
// mean a literal 0 for a knob whose default is not 0 (Gamma, Eta, MaxPostSteps, ...), set its bit in Zero.
type Sampler struct {
	// Name is the preset this value came from ("" for the default or a custom composition). A Sampler whose
	// Transfer is unset and whose Name is set is resolved by name when the generation starts, so
	// Sampler{Name: "dream-entropy"} and SamplerByName("dream-entropy") are the same sampler.
	Name string

	// Proposal picks how a token is proposed at each scored position.
	Proposal Proposal
	// TopK > 0 keeps only the logits >= the TopK-th largest (ties kept) before proposing (ProposeFiltered).
	TopK int
	// TopP in (0,1) keeps the smallest prefix of the sorted distribution whose mass before the last kept token
	// is <= TopP; the top token is always kept (ProposeFiltered). 0 or 1 disables it.
	TopP float64
	// TopKFirst applies top-k before top-p (LLaDA 2.x order); the default is Dream's order, top-p then top-k.
	TopKFirst bool
	// SuppressMask never proposes the mask token (MDLM's SUBS parameterisation gives it -Inf).
	SuppressMask bool

	// Score ranks the masked positions (higher commits first).
	Score Score

	// Transfer decides which scored positions are committed at each step.
	Transfer Transfer
	// Counts is the per-step transfer-count rule of TransferQuota and TransferThresholdOrQuota.
	// Default: CountsLLaDA for TransferQuota, CountsLLaDA2 for TransferThresholdOrQuota.
	Counts CountRule
	// Schedule is the masking schedule alpha(t) used by the time-based rules (CountsDLLM, TransferBernoulli,
	// the ReMDM remasking probabilities). Default ScheduleLinear (alpha = 1-t).
	Schedule ScheduleKind
	// Grid is the time grid of TransferBernoulli: GridUniform (default, linspace(1, Eps, steps+1)) or
	// GridCosine (short steps near t=1, long ones near Eps).
	Grid GridKind
	// Eps is where the time grid ends: linspace(1, Eps, steps+1) (Dream 1e-3, MDLM 1e-5). Default 1e-3.
	Eps float64
	// NoiseRemoval adds MDLM's final step: after the last time step every position still masked takes the
	// argmax proposal (the reference's noise_removal). Default off (the last step of TransferBernoulli commits
	// every remaining mask, like Dream's origin).
	NoiseRemoval bool
	// AlgTemp > 0 makes TransferQuota sample its positions without replacement from softmax(score/AlgTemp)
	// instead of taking the top ones (Dream's alg_temp).
	AlgTemp float64
	// Threshold is the confidence bar of TransferThreshold (commit score >= Threshold; default 0.9) and of
	// TransferThresholdOrQuota (score > Threshold; default 0.95). Must be in (0,1].
	Threshold float64
	// Factor is f of TransferFactor: commit the longest prefix of the sorted scores with (n+1)(1-c_n) <= f.
	// Default 1.
	Factor float64
	// FactorOffByOne reproduces Fast-dLLM's get_transfer_index_dynamic, which also commits the last position
	// when it is the first to fail the bound. Default off (the rule as stated in the paper).
	FactorOffByOne bool
	// Gamma is the entropy budget of TransferEntropyBound (default 0.1): commit the largest set of
	// lowest-entropy positions whose entropy sum minus its largest entropy is <= Gamma.
	Gamma float64

	// ReMDM lets ReMDM remask decoded tokens. Default ReMDMNone.
	ReMDM ReMDM
	// Eta is ReMDM's eta: the cap (ReMDMCap), the scale (ReMDMRescale), or the constant remasking
	// probability of the loop phase (ReMDMLoop). Defaults 0.04, 0.015 and 0.02 respectively (ReMDM scripts
	// could not be read here; these are the paper's typical values, see docs/samplers.md).
	Eta float64
	// TOn, TOff and AlphaOn shape ReMDMLoop: MDLM down to t=TOn where alpha reaches AlphaOn, a loop with
	// alpha held at AlphaOn that remasks with probability Eta until t=TOff, then MDLM to the end.
	// Defaults 0.55, 0.05, 0.9.
	TOn, TOff, AlphaOn float64

	// EditThreshold > 0 enables LLaDA 2.x token editing: a decoded, non-prompt token of the current block is
	// overwritten when the new proposal differs and its probability exceeds EditThreshold.
	EditThreshold float64
	// Quota > 0 replaces Counts by a fixed per-step quota (LLaDA 2.1's num_to_transfer); steps are then
	// ignored and a block runs until it is complete.
	Quota int
	// MaxPostSteps bounds the editing steps taken after a block has no masks left (LLaDA 2.x
	// max_post_steps). Default 16 when editing is on.
	MaxPostSteps int

	// StopAtEOS ends a row once an EOS has been committed and every position before it is decoded; the row's
	// canvas after that EOS is filled with EOS and Step.End marks the trimmed end.
	StopAtEOS bool

	// LogitsShift asserts the model's logits convention: ShiftAuto (default) follows the contract's
	// llada.logits_shift; ShiftOn or ShiftOff make a model with the other convention an error.
	LogitsShift Shift

	// Zero lists the numeric knobs whose 0 is meant literally: a knob that is 0 and has its bit here keeps 0
	// instead of taking its default (and, on a Sampler resolved by Name, replaces the preset's value). For
	// example Eta = 0 with KnobEta turns ReMDM's remasking off, and Gamma = 0 with KnobGamma makes the
	// entropy bound commit only zero-entropy positions beyond the first. A bit has no effect on a non-zero
	// knob; a knob whose range excludes 0 (Eps, Threshold, Factor, TOn, TOff, AlphaOn) then fails validation.
	Zero Knob
	// Continuous holds the knobs of the continuous-family samplers (TransferContinuous); see continuous_samplers.go.
	Continuous ContinuousOptions
}

// Knob is a set of Sampler's numeric knobs, for Sampler.Zero.
type Knob uint32

const (
	KnobTopK Knob = 1 << iota
	KnobTopP
	KnobEps
	KnobAlgTemp
	KnobThreshold
	KnobFactor
	KnobGamma
	KnobEta
	KnobTOn
	KnobTOff
	KnobAlphaOn
	KnobEditThreshold
	KnobQuota
	KnobMaxPostSteps
)

// unset reports whether a knob of value v takes its default: it is 0 and not listed in Zero.
func (s Sampler) unset(k Knob, v float64) bool { return v == 0 && s.Zero&k == 0 }

// Proposal names how a token is proposed at a position.
type Proposal string

const (
	// ProposeLLaDA takes argmax(logits + T*Gumbel) in float64 (argmax at T=0) and, for ScoreProb, scores the
	// proposal by its probability under softmax of the raw logits (ML-GSAI/LLaDA generate.py).
	ProposeLLaDA Proposal = "llada"
	// ProposeFiltered divides the logits by T, applies top-p/top-k filtering (the top token always survives),
	// and draws from the resulting softmax (argmax at T=0); scores use those filtered probabilities
	// (DreamLM/Dream generation_utils.py sample_tokens, inclusionAI LLaDA 2.x).
	ProposeFiltered Proposal = "filtered"
)

// Score names how masked positions are ranked.
type Score string

const (
	ScoreProb       Score = "prob"        // probability of the proposal
	ScoreMargin     Score = "margin"      // top-1 minus top-2 probability
	ScoreNegEntropy Score = "neg-entropy" // sum p log p (Dream adds 1e-10 inside the log)
	ScoreRandom     Score = "random"      // a uniform draw: random order
)

// Transfer names how positions are committed at each step.
type Transfer string

const (
	// TransferQuota commits Counts' number of best-scored positions per step (LLaDA, Dream).
	TransferQuota Transfer = "quota"
	// TransferThreshold commits every position with score >= Threshold, and always the best one; steps are
	// ignored and a block ends when it has no masks (Fast-dLLM).
	TransferThreshold Transfer = "threshold"
	// TransferFactor commits the longest prefix of sorted scores with (n+1)(1-c_n) <= Factor, at least one
	// (Fast-dLLM's factor rule); steps are ignored.
	TransferFactor Transfer = "factor"
	// TransferBernoulli unmasks each masked position independently with probability
	// (alpha_s-alpha_t)/(1-alpha_t) on the time grid (Dream origin, MDLM ancestral).
	TransferBernoulli Transfer = "bernoulli"
	// TransferFirstHitting unmasks one uniformly chosen masked position per step, until the block is
	// complete (BD3-LM / Zheng et al. first-hitting sampler); steps are ignored.
	TransferFirstHitting Transfer = "first-hitting"
	// TransferEntropyBound commits the largest set of lowest-entropy positions whose entropy sum minus its
	// maximum is <= Gamma, at least one (EB-sampler); steps are ignored.
	TransferEntropyBound Transfer = "entropy-bound"
	// TransferThresholdOrQuota commits every position with score > Threshold when there are at least the
	// step's quota of them, else the quota's best (LLaDA 2.x).
	TransferThresholdOrQuota Transfer = "threshold-or-quota"
)

// CountRule names a per-step transfer-count rule (see scheduler.go).
type CountRule string

const (
	CountsLLaDA  CountRule = "llada"  // even split of the block's masks, remainder front-loaded
	CountsDream  CountRule = "dream"  // int(m*(1-s/t)) of the current masks on linspace(1,eps,steps+1), the rest last
	CountsDLLM   CountRule = "dllm"   // round-half-even(remaining*(1-(1-alpha_s)/(1-alpha_t))), zero steps dropped
	CountsLLaDA2 CountRule = "llada2" // even split of block_length (not the masks), remainder front-loaded
)

// ReMDM names a ReMDM remasking strategy.
type ReMDM string

const (
	ReMDMNone    ReMDM = ""
	ReMDMCap     ReMDM = "cap"     // sigma = min(eta, sigma_max)
	ReMDMRescale ReMDM = "rescale" // sigma = eta * sigma_max
	ReMDMConf    ReMDM = "conf"    // sigma_l = softmax(-psi)_l * sigma_max, psi = probability when decoded
	ReMDMLoop    ReMDM = "loop"    // MDLM, then a constant-alpha loop remasking with eta, then MDLM
)

// GridKind names a time grid.
type GridKind string

const (
	GridUniform GridKind = "uniform"
	GridCosine  GridKind = "cosine"
)

// Shift asserts a logits convention.
type Shift string

const (
	ShiftAuto Shift = ""
	ShiftOn   Shift = "on"
	ShiftOff  Shift = "off"
)

// withDefaults fills zero knobs with their documented defaults. It does not resolve Name.
func (s Sampler) withDefaults() Sampler {
	if s.Proposal == "" {
		s.Proposal = ProposeLLaDA
	}
	if s.Score == "" {
		s.Score = ScoreProb
	}
	if s.Transfer == "" {
		s.Transfer = TransferQuota
	}
	if s.Counts == "" {
		s.Counts = CountsLLaDA
		if s.Transfer == TransferThresholdOrQuota {
			s.Counts = CountsLLaDA2
		}
	}
	if s.Schedule == "" {
		s.Schedule = ScheduleLinear
	}
	if s.unset(KnobEps, s.Eps) {
		s.Eps = 1e-3
	}
	if s.Grid == "" {
		s.Grid = GridUniform
	}
	if s.unset(KnobThreshold, s.Threshold) {
		s.Threshold = 0.9
		if s.Transfer == TransferThresholdOrQuota {
			s.Threshold = 0.95
		}
	}
	if s.unset(KnobFactor, s.Factor) {
		s.Factor = 1
	}
	if s.unset(KnobGamma, s.Gamma) {
		s.Gamma = 0.1
	}
	if s.unset(KnobEta, s.Eta) {
		switch s.ReMDM {
		case ReMDMCap:
			s.Eta = 0.04
		case ReMDMRescale:
			s.Eta = 0.015
		case ReMDMLoop:
			s.Eta = 0.02
		}
	}
	if s.ReMDM == ReMDMLoop {
		if s.unset(KnobTOn, s.TOn) {
			s.TOn = 0.55
		}
		if s.unset(KnobTOff, s.TOff) {
			s.TOff = 0.05
		}
		if s.unset(KnobAlphaOn, s.AlphaOn) {
			s.AlphaOn = 0.9
		}
	}
	if s.EditThreshold > 0 && s.unset(KnobMaxPostSteps, float64(s.MaxPostSteps)) {
		s.MaxPostSteps = 16
	}
	return s
}

// resolve returns the sampler a config runs: the preset named by Name when no part is set, the LLaDA
// default when nothing is set, else s itself; then defaults.
func (s Sampler) resolve() (Sampler, error) {
	if s.Transfer == "" && s.Name != "" {
		p, ok := presets[s.Name]
		if !ok {
			return Sampler{}, fmt.Errorf("unknown sampler %q (known: %s)", s.Name, strings.Join(SamplerNames(), ", "))
		}
		// Knobs set on the named value override the preset's.
		s = overlay(p, s)
	}
	return s.withDefaults(), nil
}

// overlay copies the set knobs of o (non-zero, or zero and listed in o.Zero) over p (parts stay p's: o has none, or it would not be resolved).
func overlay(p, o Sampler) Sampler {
	if !o.unset(KnobTopK, float64(o.TopK)) {
		p.TopK = o.TopK
	}
	if !o.unset(KnobTopP, o.TopP) {
		p.TopP = o.TopP
	}
	if !o.unset(KnobEps, o.Eps) {
		p.Eps = o.Eps
	}
	if !o.unset(KnobAlgTemp, o.AlgTemp) {
		p.AlgTemp = o.AlgTemp
	}
	if !o.unset(KnobThreshold, o.Threshold) {
		p.Threshold = o.Threshold
	}
	if !o.unset(KnobFactor, o.Factor) {
		p.Factor = o.Factor
	}
	if !o.unset(KnobGamma, o.Gamma) {
		p.Gamma = o.Gamma
	}
	if !o.unset(KnobEta, o.Eta) {
		p.Eta = o.Eta
	}
	if !o.unset(KnobTOn, o.TOn) {
		p.TOn = o.TOn
	}
	if !o.unset(KnobTOff, o.TOff) {
		p.TOff = o.TOff
	}
	if !o.unset(KnobAlphaOn, o.AlphaOn) {
		p.AlphaOn = o.AlphaOn
	}
	if !o.unset(KnobEditThreshold, o.EditThreshold) {
		p.EditThreshold = o.EditThreshold
	}
	if !o.unset(KnobQuota, float64(o.Quota)) {
		p.Quota = o.Quota
	}
	if !o.unset(KnobMaxPostSteps, float64(o.MaxPostSteps)) {
		p.MaxPostSteps = o.MaxPostSteps
	}
	if o.Schedule != "" {
		p.Schedule = o.Schedule
	}
	if o.Grid != "" {
		p.Grid = o.Grid
	}
	if o.LogitsShift != "" {
		p.LogitsShift = o.LogitsShift
	}
	p.Zero |= o.Zero
	p.StopAtEOS = p.StopAtEOS || o.StopAtEOS
	p.FactorOffByOne = p.FactorOffByOne || o.FactorOffByOne
	p.TopKFirst = p.TopKFirst || o.TopKFirst
	p.SuppressMask = p.SuppressMask || o.SuppressMask
	p.NoiseRemoval = p.NoiseRemoval || o.NoiseRemoval
	p.Continuous = o.Continuous // presets never set it
	return p
}

// validate reports the first out-of-range knob of a resolved sampler.
func (s Sampler) validate() error {
	if s.Transfer == TransferContinuous {
		return s.validateContinuous()
	}
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch s.Proposal {
	case ProposeLLaDA, ProposeFiltered:
	default:
		return fmt.Errorf("proposal %q is unknown (want %q or %q)", s.Proposal, ProposeLLaDA, ProposeFiltered)
	}
	switch s.Score {
	case ScoreProb, ScoreMargin, ScoreNegEntropy, ScoreRandom:
	default:
		return fmt.Errorf("score %q is unknown (want prob, margin, neg-entropy or random)", s.Score)
	}
	switch s.Transfer {
	case TransferQuota, TransferThreshold, TransferFactor, TransferBernoulli, TransferFirstHitting,
		TransferEntropyBound, TransferThresholdOrQuota:
	default:
		return fmt.Errorf("transfer %q is unknown (want quota, threshold, factor, bernoulli, first-hitting, entropy-bound or threshold-or-quota)", s.Transfer)
	}
	switch s.Counts {
	case CountsLLaDA, CountsDream, CountsDLLM, CountsLLaDA2:
	default:
		return fmt.Errorf("counts %q is unknown (want llada, dream, dllm or llada2)", s.Counts)
	}
	if _, err := NewSchedule(s.Schedule); err != nil {
		return err
	}
	switch s.Grid {
	case GridUniform:
	case GridCosine:
		if s.Transfer != TransferBernoulli {
			return fmt.Errorf("grid %q applies to the bernoulli transfer only, not %q", s.Grid, s.Transfer)
		}
	default:
		return fmt.Errorf("grid %q is unknown (want uniform or cosine)", s.Grid)
	}
	switch s.ReMDM {
	case ReMDMNone, ReMDMCap, ReMDMRescale, ReMDMConf, ReMDMLoop:
	default:
		return fmt.Errorf("remask %q is unknown (want cap, rescale, conf or loop)", s.ReMDM)
	}
	switch s.LogitsShift {
	case ShiftAuto, ShiftOn, ShiftOff:
	default:
		return fmt.Errorf("logits shift %q is unknown (want on, off or empty for the contract's)", s.LogitsShift)
	}
	switch {
	case s.TopK < 0:
		return fmt.Errorf("top_k %d is negative", s.TopK)
	case !finite(s.TopP) || s.TopP < 0 || s.TopP > 1:
		return fmt.Errorf("top_p %v must be in (0,1] (0 disables it)", s.TopP)
	case (s.TopK > 0 || (s.TopP > 0 && s.TopP < 1)) && s.Proposal != ProposeFiltered:
		return fmt.Errorf("top_k/top_p filter the %q proposal only; LLaDA's proposal takes no filter", ProposeFiltered)
	case !finite(s.Eps) || s.Eps <= 0 || s.Eps >= 1:
		return fmt.Errorf("eps %v must be in (0,1)", s.Eps)
	case !finite(s.AlgTemp) || s.AlgTemp < 0:
		return fmt.Errorf("alg_temp %v must be a finite number >= 0", s.AlgTemp)
	case s.AlgTemp > 0 && s.Transfer != TransferQuota:
		return fmt.Errorf("alg_temp applies to the quota transfer only, not %q", s.Transfer)
	case !finite(s.Threshold) || s.Threshold <= 0 || s.Threshold > 1:
		return fmt.Errorf("threshold (tau) %v must be in (0,1]", s.Threshold)
	case !finite(s.Factor) || s.Factor <= 0:
		return fmt.Errorf("factor %v must be a finite number > 0", s.Factor)
	case !finite(s.Gamma) || s.Gamma < 0:
		return fmt.Errorf("gamma %v must be a finite number >= 0", s.Gamma)
	case !finite(s.Eta) || s.Eta < 0 || s.Eta > 1:
		return fmt.Errorf("eta %v must be in [0,1]", s.Eta)
	case !finite(s.EditThreshold) || s.EditThreshold < 0 || s.EditThreshold > 1:
		return fmt.Errorf("edit threshold %v must be in [0,1] (0 disables editing)", s.EditThreshold)
	case s.Quota < 0:
		return fmt.Errorf("quota %d is negative", s.Quota)
	case s.Quota > 0 && s.Transfer != TransferQuota && s.Transfer != TransferThresholdOrQuota:
		return fmt.Errorf("a fixed quota applies to the quota and threshold-or-quota transfers, not %q", s.Transfer)
	case s.MaxPostSteps < 0:
		return fmt.Errorf("max_post_steps %d is negative", s.MaxPostSteps)
	case s.Score == ScoreRandom && (s.Transfer == TransferEntropyBound || s.Transfer == TransferFirstHitting):
		return fmt.Errorf("transfer %q ignores the score; score %q makes no sense with it", s.Transfer, s.Score)
	}
	if s.ReMDM != ReMDMNone {
		if s.Transfer != TransferBernoulli {
			return fmt.Errorf("ReMDM remasking (%q) needs the bernoulli (ancestral) transfer, not %q", s.ReMDM, s.Transfer)
		}
		if s.EditThreshold > 0 {
			return fmt.Errorf("ReMDM remasking and LLaDA 2.x editing cannot be combined")
		}
	}
	if s.ReMDM == ReMDMLoop {
		switch {
		case !finite(s.TOn) || !finite(s.TOff) || s.TOff <= 0 || s.TOn <= s.TOff || s.TOn >= 1:
			return fmt.Errorf("remdm loop needs 0 < t_off (%v) < t_on (%v) < 1", s.TOff, s.TOn)
		case !finite(s.AlphaOn) || s.AlphaOn <= 0 || s.AlphaOn >= 1:
			return fmt.Errorf("remdm loop alpha_on %v must be in (0,1)", s.AlphaOn)
		}
	}
	if s.EditThreshold > 0 && s.Transfer == TransferBernoulli {
		return fmt.Errorf("token editing needs a confidence transfer, not %q", s.Transfer)
	}
	return nil
}

// validateFor checks what depends on the model: the logits convention.
func (s Sampler) validateFor(c Contract) error {
	if err := s.checkFamily(c); err != nil {
		return err
	}
	switch {
	case s.LogitsShift == ShiftOn && !c.LogitsShift:
		return fmt.Errorf("logits shift requested (Dream convention) but the model's contract has llada.logits_shift = 0")
	case s.LogitsShift == ShiftOff && c.LogitsShift:
		return fmt.Errorf("unshifted logits requested but the model's contract has llada.logits_shift = 1")
	}
	return nil
}

// usesSteps reports whether the Steps setting shapes this sampler (threshold-like rules run until a block is
// complete instead).
func (s Sampler) usesSteps() bool {
	if s.Quota > 0 {
		return false
	}
	switch s.Transfer {
	case TransferThreshold, TransferFactor, TransferFirstHitting, TransferEntropyBound:
		return false
	}
	return true
}
