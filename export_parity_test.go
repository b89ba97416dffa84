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

// TestToyCheckpointExportMatchesTorch runs the ONNX file that export/test_export.py made from a random
// checkpoint laid out like LLaDA-8B (config.json + sharded safetensors, HF parameter names) and compares ONNX
// Runtime's logits with torch's, so the exporter that serves real checkpoints is checked end to end.
func TestToyCheckpointExportMatchesTorch(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "toy", "expected.json"))
	require.NoError(t, err)
	var golden struct {
		Atol  float64 `json:"atol"`
		Cases []struct {
			Name      string    `json:"name"`
			InputIDs  [][]int64 `json:"input_ids"`
			Attention [][]int64 `json:"attention_mask"`
			Shape     []int     `json:"shape"`
			Logits    []float32 `json:"logits"`
		} `json:"cases"`
	}
	require.NoError(t, json.Unmarshal(raw, &golden))
	require.NotEmpty(t, golden.Cases)

	sess, err := onnx.Open(filepath.Join("testdata", "toy", ModelFile))
	require.NoError(t, err)
	defer sess.Close()
	c, err := ParseContract(sess.Metadata())
	require.NoError(t, err, "the exporter writes contract v1 metadata")

	for _, tc := range golden.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			rows, seq, vocab := tc.Shape[0], tc.Shape[1], tc.Shape[2]
			require.Equal(t, c.VocabSize, vocab)
			var ids, att []int64
			for r := range tc.InputIDs {
				ids = append(ids, tc.InputIDs[r]...)
				att = append(att, tc.Attention[r]...)
			}
			logits := make([]float32, rows*seq*vocab)
			require.NoError(t, sess.Forward(context.Background(), ids, att, rows, seq, logits))
			require.Len(t, tc.Logits, len(logits))
			worst := 0.0
			for i := range logits {
				if att[i/vocab] == 0 {
					continue // padded positions are never read; torch and ORT may disagree there
				}
				worst = math.Max(worst, math.Abs(float64(logits[i]-tc.Logits[i])))
			}
			assert.LessOrEqual(t, worst, golden.Atol, "max |ORT - torch| over real positions")
		})
	}
}
