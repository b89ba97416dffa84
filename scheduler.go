package llada

import (
	"fmt"
	"math"
)

// ScheduleKind names a masking schedule alpha(t): the probability that a token is still clean at time t,
// with alpha(0) = 1 (clean) and alpha(1) ~ 0 (fully masked).
type ScheduleKind string

const (
	// ScheduleLinear is alpha = 1 - t (LLaDA, Dream; MDLM's ancestral update uses move chance t).
	ScheduleLinear ScheduleKind = "linear"
	// ScheduleCosine is alpha = 1 - cos(pi/2 (1-t)) (MaskGIT's cosine mask ratio).
	ScheduleCosine ScheduleKind = "cosine"
	// ScheduleLogLinear is MDLM/SEDD's log-linear noise: sigma(t) = -log(1-(1-eps)t), alpha = 1-(1-eps)t,
	// eps = 1e-3 (kuleshov-group/mdlm noise_schedule.py LogLinearNoise).
	ScheduleLogLinear ScheduleKind = "loglinear"
	// ScheduleGeometric is SEDD's geometric noise: sigma(t) = smin^(1-t) smax^t with smin = 1e-4,
	// smax = 20, alpha = exp(-sigma) (louaaron/Score-Entropy-Discrete-Diffusion noise_lib.py).
	ScheduleGeometric ScheduleKind = "geometric"
	// SchedulePolynomial is alpha = 1 - t^2 (a polynomial schedule of exponent 2).
	SchedulePolynomial ScheduleKind = "polynomial"
)

// Schedule is a masking schedule with its derivative and inverse. All methods are pure.
type Schedule struct {
	Kind ScheduleKind
	// Eps (loglinear), SigmaMin/SigmaMax (geometric) and Exponent (polynomial) parameterise the kinds.
	Eps, SigmaMin, SigmaMax, Exponent float64
}

// NewSchedule returns the schedule of a kind with its documented parameters.
func NewSchedule(kind ScheduleKind) (Schedule, error) {
	switch kind {
	case ScheduleLinear, ScheduleCosine:
		return Schedule{Kind: kind}, nil
	case ScheduleLogLinear:
		return Schedule{Kind: kind, Eps: 1e-3}, nil
	case ScheduleGeometric:
		return Schedule{Kind: kind, SigmaMin: 1e-4, SigmaMax: 20}, nil
	case SchedulePolynomial:
		return Schedule{Kind: kind, Exponent: 2}, nil
	}
	return Schedule{}, fmt.Errorf("masking schedule %q is unknown (want linear, cosine, loglinear, geometric or polynomial)", kind)
}

// Alpha returns alpha(t) for t in [0,1].
func (s Schedule) Alpha(t float64) float64 {
	switch s.Kind {
	case ScheduleCosine:
		return 1 - math.Cos(math.Pi/2*(1-t))
	case ScheduleLogLinear:
		return 1 - (1-s.Eps)*t
	case ScheduleGeometric:
		return math.Exp(-s.sigma(t))
	case SchedulePolynomial:
		return 1 - math.Pow(t, s.Exponent)
	}
	return 1 - t
}

func (s Schedule) sigma(t float64) float64 {
	return math.Pow(s.SigmaMin, 1-t) * math.Pow(s.SigmaMax, t)
}

// UnmaskProb is the probability that a position masked at time t is unmasked by time s < t:
// (alpha(s) - alpha(t)) / (1 - alpha(t)). It is 1 when alpha(t) = 1.
func (s Schedule) UnmaskProb(t, sTime float64) float64 {
	at, as := s.Alpha(t), s.Alpha(sTime)
	if at >= 1 {
		return 1
	}
	return min(max((as-at)/(1-at), 0), 1)
}

// UniformGrid returns the time grid linspace(1, eps, steps+1) in float64: steps intervals from t=1 down
// to eps (Dream, MDLM). dst is reused when it has capacity.
func UniformGrid(dst []float64, steps int, eps float64) []float64 {
	dst = dst[:0]
	for i := 0; i <= steps; i++ {
		dst = append(dst, 1+(eps-1)*float64(i)/float64(steps))
	}
	if steps > 0 {
		dst[steps] = eps
	}
	return dst
}

// CosineGrid returns a grid from 1 down to eps whose steps are short near t=1 and long near eps:
// t_i = eps + (1-eps) cos(pi/2 i/steps).
func CosineGrid(dst []float64, steps int, eps float64) []float64 {
	dst = dst[:0]
	for i := 0; i <= steps; i++ {
		dst = append(dst, eps+(1-eps)*math.Cos(math.Pi/2*float64(i)/float64(steps)))
	}
	if steps > 0 {
		dst[steps] = eps
	}
	return dst
}

// linspace32 returns element i of torch.linspace(start, end, n) in float32, following ATen's CPU kernel:
// step = (end-start)/(n-1); the first half counts up from start, the second half down from end.
func linspace32(start, end float32, n, i int) float32 {
	if n == 1 {
		return start
	}
	step := (end - start) / float32(n-1)
	if i < n/2 {
		return start + step*float32(i)
	}
	return end - step*float32(n-i-1)
}

// LLaDATransferCounts splits masked tokens evenly over steps, front-loading the remainder: the number of tokens
// committed at each step of one block under LLaDA's linear schedule. With masked=10 and steps=4 it returns
// [3 3 2 2]. dst is reused when it has capacity.
//
// Semantics match get_num_transfer_tokens in ML-GSAI/LLaDA generate.py: base = m // steps, and the first
// m % steps steps take one more. LLaDA 2.x uses the same split of block_length instead of the mask count
// (LLaDA2TransferCounts).
func LLaDATransferCounts(dst []int, masked, steps int) []int {
	dst = dst[:0]
	if steps <= 0 {
		return dst
	}
	base, rem := masked/steps, masked%steps
	for i := 0; i < steps; i++ {
		n := base
		if i < rem {
			n++
		}
		dst = append(dst, n)
	}
	return dst
}

// LLaDA2TransferCounts is the per-step quota of inclusionAI's LLaDA 2.x generate: block_length (not the
// number of masks, which is smaller when the block holds prompt tokens) split evenly over the block's steps,
// remainder front-loaded.
func LLaDA2TransferCounts(dst []int, blockLength, steps int) []int {
	return LLaDATransferCounts(dst, blockLength, steps)
}

// DreamTransferCount is the number of tokens Dream commits at step i of steps (DreamLM/Dream
// generation_utils.py _sample): with t, s = timesteps[i], timesteps[i+1] of torch.linspace(1, eps, steps+1)
// in float32, int(m * (1 - s/t)) of the m current masks, and all of them at the last step. The arithmetic
// is float32 like the reference's tensors.
func DreamTransferCount(masked, step, steps int, eps float64) int {
	if step >= steps-1 {
		return masked
	}
	t := linspace32(1, float32(eps), steps+1, step)
	s := linspace32(1, float32(eps), steps+1, step+1)
	n := int(float32(masked) * (1 - s/t))
	return min(max(n, 0), masked)
}

// DLLMTransferCounts is the deterministic count rule of the dllm library (get_num_transfer_tokens with a
// scheduler): on the grid t_j = (steps-j)/steps, step j commits round(remaining * (1 - (1-alpha(s))/(1-alpha(t))))
// (round half to even, like torch.round), capped by what remains; steps that commit nothing are dropped,
// since a model without time conditioning gains nothing from them. dst is reused.
func DLLMTransferCounts(dst []int, masked, steps int, sched Schedule) []int {
	dst = dst[:0]
	remaining := masked
	for j := 0; j < steps && remaining > 0; j++ {
		t := float64(steps-j) / float64(steps)
		s := float64(steps-j-1) / float64(steps)
		stay := 1.0
		if at := sched.Alpha(t); at < 1 {
			stay = (1 - sched.Alpha(s)) / (1 - at)
		}
		n := int(math.RoundToEven(float64(remaining) * (1 - stay)))
		n = min(max(n, 0), remaining)
		remaining -= n
		if n > 0 {
			dst = append(dst, n)
		}
	}
	// A schedule with alpha(0) < 1 (geometric) can leave masks after the last step; they go to the last step
	// so that the counts always sum to the masks.
	if remaining > 0 {
		if len(dst) == 0 {
			dst = append(dst, 0)
		}
		dst[len(dst)-1] += remaining
	}
	return dst
}
