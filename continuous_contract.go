package llada

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// FamilyContinuous is llada.family of embedding-space (Gaussian) diffusion models: CDCD, Plaid, Diffusion-LM.
const FamilyContinuous = "continuous"

// ContinuousContract is what the llada.continuous.* metadata keys say about a continuous model (docs/contract.md,
// "Continuous diffusion in embedding space").
type ContinuousContract struct {
	// EmbedDim is D, the last dimension of x_t, self_cond and the embedding table (llada.continuous.embed_dim).
	EmbedDim int
	// EmbeddingNorm is how the table's rows are normalised (llada.continuous.embedding_norm): "none",
	// "unit" (every row has L2 norm 1) or "sqrt_dim" (every row has norm sqrt(D)). Checked when the table loads.
	EmbeddingNorm string
	// EmbeddingsSHA256 is the hex SHA-256 of the embeddings.bin file that belongs to this graph.
	EmbeddingsSHA256 string
	// Prediction is what the network predicts (llada.continuous.prediction): "logits" (x0 as a distribution over
	// tokens; the x0 vector comes from the embedding table) is the only value this build reads.
	Prediction string
	// Process is the forward process (llada.continuous.process): "ve" feeds x_t = x0 + sigma eps, "vp" feeds
	// sqrt(alpha_bar) x0 + sqrt(1-alpha_bar) eps.
	Process string
	// Time is what the timestep input carries (llada.continuous.time): "sigma" (the VE noise level) or "t"
	// (diffusion time in [0,1] of the trained schedule).
	Time string
	// Schedule is the noise schedule the model was trained with (llada.continuous.schedule and its parameters).
	Schedule NoiseSchedule
	// SigmaMax is the largest noise level (VE) the model was trained on: sampling starts there, and the
	// unconditional input of classifier-free guidance feeds held positions as x = 0 at this level.
	SigmaMax float64
	// SelfConditioning says the graph has a self_cond input that expects the previous x0 estimate.
	SelfConditioning bool
}

// parseContinuousContract reads the llada.continuous.* keys, appending one error per bad key to errs.
func parseContinuousContract(meta map[string]string, errs []string) (*ContinuousContract, []string) {
	const p = "llada.continuous."
	cc := &ContinuousContract{}
	bad := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	get := func(key string, required bool) (string, bool) {
		v, ok := meta[p+key]
		if !ok && required {
			bad("missing metadata key %q (required by llada.family = continuous)", p+key)
		}
		return strings.TrimSpace(v), ok
	}
	float := func(key string, dst *float64, required bool) {
		v, ok := get(key, required)
		if !ok {
			return
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			bad("metadata key %q = %q is not a finite number", p+key, v)
			return
		}
		*dst = f
	}
	oneOf := func(key string, dst *string, def string, allowed ...string) {
		v, ok := get(key, def == "")
		if !ok {
			*dst = def
			return
		}
		for _, a := range allowed {
			if v == a {
				*dst = v
				return
			}
		}
		bad("metadata key %q = %q, want one of %s", p+key, v, strings.Join(allowed, ", "))
	}
	if v, ok := get("embed_dim", true); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			bad("metadata key %q = %q is not a positive integer", p+"embed_dim", v)
		}
		cc.EmbedDim = n
	}
	oneOf("embedding_norm", &cc.EmbeddingNorm, "none", "none", "unit", "sqrt_dim")
	if v, ok := get("embeddings_sha256", true); ok {
		if len(v) != 64 || strings.Trim(strings.ToLower(v), "0123456789abcdef") != "" {
			bad("metadata key %q = %q is not a hex SHA-256", p+"embeddings_sha256", v)
		}
		cc.EmbeddingsSHA256 = strings.ToLower(v)
	}
	oneOf("prediction", &cc.Prediction, "", "logits")
	oneOf("process", &cc.Process, "", "ve", "vp")
	oneOf("time", &cc.Time, "", "sigma", "t")
	if v, ok := get("self_conditioning", false); ok {
		switch v {
		case "0":
		case "1":
			cc.SelfConditioning = true
		default:
			bad("metadata key %q = %q, want \"0\" or \"1\"", p+"self_conditioning", v)
		}
	}
	float("sigma_max", &cc.SigmaMax, true)
	if cc.SigmaMax < 0 || (cc.SigmaMax == 0 && meta[p+"sigma_max"] != "") {
		bad("metadata key %q = %v must be > 0", p+"sigma_max", cc.SigmaMax)
	}
	var kind string
	if _, ok := meta[p+"schedule"]; ok {
		oneOf("schedule", &kind, "", string(NoiseLinearBeta), string(NoiseCosine), string(NoiseSqrt), string(NoiseEDM),
			string(NoiseVE), string(NoiseTabulated))
	}
	s := NoiseSchedule{Kind: NoiseScheduleKind(kind)}
	float("beta_min", &s.BetaMin, false)
	float("beta_max", &s.BetaMax, false)
	float("schedule_offset", &s.Offset, false)
	float("sigma_min", &s.SigmaMin, false)
	float("rho", &s.Rho, false)
	if s.Kind == NoiseEDM || s.Kind == NoiseVE {
		s.SigmaMax = cc.SigmaMax
	}
	if s.Kind == NoiseTabulated {
		v, ok := get("schedule_table", true)
		if ok {
			var pts [][2]float64
			if err := json.Unmarshal([]byte(v), &pts); err != nil {
				bad("metadata key %q is not a JSON list of [t, sigma] pairs: %v", p+"schedule_table", err)
			}
			for _, q := range pts {
				s.Table = append(s.Table, SchedulePoint{T: q[0], Sigma: q[1]})
			}
		}
	}
	if s.Kind != "" {
		if err := s.Validate(); err != nil {
			bad("metadata key %q: %v", p+"schedule", err)
		}
	}
	cc.Schedule = s
	if cc.Time == "t" && s.Kind == "" {
		bad("llada.continuous.time = t needs llada.continuous.schedule")
	}
	return cc, errs
}

// timestepFor converts a VE noise level into what the model's timestep input carries.
func (cc *ContinuousContract) timestepFor(sigma float64) float32 {
	if cc.Time == "t" {
		return float32(cc.Schedule.TOfSigma(sigma))
	}
	return float32(sigma)
}

// inputScale is the factor from the samplers' VE state to the model's x_t: 1 for "ve", 1/sqrt(1+sigma^2) for "vp".
func (cc *ContinuousContract) inputScale(sigma float64) float32 {
	if cc.Process == "vp" {
		return float32(1 / math.Sqrt(1+sigma*sigma))
	}
	return 1
}
