package onnx

import (
	"errors"
	"fmt"
	"strings"
)

// Names of the continuous family's tensors (docs/contract.md, "Continuous diffusion in embedding space").
const (
	XT       = "x_t"       // float32 [batch, seq, dim]: noisy embeddings
	Timestep = "timestep"  // float32 [batch] or [batch, seq]: the noise level (sigma or t, per the metadata)
	SelfCond = "self_cond" // float32 [batch, seq, dim]: the previous x0 estimate, optional
	X0       = "x0"        // float32 [batch, seq, dim]: optional output, the model's x0 vector
)

// ErrContinuousModel is wrapped by Open's error when the graph takes x_t: it is a continuous-family model,
// opened with OpenContinuous.
var ErrContinuousModel = errors.New("onnx: continuous-family model (input x_t)")

// continuousSignature is what validation learned about a continuous model.
type continuousSignature struct {
	dim, vocab   int // static dims, 0 when dynamic
	timestepRank int // 1 ([batch]) or 2 ([batch, seq])
	hasSelfCond  bool
	hasMask      bool
	hasX0        bool
}

// isContinuous reports whether a graph's inputs follow the continuous family.
func isContinuous(inputs []TensorInfo) bool {
	for _, in := range inputs {
		if in.Name == XT {
			return true
		}
	}
	return false
}

// validateContinuousSignature checks a graph against the continuous contract and names every mismatch.
func validateContinuousSignature(inputs, outputs []TensorInfo) (continuousSignature, error) {
	var sig continuousSignature
	var problems []string
	want := func(kind string, t TensorInfo, elem string, ranks ...int) bool {
		ok := t.ElementType == elem
		rankOK := false
		for _, r := range ranks {
			rankOK = rankOK || len(t.Shape) == r
		}
		if !ok || !rankOK {
			problems = append(problems, fmt.Sprintf("%s %q: want %s of rank %v, got %s of rank %d", kind, t.Name, elem,
				ranks, t.ElementType, len(t.Shape)))
			return false
		}
		return true
	}
	var haveX, haveT, haveLogits bool
	for _, in := range inputs {
		switch in.Name {
		case XT:
			haveX = true
			if want("input", in, "float32", 3) && in.Shape[2] > 0 {
				sig.dim = int(in.Shape[2])
			}
		case Timestep:
			haveT = true
			if want("input", in, "float32", 1, 2) {
				sig.timestepRank = len(in.Shape)
			}
		case SelfCond:
			sig.hasSelfCond = want("input", in, "float32", 3)
		case AttentionMask:
			sig.hasMask = want("input", in, "int64", 2)
		default:
			problems = append(problems, fmt.Sprintf("unsupported required input %q: the continuous contract feeds %q, %q, %q and %q",
				in.Name, XT, Timestep, SelfCond, AttentionMask))
		}
	}
	if !haveX {
		problems = append(problems, fmt.Sprintf("missing required input %q (float32 [batch, seq, dim])", XT))
	}
	if !haveT {
		problems = append(problems, fmt.Sprintf("missing required input %q (float32 [batch] or [batch, seq])", Timestep))
	}
	for _, out := range outputs {
		switch out.Name {
		case Logits:
			haveLogits = true
			if want("output", out, "float32", 3) && out.Shape[2] > 0 {
				sig.vocab = int(out.Shape[2])
			}
		case X0:
			sig.hasX0 = want("output", out, "float32", 3)
		}
	}
	if !haveLogits {
		problems = append(problems, fmt.Sprintf("missing required output %q (float32 [batch, seq, vocab]); the model has outputs %s",
			Logits, names(outputs)))
	}
	if len(problems) > 0 {
		return continuousSignature{}, fmt.Errorf("model does not follow the continuous contract: %s", strings.Join(problems, "; "))
	}
	return sig, nil
}
