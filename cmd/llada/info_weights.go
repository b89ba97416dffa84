package main

import "fmt"

// Weight-format metadata written by export/quantize.py (docs/contract.md, "Weight format").
const (
	weightsKey       = "llada.weights"
	weightsBlockKey  = "llada.weights.block_size"
	weightsAccuracyK = "llada.weights.accuracy_level"
)

// weightsInfo is the weight format `llada info` reports.
type weightsInfo struct {
	Format        string `json:"format"`                   // fp32, int8 or int4
	BlockSize     string `json:"block_size,omitempty"`     // MatMulNBits block along K
	AccuracyLevel string `json:"accuracy_level,omitempty"` // MatMulNBits accuracy_level (4: int8 activations)
}

// readWeights reads the weight format from a model's metadata; a file without llada.weights has float32 weights
// (every model exported before quantization existed).
func readWeights(meta map[string]string) weightsInfo {
	w := weightsInfo{Format: meta[weightsKey], BlockSize: meta[weightsBlockKey], AccuracyLevel: meta[weightsAccuracyK]}
	if w.Format == "" {
		w.Format = "fp32"
	}
	return w
}

func (w weightsInfo) String() string {
	switch w.Format {
	case "fp32":
		return "fp32"
	case "int8", "int4":
		return fmt.Sprintf("%s (MatMulNBits, block %s, accuracy_level %s)", w.Format, w.BlockSize, w.AccuracyLevel)
	}
	return w.Format + " (unknown format: this build knows fp32, int8 and int4)"
}
