package gomlx

import (
	"context"
	"fmt"
	"math"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/llada-go/llada"
)

// Confidences holds, per position of a [Rows, Seq] batch, what a greedy (temperature 0) sampler reads from
// the logits, computed in the graph so that only [Rows, Seq] values leave the device instead of
// [Rows, Seq, Vocab] logits. All slices are row-major with Rows*Seq entries.
type Confidences struct {
	Rows, Seq int
	// Token is the argmax of the logits with the never-proposed id excluded; ties go to the lowest id.
	Token []int32
	// Prob is Token's softmax probability over the whole vocabulary.
	Prob []float32
	// Margin is the top-1 minus the top-2 softmax probability over the whole vocabulary (0 on a tie).
	Margin []float32
	// Entropy is the softmax entropy in nats.
	Entropy []float32
	// OK is false where the logits hold NaN or +Inf, or no proposable logit is finite; the other fields are
	// then meaningless.
	OK []bool
}

// Confidence runs the network and reduces its logits in the graph to Confidences. never is the token id
// never proposed (the contract's mask id; -1 for none). The values follow the library's scorer at
// temperature 0 without EOS handling (llada.ScoreLogits), in float32 instead of float64.
func (d *Denoiser) Confidence(ctx context.Context, in llada.Batch, never int, out *Confidences) error {
	if err := d.checkBatch(ctx, in); err != nil {
		return err
	}
	if never < -1 || never >= d.vocab {
		return fmt.Errorf("gomlx: confidence: never-proposed id %d is outside [-1,%d)", never, d.vocab)
	}
	if out == nil {
		return fmt.Errorf("gomlx: confidence: nil output")
	}
	outs, err := d.runWith(ctx, kindConfidence, in, tensors.FromScalar(int32(never)))
	if err != nil {
		return err
	}
	defer finalize(outs)
	n := in.Rows * in.Seq
	out.Rows, out.Seq = in.Rows, in.Seq
	out.Token = resize(out.Token, n)
	out.Prob = resize(out.Prob, n)
	out.Margin = resize(out.Margin, n)
	out.Entropy = resize(out.Entropy, n)
	out.OK = resize(out.OK, n)
	return catch(func() error {
		if err := tensors.ConstFlatData(outs[0], func(f []int32) { copy(out.Token, f) }); err != nil {
			return err
		}
		for i, dst := range [][]float32{out.Prob, out.Margin, out.Entropy} {
			if err := tensors.ConstFlatData(outs[1+i], func(f []float32) { copy(dst, f) }); err != nil {
				return err
			}
		}
		return tensors.ConstFlatData(outs[4], func(f []bool) { copy(out.OK, f) })
	})
}

func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// confidenceGraph reduces logits [B, L, V] over the vocabulary. With m the largest logit and w = exp(x-m):
// p(x) = w/Σw and the entropy is log Σw - Σ w(x-m) / Σw, the same one-pass identities the Go scorer uses
// (scan.go).
func confidenceGraph(logits, never *graph.Node) []*graph.Node {
	g := logits.Graph()
	x := logits
	dims := x.Shape().Dimensions
	vocab := dims[len(dims)-1]
	axis := len(dims) - 1
	ids := graph.Iota(g, shapes.Make(dtypes.Int32, dims...), axis)
	negInf := graph.Infinity(g, dtypes.Float32, -1)
	lowest := graph.Scalar(g, dtypes.Float32, -math.MaxFloat32)
	vocabID := graph.Scalar(g, dtypes.Int32, vocab)

	bad := graph.ReduceLogicalOr(graph.LogicalOr(graph.IsNaN(x), graph.Equal(x, graph.Infinity(g, dtypes.Float32, 1))), axis)
	x = graph.Where(graph.IsNaN(x), negInf, x) // NaN positions are flagged; keep them out of the reductions

	m := graph.Max(graph.ReduceAndKeep(x, graph.ReduceMax, axis), lowest) // -MaxFloat32 keeps all -Inf rows finite
	xm := graph.Sub(x, m)
	w := graph.Exp(xm)
	sum := graph.ReduceSum(w, axis)
	// w(x-m) is 0*(-Inf) = NaN for -Inf logits, whose term is 0.
	tx := graph.ReduceSum(graph.Where(graph.GreaterThan(w, graph.ZerosLike(w)), graph.Mul(w, xm), graph.ZerosLike(w)), axis)
	entropy := graph.Sub(graph.Log(sum), graph.Div(tx, sum))
	mm := graph.Squeeze(m, axis)

	// Proposal: argmax with the never-proposed id removed, lowest id on ties.
	xp := graph.Where(graph.Equal(ids, graph.BroadcastToShape(never, ids.Shape())), graph.BroadcastToShape(negInf, x.Shape()), x)
	pm := graph.ReduceAndKeep(xp, graph.ReduceMax, axis)
	token := graph.ReduceMin(graph.Where(graph.Equal(xp, pm), ids, graph.BroadcastToShape(vocabID, ids.Shape())), axis)
	pmm := graph.Squeeze(pm, axis)
	prob := graph.Div(graph.Exp(graph.Sub(pmm, mm)), sum)

	// Margin: top-1 probability (1/Σw) minus the second largest logit's, the first argmax removed.
	top := graph.ReduceAndKeep(graph.Where(graph.Equal(x, m), ids, graph.BroadcastToShape(vocabID, ids.Shape())), graph.ReduceMin, axis)
	x2 := graph.Where(graph.Equal(ids, top), graph.BroadcastToShape(negInf, x.Shape()), x)
	second := graph.ReduceMax(x2, axis)
	margin := graph.Sub(graph.Reciprocal(sum), graph.Div(graph.Exp(graph.Sub(second, mm)), sum))

	ok := graph.LogicalAnd(graph.LogicalNot(bad), graph.GreaterThan(pmm, graph.BroadcastToShape(negInf, pmm.Shape())))
	return []*graph.Node{token, prob, margin, entropy, ok}
}
