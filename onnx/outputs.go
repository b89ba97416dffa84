package onnx

// Output is one named float32 output of a run of ForwardOutputs: Data holds the tensor row-major, Shape its
// dimensions.
type Output struct {
	Name  string
	Shape []int64
	Data  []float32
}

// HiddenStates is the optional output of the "hidden-state features" extension of the model contract
// (docs/contract.md): float32 [batch, seq, d], the final hidden state that feeds the LM head, advertised by the
// metadata key MetaHiddenStates = "1".
const (
	HiddenStates     = "hidden_states"
	MetaHiddenStates = "llada.outputs.hidden_states"
)
