package llada

import (
	"fmt"
	"sort"
	"strings"
)

// presets are the named samplers. Each reproduces a published sampler; the comment names the source whose
// semantics it follows. docs/samplers.md lists which reference quirks are reproduced and which are fixed.
var presets = map[string]Sampler{
	// ML-GSAI/LLaDA generate.py, remasking='low_confidence': argmax(+Gumbel) proposals, confidence =
	// softmax(raw logits)[proposal], get_num_transfer_tokens quota per block.
	"llada-low-confidence": {Proposal: ProposeLLaDA, Score: ScoreProb, Transfer: TransferQuota, Counts: CountsLLaDA},
	// ML-GSAI/LLaDA generate.py, remasking='random'.
	"llada-random": {Proposal: ProposeLLaDA, Score: ScoreRandom, Transfer: TransferQuota, Counts: CountsLLaDA},

	// DreamLM/Dream generation_utils.py (_sample), alg='origin': each mask is unmasked with probability
	// 1-s/t on linspace(1, eps=1e-3, steps+1), all remaining at the last step; tokens from sample_tokens.
	"dream-origin": {Proposal: ProposeFiltered, Transfer: TransferBernoulli, Schedule: ScheduleLinear, Eps: 1e-3},
	// Dream alg='maskgit_plus': confidence = filtered probability of the proposal, quota int(m*(1-s/t)).
	"dream-maskgit-plus": {Proposal: ProposeFiltered, Score: ScoreProb, Transfer: TransferQuota, Counts: CountsDream, Eps: 1e-3},
	// Dream alg='topk_margin': confidence = top1 - top2 of the filtered probabilities.
	"dream-topk-margin": {Proposal: ProposeFiltered, Score: ScoreMargin, Transfer: TransferQuota, Counts: CountsDream, Eps: 1e-3},
	// Dream alg='entropy': confidence = sum p log(p+1e-10) of the filtered probabilities.
	"dream-entropy": {Proposal: ProposeFiltered, Score: ScoreNegEntropy, Transfer: TransferQuota, Counts: CountsDream, Eps: 1e-3},

	// kuleshov-group/mdlm diffusion.py _sample with _ddpm_caching_update: ancestral sampling where a mask
	// stays masked with probability s/t (the reference's move chance is t), tokens drawn from p_x0 with the
	// mask token excluded (SUBS), p_x0 reused while the canvas is unchanged, a final noise-removal argmax
	// step, eps = 1e-5. Temperature 1 draws exactly from p_x0 as the reference does.
	"mdlm": {Proposal: ProposeFiltered, SuppressMask: true, Transfer: TransferBernoulli, Schedule: ScheduleLinear, Eps: 1e-5, NoiseRemoval: true},
	// kuleshov-group/bd3lms diffusion.py _ddpm_caching_update with sampling.first_hitting (after Zheng et al.
	// 2024): one uniformly chosen masked position of the block per step, its token drawn from p_x0.
	"first-hitting": {Proposal: ProposeFiltered, SuppressMask: true, Transfer: TransferFirstHitting},

	// NVlabs/Fast-dLLM llada/generate.py get_transfer_index with threshold: commit the top position and every
	// other with confidence >= 0.9; a block ends as soon as it has no masks.
	"fast-dllm-threshold": {Proposal: ProposeLLaDA, Score: ScoreProb, Transfer: TransferThreshold, Threshold: 0.9},
	// NVlabs/Fast-dLLM llada/generate.py get_transfer_index_dynamic (factor rule, f = 1).
	"fast-dllm-factor": {Proposal: ProposeLLaDA, Score: ScoreProb, Transfer: TransferFactor, Factor: 1},

	// Ben-Hamu et al. 2025, "Accelerated Sampling from Masked Diffusion Models via Entropy Bounded
	// Unmasking" (EB-sampler), from the paper: the reference code was not available here.
	"eb": {Proposal: ProposeLLaDA, Score: ScoreProb, Transfer: TransferEntropyBound, Gamma: 0.1},

	// Wang et al. 2025, "Remasking Discrete Diffusion Models with Inference-Time Scaling" (kuleshov-group/remdm
	// diffusion.py _ddpm_caching_update), on top of the mdlm preset.
	"remdm-cap":     {Proposal: ProposeFiltered, SuppressMask: true, Transfer: TransferBernoulli, Schedule: ScheduleLinear, Eps: 1e-5, NoiseRemoval: true, ReMDM: ReMDMCap, Eta: 0.04},
	"remdm-rescale": {Proposal: ProposeFiltered, SuppressMask: true, Transfer: TransferBernoulli, Schedule: ScheduleLinear, Eps: 1e-5, NoiseRemoval: true, ReMDM: ReMDMRescale, Eta: 0.015},
	"remdm-conf":    {Proposal: ProposeFiltered, SuppressMask: true, Transfer: TransferBernoulli, Schedule: ScheduleLinear, Eps: 1e-5, NoiseRemoval: true, ReMDM: ReMDMConf},
	"remdm-loop": {Proposal: ProposeFiltered, SuppressMask: true, Transfer: TransferBernoulli, Schedule: ScheduleLinear, Eps: 1e-5, NoiseRemoval: true,
		ReMDM: ReMDMLoop, Eta: 0.02, TOn: 0.55, TOff: 0.05, AlphaOn: 0.9},

	// inclusionAI LLaDA 2.0 generate (modeling_llada2_moe.py): per block, commit every mask whose filtered
	// probability is > 0.95 when there are at least the step's quota of them, else the quota's best; quota =
	// block_length split evenly over the block's steps; top-k before top-p.
	"llada2": {Proposal: ProposeFiltered, TopKFirst: true, Score: ScoreProb, Transfer: TransferThresholdOrQuota, Counts: CountsLLaDA2, Threshold: 0.95},
	// inclusionAI LLaDA 2.1 generate with token editing: threshold 0.95, at least one mask per step, decoded
	// tokens of the block overwritten when a different proposal has probability > 0.9, at most 16 editing
	// steps after the block is full.
	"llada2-edit": {Proposal: ProposeFiltered, TopKFirst: true, Score: ScoreProb, Transfer: TransferThresholdOrQuota, Threshold: 0.95, Quota: 1,
		EditThreshold: 0.9, MaxPostSteps: 16},
}

func init() {
	for name, p := range presets {
		p.Name = name
		presets[name] = p
	}
}

// SamplerNames lists the masked-family preset names, sorted (ContinuousSamplerNames lists the others).
func SamplerNames() []string {
	names := make([]string, 0, len(presets))
	for n, p := range presets {
		if p.Transfer != TransferContinuous {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// SamplerByName returns the named preset. An unknown name gives a Sampler that fails validation with an error
// listing the known names, so SamplerByName can be used inline in a GenerateConfig literal; use LookupSampler
// to get the error at once.
func SamplerByName(name string) Sampler {
	if p, ok := presets[name]; ok {
		return p
	}
	return Sampler{Name: name}
}

// LookupSampler returns the named preset or an error naming the known presets.
func LookupSampler(name string) (Sampler, error) {
	p, ok := presets[name]
	if !ok {
		return Sampler{}, fmt.Errorf("%w: unknown sampler %q (known: %s)", ErrInvalidConfig, name,
			strings.Join(append(SamplerNames(), ContinuousSamplerNames()...), ", "))
	}
	return p, nil
}
