package llada

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/llada-go/llada/onnx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestQuantizedToyMatchesDequantizedTorch runs the int8 and int4 MatMulNBits files that export/quantize.py
// made from testdata/toy (export/test_quantize.py) in ONNX Runtime. Their logits must equal torch's with the
// dequantized weights (so ORT reads the block layout exactly as quantize.dequantize writes it down) and stay
// within the stated quality bound of the float32 toy's.
func TestQuantizedToyMatchesDequantizedTorch(t *testing.T) {
	type logitCase struct {
		Name      string    `json:"name"`
		InputIDs  [][]int64 `json:"input_ids"`
		Attention [][]int64 `json:"attention_mask"`
		Shape     []int     `json:"shape"`
		Logits    []float32 `json:"logits"`
	}
	var toy struct {
		Cases []logitCase `json:"cases"`
	}
	var quant struct {
		Atol     float64                `json:"atol"`
		Fp32Atol map[string]float64     `json:"fp32_atol"`
		Models   map[string][]logitCase `json:"models"`
	}
	for path, v := range map[string]any{filepath.Join("testdata", "toy", "expected.json"): &toy,
		filepath.Join("testdata", "quant", "expected.json"): &quant} {
		raw, err := os.ReadFile(path)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(raw, v))
	}
	for _, tc := range []struct{ format, bits string }{{"int8", "8"}, {"int4", "4"}} {
		t.Run(tc.format, func(t *testing.T) {
			sess, err := onnx.Open(filepath.Join("testdata", "quant", tc.format+".onnx"))
			require.NoError(t, err)
			defer sess.Close()
			meta := sess.Metadata()
			assert.Equal(t, tc.format, meta["llada.weights"])
			assert.Equal(t, "32", meta["llada.weights.block_size"])
			c, err := ParseContract(meta)
			require.NoError(t, err, "a quantized file keeps the contract metadata")
			want := quant.Models[tc.format]
			require.Len(t, want, len(toy.Cases))
			for i, fp := range toy.Cases {
				rows, seq, vocab := fp.Shape[0], fp.Shape[1], fp.Shape[2]
				require.Equal(t, c.VocabSize, vocab)
				var ids, att []int64
				for r := range fp.InputIDs {
					ids = append(ids, fp.InputIDs[r]...)
					att = append(att, fp.Attention[r]...)
				}
				logits := make([]float32, rows*seq*vocab)
				require.NoError(t, sess.Forward(context.Background(), ids, att, rows, seq, logits))
				require.Len(t, want[i].Logits, len(logits))
				var vsDequant, vsFp32 float64
				for j := range logits {
					if att[j/vocab] == 0 {
						continue // padded positions are never read
					}
					vsDequant = math.Max(vsDequant, math.Abs(float64(logits[j]-want[i].Logits[j])))
					vsFp32 = math.Max(vsFp32, math.Abs(float64(logits[j]-fp.Logits[j])))
				}
				assert.LessOrEqual(t, vsDequant, quant.Atol, "%s: max |ORT - torch with dequantized weights|", fp.Name)
				assert.LessOrEqual(t, vsFp32, quant.Fp32Atol[tc.bits], "%s: max |ORT %s - float32 torch|", fp.Name, tc.format)
				assert.Greater(t, vsFp32, 0.0, "%s: quantized logits equal float32 ones: weights not quantized", fp.Name)
			}
		})
	}
}
