package gomlx

import (
	"strings"

	"github.com/gomlx/onnx-gomlx/onnx"
	lonnx "github.com/llada-go/llada/onnx"
)

// Inputs describes the model's inputs in the ONNX Runtime backend's terms (-1 for a dynamic dimension).
func (d *Denoiser) Inputs() []lonnx.TensorInfo { return tensorInfos(d.model.Inputs()) }

// Outputs describes the model's outputs like Inputs.
func (d *Denoiser) Outputs() []lonnx.TensorInfo { return tensorInfos(d.model.Outputs()) }

func tensorInfos(names []string, shapes []onnx.DynamicShape) []lonnx.TensorInfo {
	out := make([]lonnx.TensorInfo, len(names))
	for i, name := range names {
		s := shapes[i]
		dims := make([]int64, len(s.Dimensions))
		for j, v := range s.Dimensions {
			dims[j] = int64(v)
		}
		out[i] = lonnx.TensorInfo{Name: name, ElementType: strings.ToLower(s.DType.String()), Shape: dims}
	}
	return out
}
