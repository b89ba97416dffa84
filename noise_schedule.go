package llada

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// NoiseScheduleKind names a Gaussian noise schedule of the continuous family.
type NoiseScheduleKind string

const (
	// NoiseLinearBeta is DDPM's linear beta schedule in continuous time (Song et al. 2021, VP SDE):
	// alpha_bar(t) = exp(-(BetaMin t + (BetaMax-BetaMin) t^2/2)); defaults 0.1 and 20 (DDPM's 1e-4..0.02 over
	// 1000 steps).
	NoiseLinearBeta NoiseScheduleKind = "linear-beta"
	// NoiseCosine is Nichol & Dhariwal's cosine schedule: alpha_bar(t) = f(t)/f(0), f(t) = cos^2(pi/2 (t+s)/(1+s)),
	// s = Offset (default 0.008). alpha_bar(1) = 0: sigma(1) is infinite, samplers start at the model's sigma_max.
	NoiseCosine NoiseScheduleKind = "cosine"
	// NoiseSqrt is Diffusion-LM's schedule: alpha_bar(t) = 1 - sqrt(t + s), s = Offset (default 1e-4).
	NoiseSqrt NoiseScheduleKind = "sqrt"
	// NoiseEDM is Karras et al.'s (EDM) interpolation: sigma(t) = (SigmaMin^(1/rho) + t (SigmaMax^(1/rho) -
	// SigmaMin^(1/rho)))^rho, rho = Rho (default 7).
	NoiseEDM NoiseScheduleKind = "edm"
	// NoiseVE is the variance-exploding geometric schedule (Song et al.): sigma(t) = SigmaMin (SigmaMax/SigmaMin)^t.
	NoiseVE NoiseScheduleKind = "ve"
	// NoiseTabulated interpolates log sigma linearly in t between the points of Table (a learned or
	// time-warped schedule, CDCD).
	NoiseTabulated NoiseScheduleKind = "tabulated"
)

// NoiseScheduleKinds lists the schedule kinds.
var NoiseScheduleKinds = []NoiseScheduleKind{NoiseLinearBeta, NoiseCosine, NoiseSqrt, NoiseEDM, NoiseVE, NoiseTabulated}

// SchedulePoint is one (t, sigma) entry of a tabulated schedule.
type SchedulePoint struct{ T, Sigma float64 }

// NoiseSchedule maps diffusion time t in [0,1] (0 = clean, 1 = the most noise) to noise levels. Every kind is
// expressed through the variance-exploding noise level sigma: x_t = x_0 + sigma eps. A variance-preserving
// latent z_t = sqrt(alpha_bar) x_0 + sqrt(1-alpha_bar) eps is the same point scaled, z_t = x_t / sqrt(1+sigma^2),
// so alpha_bar = 1/(1+sigma^2) and log-SNR = log(alpha_bar/(1-alpha_bar)) = -2 log sigma.
//
// Zero parameters take the defaults documented on each kind.
type NoiseSchedule struct {
	Kind               NoiseScheduleKind
	BetaMin, BetaMax   float64 // linear-beta
	Offset             float64 // cosine s, sqrt s
	SigmaMin, SigmaMax float64 // edm, ve
	Rho                float64 // edm
	Table              []SchedulePoint
}

// ErrBadSchedule is wrapped by every schedule validation error.
var ErrBadSchedule = errors.New("llada: invalid noise schedule")

func (s NoiseSchedule) withDefaults() NoiseSchedule {
	switch s.Kind {
	case NoiseLinearBeta:
		if s.BetaMin == 0 && s.BetaMax == 0 {
			s.BetaMin, s.BetaMax = 0.1, 20
		}
	case NoiseCosine:
		if s.Offset == 0 {
			s.Offset = 0.008
		}
	case NoiseSqrt:
		if s.Offset == 0 {
			s.Offset = 1e-4
		}
	case NoiseEDM:
		if s.Rho == 0 {
			s.Rho = 7
		}
	}
	return s
}

// Validate reports an impossible schedule: unknown kind, non-finite or out-of-range parameters, a table that
// is not strictly increasing in both t and sigma or does not span t in [0,1].
func (s NoiseSchedule) Validate() error {
	s = s.withDefaults()
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrBadSchedule, s.Kind, fmt.Sprintf(format, a...))
	}
	fin := func(v ...float64) bool {
		for _, x := range v {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return false
			}
		}
		return true
	}
	switch s.Kind {
	case NoiseLinearBeta:
		if !fin(s.BetaMin, s.BetaMax) || s.BetaMin < 0 || s.BetaMax <= s.BetaMin {
			return bad("need 0 <= beta_min (%v) < beta_max (%v)", s.BetaMin, s.BetaMax)
		}
	case NoiseCosine:
		if !fin(s.Offset) || s.Offset <= 0 || s.Offset >= 1 {
			return bad("offset %v must be in (0,1)", s.Offset)
		}
	case NoiseSqrt:
		if !fin(s.Offset) || s.Offset <= 0 || s.Offset >= 1 {
			return bad("offset %v must be in (0,1)", s.Offset)
		}
	case NoiseEDM, NoiseVE:
		if !fin(s.SigmaMin, s.SigmaMax, s.Rho) || s.SigmaMin <= 0 || s.SigmaMax <= s.SigmaMin {
			return bad("need 0 < sigma_min (%v) < sigma_max (%v)", s.SigmaMin, s.SigmaMax)
		}
		if s.Kind == NoiseEDM && s.Rho <= 0 {
			return bad("rho %v must be > 0", s.Rho)
		}
	case NoiseTabulated:
		if len(s.Table) < 2 {
			return bad("table has %d points, want at least 2", len(s.Table))
		}
		for i, p := range s.Table {
			if !fin(p.T, p.Sigma) || p.Sigma <= 0 {
				return bad("point %d (t=%v, sigma=%v) must be finite with sigma > 0", i, p.T, p.Sigma)
			}
			if i > 0 && (p.T <= s.Table[i-1].T || p.Sigma <= s.Table[i-1].Sigma) {
				return bad("not monotone at point %d: (t=%v, sigma=%v) after (t=%v, sigma=%v); t and sigma must both increase strictly",
					i, p.T, p.Sigma, s.Table[i-1].T, s.Table[i-1].Sigma)
			}
		}
		if s.Table[0].T != 0 || s.Table[len(s.Table)-1].T != 1 {
			return bad("table spans t in [%v,%v], want [0,1]", s.Table[0].T, s.Table[len(s.Table)-1].T)
		}
	default:
		return fmt.Errorf("%w: kind %q is unknown (want linear-beta, cosine, sqrt, edm, ve or tabulated)", ErrBadSchedule, s.Kind)
	}
	return nil
}

// vp reports whether the kind is defined through alpha_bar.
func (s NoiseSchedule) vp() bool {
	return s.Kind == NoiseLinearBeta || s.Kind == NoiseCosine || s.Kind == NoiseSqrt
}

// AlphaBar is the variance-preserving signal fraction at time t (t clamped to [0,1]).
func (s NoiseSchedule) AlphaBar(t float64) float64 {
	s = s.withDefaults()
	t = min(max(t, 0), 1)
	switch s.Kind {
	case NoiseLinearBeta:
		return math.Exp(-(s.BetaMin*t + 0.5*(s.BetaMax-s.BetaMin)*t*t))
	case NoiseCosine:
		f := func(u float64) float64 { c := math.Cos((u + s.Offset) / (1 + s.Offset) * math.Pi / 2); return c * c }
		return max(f(t)/f(0), 0)
	case NoiseSqrt:
		return max(1-math.Sqrt(t+s.Offset), 0)
	}
	sig := s.Sigma(t)
	return 1 / (1 + sig*sig)
}

// Sigma is the variance-exploding noise level at time t: sqrt((1-alpha_bar)/alpha_bar) for the VP kinds.
func (s NoiseSchedule) Sigma(t float64) float64 {
	s = s.withDefaults()
	t = min(max(t, 0), 1)
	switch s.Kind {
	case NoiseEDM:
		a, b := math.Pow(s.SigmaMin, 1/s.Rho), math.Pow(s.SigmaMax, 1/s.Rho)
		return math.Pow(a+t*(b-a), s.Rho)
	case NoiseVE:
		return s.SigmaMin * math.Pow(s.SigmaMax/s.SigmaMin, t)
	case NoiseTabulated:
		tb := s.Table
		k := sort.Search(len(tb), func(i int) bool { return tb[i].T >= t })
		if k == 0 {
			return tb[0].Sigma
		}
		if k == len(tb) {
			return tb[len(tb)-1].Sigma
		}
		w := (t - tb[k-1].T) / (tb[k].T - tb[k-1].T)
		return math.Exp(math.Log(tb[k-1].Sigma) + w*(math.Log(tb[k].Sigma)-math.Log(tb[k-1].Sigma)))
	}
	a := s.AlphaBar(t)
	if a <= 0 {
		return math.Inf(1)
	}
	return math.Sqrt((1 - a) / a)
}

// LogSNR is log(alpha_bar/(1-alpha_bar)) = -2 log sigma.
func (s NoiseSchedule) LogSNR(t float64) float64 {
	if s.vp() {
		a := s.AlphaBar(t)
		return math.Log(a) - math.Log1p(-a)
	}
	return -2 * math.Log(s.Sigma(t))
}

// TOfAlphaBar inverts AlphaBar; values outside the schedule's range clamp to t = 0 or 1.
func (s NoiseSchedule) TOfAlphaBar(a float64) float64 {
	s = s.withDefaults()
	var t float64
	switch s.Kind {
	case NoiseLinearBeta:
		if a <= 0 {
			return 1
		}
		k := 0.5 * (s.BetaMax - s.BetaMin) // k t^2 + b0 t + log a = 0
		t = (-s.BetaMin + math.Sqrt(s.BetaMin*s.BetaMin-4*k*math.Log(a))) / (2 * k)
	case NoiseCosine:
		f0 := math.Cos(s.Offset / (1 + s.Offset) * math.Pi / 2)
		t = (1+s.Offset)*2/math.Pi*math.Acos(math.Sqrt(min(max(a, 0), 1))*f0) - s.Offset
	case NoiseSqrt:
		t = (1-a)*(1-a) - s.Offset
	default:
		if a <= 0 {
			return 1
		}
		return s.TOfSigma(math.Sqrt((1 - a) / a))
	}
	return min(max(t, 0), 1)
}

// TOfSigma inverts Sigma; values outside the schedule's range clamp to t = 0 or 1.
func (s NoiseSchedule) TOfSigma(sigma float64) float64 {
	s = s.withDefaults()
	var t float64
	switch s.Kind {
	case NoiseEDM:
		a, b := math.Pow(s.SigmaMin, 1/s.Rho), math.Pow(s.SigmaMax, 1/s.Rho)
		t = (math.Pow(sigma, 1/s.Rho) - a) / (b - a)
	case NoiseVE:
		t = math.Log(sigma/s.SigmaMin) / math.Log(s.SigmaMax/s.SigmaMin)
	case NoiseTabulated:
		tb := s.Table
		k := sort.Search(len(tb), func(i int) bool { return tb[i].Sigma >= sigma })
		if k == 0 {
			return tb[0].T
		}
		if k == len(tb) {
			return tb[len(tb)-1].T
		}
		w := (math.Log(sigma) - math.Log(tb[k-1].Sigma)) / (math.Log(tb[k].Sigma) - math.Log(tb[k-1].Sigma))
		t = tb[k-1].T + w*(tb[k].T-tb[k-1].T)
	default:
		return s.TOfAlphaBar(1 / (1 + sigma*sigma))
	}
	if math.IsNaN(t) {
		return 0
	}
	return min(max(t, 0), 1)
}

// TOfLogSNR inverts LogSNR.
func (s NoiseSchedule) TOfLogSNR(l float64) float64 {
	if s.vp() {
		return s.TOfAlphaBar(1 / (1 + math.Exp(-l)))
	}
	return s.TOfSigma(math.Exp(-l / 2))
}

// SigmaGrid fills dst with steps+1 noise levels for a sampler: sigma(t_i) at t_i = 1 - i/steps for i < steps,
// each clamped to at most sigmaMax (the largest level the model was trained on), and a final 0. It returns
// dst[:steps+1], strictly decreasing except where clamping makes neighbours equal.
func (s NoiseSchedule) SigmaGrid(dst []float64, steps int, sigmaMax float64) []float64 {
	dst = dst[:0]
	for i := 0; i < steps; i++ {
		dst = append(dst, min(s.Sigma(1-float64(i)/float64(steps)), sigmaMax))
	}
	return append(dst, 0)
}
