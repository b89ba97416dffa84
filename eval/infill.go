package eval

import (
	"context"
	"fmt"

	"github.com/llada-go/llada"
)

// Span positions of infill items.
const (
	SpanStart  = "start"
	SpanMiddle = "middle"
	SpanEnd    = "end"
)

// InfillItem is a sequence with one span to recover.
type InfillItem struct {
	Tokens   []int  // the whole sequence, span included
	Start    int    // first position of the span
	Len      int    // span length
	Position string // SpanStart, SpanMiddle or SpanEnd
}

// InfillItems masks, in every sequence, one span of each length at the start, the middle and the end. Spans
// longer than a sequence are skipped for it.
func InfillItems(seqs [][]int, spanLens []int) []InfillItem {
	var items []InfillItem
	for _, s := range seqs {
		for _, k := range spanLens {
			if k <= 0 || k > len(s) {
				continue
			}
			for _, pos := range []struct {
				name  string
				start int
			}{{SpanStart, 0}, {SpanMiddle, (len(s) - k) / 2}, {SpanEnd, len(s) - k}} {
				items = append(items, InfillItem{Tokens: s, Start: pos.start, Len: k, Position: pos.name})
			}
		}
	}
	return items
}

// InfillScore holds exact match (whole span right) and token accuracy, overall and broken down.
type InfillScore struct {
	Items      int
	ExactMatch float64
	TokenAcc   float64
	// BySpan and ByPosition break exact match down by span length and by span position.
	BySpan     map[int]float64
	ByPosition map[string]float64
	MeanNFE    float64
	Forwards   int
	Seconds    float64

	filled [][]int // the decoded sequences, for the semantic metrics
}

// Infill masks each item's span, decodes it with dec, and scores the result.
func Infill(ctx context.Context, den llada.Denoiser, c llada.Contract, items []InfillItem, dec Decoding, batch int, seed uint64) (InfillScore, error) {
	if len(items) == 0 {
		return InfillScore{}, fmt.Errorf("%w: no infill items", ErrEmptyDataset)
	}
	canvases := make([][]int, len(items))
	for i, it := range items {
		if it.Len <= 0 || it.Start < 0 || it.Start+it.Len > len(it.Tokens) {
			return InfillScore{}, fmt.Errorf("%w: infill item %d: span [%d,%d) outside its %d tokens", ErrBadConfig, i, it.Start, it.Start+it.Len, len(it.Tokens))
		}
		cv := append([]int(nil), it.Tokens...)
		for j := it.Start; j < it.Start+it.Len; j++ {
			if cv[j] == c.MaskID {
				return InfillScore{}, fmt.Errorf("%w: infill item %d holds the mask id at position %d", ErrBadConfig, i, j)
			}
			cv[j] = c.MaskID
		}
		canvases[i] = cv
	}
	res, err := Fill(ctx, den, c, canvases, dec, batch, seed)
	if err != nil {
		return InfillScore{}, err
	}
	s := InfillScore{Items: len(items), BySpan: map[int]float64{}, ByPosition: map[string]float64{}}
	spanN, posN := map[int]int{}, map[string]int{}
	exact, right, tokens := 0, 0, 0
	for i, it := range items {
		ok := true
		for j := it.Start; j < it.Start+it.Len; j++ {
			tokens++
			if res.Filled[i][j] == it.Tokens[j] {
				right++
			} else {
				ok = false
			}
		}
		spanN[it.Len]++
		posN[it.Position]++
		if ok {
			exact++
			s.BySpan[it.Len]++
			s.ByPosition[it.Position]++
		}
	}
	for k, n := range spanN {
		s.BySpan[k] /= float64(n)
	}
	for k, n := range posN {
		s.ByPosition[k] /= float64(n)
	}
	s.ExactMatch = float64(exact) / float64(len(items))
	s.TokenAcc = float64(right) / float64(tokens)
	s.MeanNFE, s.Forwards, s.Seconds = res.MeanNFE(), res.Forwards, res.Elapsed.Seconds()
	s.filled = res.Filled
	return s, nil
}
