package eval

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestMeanVar(t *testing.T) {
	for _, tc := range []struct {
		x        []float64
		mean, vr float64
	}{
		{nil, 0, 0},
		{[]float64{3}, 3, 0},
		{[]float64{1, 2, 3}, 2, 1},
		// Sum of squared deviations 32 over n-1 = 7 (the unbiased estimate, not 32/8).
		{[]float64{2, 4, 4, 4, 5, 5, 7, 9}, 5, 32.0 / 7},
	} {
		m, v := meanVar(tc.x)
		assert.InDelta(t, tc.mean, m, 1e-12, "%v", tc.x)
		assert.InDelta(t, tc.vr, v, 1e-12, "%v", tc.x)
		assert.InDelta(t, tc.mean, mean(tc.x), 1e-12, "%v", tc.x)
	}
}
