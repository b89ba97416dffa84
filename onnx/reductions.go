package onnx

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// The optional outputs of the in-graph reductions extension of the model contract (docs/contract.md, "In-graph
// reductions"), one value per logits row: the argmax id with the excluded id removed, its softmax
// probability, the top-1 minus top-2 probability and the entropy, all of softmax(logits) at temperature 1.
// MetaReductions lists them; MetaReductionsExclude names the id argmax_id never proposes (the mask id).
const (
	ArgmaxID              = "argmax_id"
	ArgmaxProb            = "argmax_prob"
	Top2Margin            = "top2_margin"
	Entropy               = "entropy"
	MetaReductions        = "llada.reductions"
	MetaReductionsExclude = "llada.reductions.exclude_id"
)

// reductionNames are the outputs in the order MetaReductions lists them and ForwardReductions fetches them.
var reductionNames = []string{ArgmaxID, ArgmaxProb, Top2Margin, Entropy}

// Reductions receives one ForwardReductions: rows×n values each, row-major (n = the window length, or seq).
// The caller sizes the slices; a non-finite Prob or Entropy marks a position whose logits held NaN or +Inf,
// or no finite logit other than the excluded id.
type Reductions struct {
	Token   []int64
	Prob    []float32
	Margin  []float32
	Entropy []float32
}

// Reductions reports whether the model carries the in-graph reduction outputs and which id their argmax
// excludes. A model that does not advertise them gives ok=false and no error; one that advertises them with
// missing or mistyped outputs, or a bad exclude id, gives an error naming the problem (callers then use the
// logits, which stay correct).
func (s *Session) Reductions() (excludeID int, ok bool, err error) {
	meta, outputs := s.Metadata(), s.Outputs()
	v, has := meta[MetaReductions]
	if !has {
		return 0, false, nil
	}
	if v != strings.Join(reductionNames, ",") {
		return 0, false, fmt.Errorf("onnx: %s=%q, want %q", MetaReductions, v, strings.Join(reductionNames, ","))
	}
	for i, name := range reductionNames {
		k := slices.IndexFunc(outputs, func(t TensorInfo) bool { return t.Name == name })
		want := "float32"
		if i == 0 {
			want = "int64"
		}
		if k < 0 {
			return 0, false, fmt.Errorf("onnx: %s advertises output %q but the model has %s", MetaReductions, name, names(outputs))
		}
		if t := outputs[k]; t.ElementType != want || len(t.Shape) != 2 {
			return 0, false, fmt.Errorf("onnx: reduction output %q is %s, want %s of rank 2", name, t, want)
		}
	}
	ex, err := strconv.Atoi(meta[MetaReductionsExclude])
	if err != nil || ex < 0 || (s.VocabSize() > 0 && ex >= s.VocabSize()) {
		return 0, false, fmt.Errorf("onnx: %s=%q is not an id of the vocabulary", MetaReductionsExclude, meta[MetaReductionsExclude])
	}
	return ex, true, nil
}
