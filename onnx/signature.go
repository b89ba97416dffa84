package onnx

import (
	"fmt"
	"strings"
)

// Names and types of model contract v1: input_ids int64 [batch, seq], optional attention_mask int64 [batch,
// seq], output logits float32 [batch, seq, vocab].
const (
	InputIDs      = "input_ids"
	AttentionMask = "attention_mask"
	Logits        = "logits"
	// LogitsWindow is the optional int64 [2] (start, length) input of the logits-window extension
	// (docs/contract.md): the graph computes logits only for those positions.
	LogitsWindow = "logits_window"
)

// TensorInfo describes one model input or output as ONNX Runtime reports it.
type TensorInfo struct {
	Name string
	// ElementType is a short name: "float32", "float16", "int64", "int32", ... For values that are not tensors
	// it names the kind instead ("sequence", "map", ...).
	ElementType string
	// Shape has one entry per dimension; -1 marks a dynamic (symbolic) dimension. Nil for non-tensors.
	Shape []int64
}

func (t TensorInfo) String() string {
	dims := make([]string, len(t.Shape))
	for i, d := range t.Shape {
		if d < 0 {
			dims[i] = "?"
		} else {
			dims[i] = fmt.Sprint(d)
		}
	}
	return fmt.Sprintf("%s %s [%s]", t.Name, t.ElementType, strings.Join(dims, ","))
}

// signature is what validation learned about a model.
type signature struct {
	hasMask   bool
	hasWindow bool // the logits_window input of the logits-window extension
	hasCache  bool // the inputs and outputs of the KV-cache extension (kvcache.go)
	vocab     int  // static last dimension of logits, 0 when dynamic
}

// validateSignature checks the model against contract v1 and names every mismatch at once, so that fixing an
// export takes one round trip.
func validateSignature(inputs, outputs []TensorInfo) (signature, error) {
	var sig signature
	if isContinuous(inputs) {
		return sig, fmt.Errorf("%w: open it with OpenContinuous", ErrContinuousModel)
	}
	var problems []string
	check := func(kind string, t TensorInfo, elem string, rank int) {
		if t.ElementType != elem || len(t.Shape) != rank {
			problems = append(problems, fmt.Sprintf("%s %q: want %s of rank %d, got %s of rank %d",
				kind, t.Name, elem, rank, t.ElementType, len(t.Shape)))
		}
	}
	var haveIDs, haveLogits bool
	var extra []string
	for _, in := range inputs {
		switch in.Name {
		case InputIDs:
			haveIDs = true
			check("input", in, "int64", 2)
		case AttentionMask:
			sig.hasMask = true
			check("input", in, "int64", 2)
		case LogitsWindow:
			sig.hasWindow = true
			check("input", in, "int64", 1)
		case PastKeys, PastValues:
			check("input", in, "float32", 5)
		case CacheStart:
			check("input", in, "int64", 1)
		default:
			extra = append(extra, in.Name)
		}
	}
	if !haveIDs {
		problems = append(problems, fmt.Sprintf("missing required input %q (int64 [batch, seq]); the model has inputs %s",
			InputIDs, names(inputs)))
	}
	for _, name := range extra {
		problems = append(problems, fmt.Sprintf("unsupported required input %q: contract v1 feeds only %q and %q",
			name, InputIDs, AttentionMask))
	}
	for _, out := range outputs {
		if out.Name == Logits {
			haveLogits = true
			check("output", out, "float32", 3)
			if len(out.Shape) == 3 && out.Shape[2] > 0 {
				sig.vocab = int(out.Shape[2])
			}
		}
	}
	var err error
	if sig.hasCache, err = cacheSignature(inputs, outputs); err != nil {
		problems = append(problems, err.Error())
	}
	if sig.hasCache && sig.hasWindow {
		problems = append(problems, fmt.Sprintf("the KV-cache inputs and %q cannot be combined", LogitsWindow))
	}
	if !haveLogits {
		problems = append(problems, fmt.Sprintf("missing required output %q (float32 [batch, seq, vocab]); the model has outputs %s",
			Logits, names(outputs)))
	}
	if len(problems) > 0 {
		return signature{}, fmt.Errorf("model does not follow contract v1: %s", strings.Join(problems, "; "))
	}
	return sig, nil
}

func names(ts []TensorInfo) string {
	if len(ts) == 0 {
		return "(none)"
	}
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = fmt.Sprintf("%q", t.Name)
	}
	return strings.Join(s, ", ")
}
