package gomlx

import (
	"fmt"
	"sort"
	"strings"

	"github.com/gomlx/onnx-gomlx/onnx"
)

// convertible lists the ONNX ops (default domain) that onnx-gomlx v0.3.4 converts, read from its convertNode
// switch (onnx/graph.go). Checking the graph against it at Open names every missing op at once, instead of a
// panic at the first forward pass. Keep it in step with the pinned onnx-gomlx version.
var convertible = set(
	"Add", "Sub", "Mul", "Div", "Pow", "And", "Or", "Xor", "BitwiseAnd", "BitwiseOr", "BitwiseXor",
	"Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual",
	"Sqrt", "Exp", "Log", "Erf", "Relu", "Abs", "Neg", "Sign", "Ceil", "Floor", "Identity", "Not", "BitwiseNot",
	"Tanh", "Sin", "Cos", "MatMul", "Clip", "Where", "Min", "Max",
	"Constant", "Gather", "GatherElements", "Shape", "Concat", "Softmax", "Cast", "Transpose", "Gemm", "Flatten",
	"DequantizeLinear", "QuantizeLinear", "MatMulInteger", "QLinearMatMul",
	"Squeeze", "Unsqueeze", "Slice", "Reshape", "ReduceMean", "ConstantOfShape", "Expand", "Tile", "Range", "CumSum",
	"LSTM", "Conv", "AveragePool", "MaxPool", "GlobalAveragePool", "BatchNormalization", "LayerNormalization",
	"Pad", "DynamicQuantizeLinear", "Split", "Trilu", "ScatterND", "If",
)

func set(xs ...string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// checkOps reports the ops of the main graph that neither onnx-gomlx converts nor lowerUnsupported rewrites,
// with a count and one node name each.
func checkOps(m *onnx.Model) error {
	lowered := set(loweredOps...)
	missing := map[string][]string{}
	for _, node := range m.Proto.Graph.Node {
		op := node.OpType
		if node.Domain != "" && node.Domain != "ai.onnx" {
			op = node.Domain + "." + op
		} else if convertible[op] || lowered[op] {
			continue
		}
		missing[op] = append(missing[op], node.Name)
	}
	if len(missing) == 0 {
		return nil
	}
	parts := make([]string, 0, len(missing))
	for op, nodes := range missing {
		parts = append(parts, fmt.Sprintf("%s (%d nodes, e.g. %q)", op, len(nodes), nodes[0]))
	}
	sort.Strings(parts)
	return fmt.Errorf("gomlx: onnx-gomlx cannot convert these ops of the model: %s", strings.Join(parts, ", "))
}
