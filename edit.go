package llada

import (
	"context"
	"fmt"
	"slices"
)

// Span is a range [Start, End) of token positions to rewrite. Len, when positive, is the number of tokens
// the span is rewritten with (longer or shorter than End-Start); 0 keeps its length.
type Span struct {
	Start, End int
	Len        int
}

// EditCanvas returns canvas with every span replaced by holes (Len of them, or End-Start), and the positions
// of the holes in the new canvas. Spans must lie inside the canvas, be non-empty and not overlap.
func EditCanvas(canvas []int, spans []Span, maskID int) ([]int, []int, error) {
	if len(canvas) == 0 {
		return nil, nil, fmt.Errorf("%w: empty canvas to edit", ErrBadCanvas)
	}
	if len(spans) == 0 {
		return nil, nil, fmt.Errorf("%w: no spans to edit", ErrBadCanvas)
	}
	sorted := slices.Clone(spans)
	slices.SortFunc(sorted, func(a, b Span) int { return a.Start - b.Start })
	for i, s := range sorted {
		if s.Start < 0 || s.End > len(canvas) || s.Start >= s.End {
			return nil, nil, fmt.Errorf("%w: span [%d,%d) is out of range for a canvas of %d tokens (want 0 <= start < end <= %d)",
				ErrBadCanvas, s.Start, s.End, len(canvas), len(canvas))
		}
		if s.Len < 0 {
			return nil, nil, fmt.Errorf("%w: span [%d,%d) has negative length %d", ErrBadCanvas, s.Start, s.End, s.Len)
		}
		if i > 0 && s.Start < sorted[i-1].End {
			p := sorted[i-1]
			return nil, nil, fmt.Errorf("%w: spans [%d,%d) and [%d,%d) overlap", ErrBadCanvas, p.Start, p.End, s.Start, s.End)
		}
	}
	out := make([]int, 0, len(canvas))
	var holes []int
	at := 0
	for _, s := range sorted {
		out = append(out, canvas[at:s.Start]...)
		n := s.Len
		if n == 0 {
			n = s.End - s.Start
		}
		for ; n > 0; n-- {
			holes = append(holes, len(out))
			out = append(out, maskID)
		}
		at = s.End
	}
	out = append(out, canvas[at:]...)
	return out, holes, nil
}

// Edit re-denoises spans of an existing canvas: it remasks them (see EditCanvas) and fills them with cfg as
// Infill does. A canvas that already holds masks has them filled too.
func (m *Model) Edit(ctx context.Context, canvas []int, spans []Span, cfg GenerateConfig) (InfillResult, error) {
	edited, _, err := EditCanvas(canvas, spans, m.contract.MaskID)
	if err != nil {
		return InfillResult{}, err
	}
	return m.Infill(ctx, edited, cfg)
}
