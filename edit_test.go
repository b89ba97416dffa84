package llada

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEditCanvas(t *testing.T) {
	const m = 0
	out, holes, err := EditCanvas([]int{5, 6, 7, 8, 9, 10}, []Span{{Start: 4, End: 5}, {Start: 1, End: 3, Len: 3}}, m)
	require.NoError(t, err)
	assert.Equal(t, []int{5, m, m, m, 8, m, 10}, out, "spans in any order; Len resizes")
	assert.Equal(t, []int{1, 2, 3, 5}, holes)
	for _, tc := range []struct {
		spans []Span
		want  string
	}{
		{nil, "no spans"},
		{[]Span{{Start: 2, End: 7}}, "span [2,7) is out of range for a canvas of 6 tokens"},
		{[]Span{{Start: -1, End: 2}}, "out of range"},
		{[]Span{{Start: 3, End: 3}}, "out of range"},
		{[]Span{{Start: 1, End: 3}, {Start: 2, End: 4}}, "spans [1,3) and [2,4) overlap"},
		{[]Span{{Start: 1, End: 3, Len: -1}}, "negative length"},
	} {
		_, _, err := EditCanvas([]int{5, 6, 7, 8, 9, 10}, tc.spans, m)
		require.ErrorIs(t, err, ErrBadCanvas, tc.want)
		assert.Contains(t, err.Error(), tc.want)
	}
	_, _, err = EditCanvas(nil, []Span{{0, 1, 0}}, m)
	assert.ErrorContains(t, err, "empty canvas")
}

func TestModelEditRefillsOnlyTheSpans(t *testing.T) {
	m := openTiny(t)
	defer m.Close()
	canvas := []int{5, 6, 7, 8, 9, 10, 11}
	for _, name := range []string{"llada-low-confidence", "mdlm", "remdm-cap", "fast-dllm-threshold"} {
		res, err := m.Edit(context.Background(), canvas, []Span{{Start: 1, End: 3}, {Start: 5, End: 6, Len: 2}},
			GenerateConfig{Sampler: SamplerByName(name), Temperature: 1, Seed: 4})
		require.NoError(t, err, name)
		require.Len(t, res.IDs, 8, name)
		assert.Equal(t, []int{1, 2, 5, 6}, res.Holes, name)
		assert.Equal(t, []int{5, 8, 9, 11}, []int{res.IDs[0], res.IDs[3], res.IDs[4], res.IDs[7]}, name)
		assert.NotContains(t, res.IDs, m.Contract().MaskID, name)
	}
}
