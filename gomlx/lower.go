package gomlx

import (
	"fmt"

	"github.com/gomlx/onnx-gomlx/onnx"
)

// onnx-gomlx v0.3.4 converts a fixed list of ONNX ops and has no way to register more (its convertNode is a
// closed switch). Our exports use one op outside that list: Sigmoid, in the SwiGLU feed-forward
// (x * sigmoid(x)). lowerUnsupported rewrites such nodes, before conversion, into ops the converter knows, with
// the same value:
//
//	Sigmoid(x) = 1 / (1 + exp(-x))      (ONNX operator spec; exp(-x) = +Inf for very negative x gives 0)
//
// The model's own proto is edited in place; the file on disk is untouched. The proto types live in an internal
// package of onnx-gomlx, so new messages are made with newOf, which infers the type from an existing value.

// loweredOps lists the ops lowerUnsupported rewrites, for error messages and docs.
var loweredOps = []string{"Sigmoid"}

// newOf returns a new zero message of the type p points to.
func newOf[T any](_ *T) *T { return new(T) }

// elemOf returns a new zero message of the slice's element type.
func elemOf[T any](_ []*T) *T { return new(T) }

const onnxFloat = 1 // TensorProto.DataType FLOAT

// lowerUnsupported rewrites every Sigmoid node of the main graph and reports how many it rewrote.
func lowerUnsupported(m *onnx.Model) (int, error) {
	g := m.Proto.Graph
	if g == nil {
		return 0, fmt.Errorf("model has no graph")
	}
	n := 0
	var one string
	for i := 0; i < len(g.Node); i++ {
		node := g.Node[i]
		if node.OpType != "Sigmoid" || node.Domain != "" {
			continue
		}
		if len(node.Input) != 1 || len(node.Output) != 1 {
			return n, fmt.Errorf("Sigmoid node %q has %d inputs and %d outputs, want 1 and 1",
				node.Name, len(node.Input), len(node.Output))
		}
		if one == "" {
			// One shared float32 scalar 1: the contract's models compute in float32.
			one = uniqueName(m, "llada_lowered_one")
			t := elemOf(g.Initializer)
			t.Name, t.DataType, t.FloatData = one, onnxFloat, []float32{1}
			g.Initializer = append(g.Initializer, t)
		}
		x, y := node.Input[0], node.Output[0]
		base := uniqueName(m, fmt.Sprintf("llada_sigmoid%d", n))
		mk := func(op string, in []string, out string) {
			nn := newOf(node)
			nn.OpType, nn.Name, nn.Input, nn.Output = op, base+"_"+op, in, []string{out}
			g.Node = append(g.Node, nn)
		}
		// Replace node i by the chain; appended nodes keep the graph valid because onnx-gomlx converts by
		// following outputs back to their producers, not in list order.
		g.Node = append(g.Node[:i], g.Node[i+1:]...)
		i--
		mk("Neg", []string{x}, base+"_neg")
		mk("Exp", []string{base + "_neg"}, base+"_exp")
		mk("Add", []string{one, base + "_exp"}, base+"_den")
		mk("Div", []string{one, base + "_den"}, y)
		n++
	}
	return n, nil
}

// uniqueName returns prefix, or prefix with a suffix, such that no value of the graph has that name.
func uniqueName(m *onnx.Model, prefix string) string {
	used := map[string]bool{}
	g := m.Proto.Graph
	for _, t := range g.Initializer {
		used[t.Name] = true
	}
	for _, in := range g.Input {
		used[in.Name] = true
	}
	for _, node := range g.Node {
		for _, o := range node.Output {
			used[o] = true
		}
		used[node.Name] = true
	}
	name := prefix
	for k := 1; used[name] || used[name+"_neg"]; k++ {
		name = fmt.Sprintf("%s_%d", prefix, k)
	}
	return name
}
