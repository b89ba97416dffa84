package llada

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAugmentVariants(t *testing.T) {
	c := testContract(24)
	canvas := []int{5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	cfg := AugmentConfig{MaskRatio: 0.3, Variants: 4, Keep: 1, Seed: 7, Fill: GenerateConfig{Temperature: 1, Seed: 2}}
	vars, err := Augment(context.Background(), holeDenoiser(24), c, canvas, cfg)
	require.NoError(t, err)
	require.Len(t, vars, 4)
	distinct := map[string]bool{}
	for _, v := range vars {
		require.Len(t, v.Masked, 3, "round(0.3 * 10 editable)")
		distinct[fmt.Sprint(v.Masked)] = true
		for p := range canvas {
			if p == 0 || !slices.Contains(v.Masked, p) {
				assert.Equal(t, canvas[p], v.IDs[p], "position %d outside the masks changed", p)
			}
		}
		assert.NotContains(t, v.IDs, c.MaskID)
		assert.NotContains(t, v.Masked, 0, "keep protects the first position")
	}
	assert.Greater(t, len(distinct), 1, "variants draw their own masks")
	again, err := Augment(context.Background(), holeDenoiser(24), c, canvas, cfg)
	require.NoError(t, err)
	assert.Equal(t, vars, again, "seeded")
	for _, bad := range []AugmentConfig{{MaskRatio: 1.5}, {MaskRatio: -0.1}, {Variants: -1}, {Keep: 11}} {
		_, err := Augment(context.Background(), holeDenoiser(24), c, canvas, bad)
		assert.ErrorIs(t, err, ErrInvalidConfig, "%+v", bad)
	}
	_, err = Augment(context.Background(), holeDenoiser(24), c, []int{5, c.MaskID}, AugmentConfig{})
	assert.ErrorContains(t, err, "mask id at position 1")
}
