package llada

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// AugmentConfig configures Augment: mask-and-refill variants of a text (data augmentation, paraphrase).
type AugmentConfig struct {
	// MaskRatio is the share of editable tokens remasked in each variant, in (0, 1]; 0 means 0.15. At least
	// one token is remasked.
	MaskRatio float64
	// Variants per input; 0 means 1.
	Variants int
	// Keep protects the first Keep positions.
	Keep int
	// Seed chooses the masked positions: variant v draws from the stream (Seed, v).
	Seed uint64
	// Fill refills the masks of all variants in one batched generation, as FillHoles does.
	Fill GenerateConfig
}

// Variant is one mask-and-refill rewrite.
type Variant struct {
	IDs    []int
	Masked []int  // the positions remasked and refilled, ascending
	Text   string // IDs decoded, special tokens skipped (Model.Augment only)
}

// Augment writes cfg.Variants rewrites of canvas, each with its own random choice of round(MaskRatio *
// editable) positions remasked and refilled.
func Augment(ctx context.Context, den Denoiser, c Contract, canvas []int, cfg AugmentConfig) ([]Variant, error) {
	if _, err := checkCanvas(c, den.VocabSize(), 0, canvas); err != nil {
		return nil, err
	}
	ratio := cfg.MaskRatio
	if ratio == 0 {
		ratio = 0.15
	}
	n := cfg.Variants
	if n == 0 {
		n = 1
	}
	switch {
	case math.IsNaN(ratio) || ratio <= 0 || ratio > 1:
		return nil, fmt.Errorf("%w: augment: mask ratio %v must be in (0, 1]", ErrInvalidConfig, cfg.MaskRatio)
	case n < 0:
		return nil, fmt.Errorf("%w: augment: variants %d is negative", ErrInvalidConfig, cfg.Variants)
	case cfg.Keep < 0 || cfg.Keep >= len(canvas):
		return nil, fmt.Errorf("%w: augment: keep %d leaves no editable token in a canvas of %d", ErrInvalidConfig, cfg.Keep, len(canvas))
	}
	if p := slices.Index(canvas, c.MaskID); p >= 0 {
		return nil, fmt.Errorf("%w: canvas holds the mask id at position %d: fill it first (Infill)", ErrBadCanvas, p)
	}
	editable := len(canvas) - cfg.Keep
	k := max(1, int(math.Round(ratio*float64(editable))))
	vars := make([]Variant, n)
	holed := make([][]int, n)
	for v := range vars {
		rng := rand.New(rand.NewPCG(cfg.Seed, uint64(v)))
		pos := make([]int, editable)
		for i := range pos {
			pos[i] = cfg.Keep + i
		}
		for i := 0; i < k; i++ { // partial Fisher-Yates: the first k of a uniform permutation
			j := i + rng.IntN(editable-i)
			pos[i], pos[j] = pos[j], pos[i]
		}
		masked := slices.Clone(pos[:k])
		slices.Sort(masked)
		holed[v] = slices.Clone(canvas)
		for _, p := range masked {
			holed[v][p] = c.MaskID
		}
		vars[v].Masked = masked
	}
	filled, _, _, err := FillHoles(ctx, den, c, holed, cfg.Fill)
	if err != nil {
		return nil, fmt.Errorf("llada: augment: %w", err)
	}
	for v := range vars {
		vars[v].IDs = filled[v]
	}
	return vars, nil
}

// Augment is the package-level Augment on the model's denoiser, with every variant decoded.
func (m *Model) Augment(ctx context.Context, canvas []int, cfg AugmentConfig) ([]Variant, error) {
	vars, err := Augment(ctx, m.den, m.contract, canvas, cfg)
	if err != nil {
		return nil, err
	}
	for v := range vars {
		if vars[v].Text, err = m.tok.Decode(vars[v].IDs, true); err != nil {
			return nil, fmt.Errorf("llada: decode variant %d: %w", v, err)
		}
	}
	return vars, nil
}
