package eval

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

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

// Infill masks each item's span, decodes it with dec (a masked sampler), and scores the result. InfillModel
// runs either family.
func Infill(ctx context.Context, den llada.Denoiser, c llada.Contract, items []InfillItem, dec Decoding, batch int, seed uint64) (InfillScore, error) {
	if dec.Continuous() {
		return InfillScore{}, fmt.Errorf("%w: %s is a continuous-family sampler; use InfillModel with a continuous model", ErrBadConfig, dec.Sampler)
	}
	canvases, err := infillCanvases(items, c)
	if err != nil {
		return InfillScore{}, err
	}
	res, err := Fill(ctx, den, c, canvases, dec, batch, seed)
	if err != nil {
		return InfillScore{}, err
	}
	return scoreInfill(items, res), nil
}

// InfillModel is Infill on m with a sampler of m's family. A masked model runs Infill. A continuous model holds
// every given position clean (timestep 0, its own embedding) and integrates the span's positions from noise:
// each canvas is a prompt whose span holds the mask id (see llada.Model.Stream), followed by one generated
// position that is discarded, because a continuous generation cannot have zero generated positions after its
// prompt (GenerateConfig.GenLength 0 means the default length). In held-out running text that extra position
// stands for the token that follows the canvas.
func InfillModel(ctx context.Context, m *llada.Model, items []InfillItem, dec Decoding, batch int, seed uint64) (InfillScore, error) {
	if m.Contract().Family != llada.FamilyContinuous {
		return Infill(ctx, m.Denoiser(), m.Contract(), items, dec, batch, seed)
	}
	if !dec.Continuous() {
		return InfillScore{}, fmt.Errorf("%w: %s is a masked-diffusion sampler; this continuous model supports %s",
			ErrBadConfig, dec.Sampler, strings.Join(llada.ContinuousSamplerNames(), ", "))
	}
	canvases, err := infillCanvases(items, m.Contract())
	if err != nil {
		return InfillScore{}, err
	}
	res, err := fillContinuous(ctx, m, canvases, dec, batch, seed)
	if err != nil {
		return InfillScore{}, err
	}
	return scoreInfill(items, res), nil
}

// fillContinuous decodes the mask-id positions of canvases with a continuous sampler, batch canvases of equal
// length per generation (the noise levels of held and generated positions differ per position, so any number
// of holes batch together), each batch seeded from seed and its index as Fill does.
func fillContinuous(ctx context.Context, m *llada.Model, canvases [][]int, dec Decoding, batch int, seed uint64) (FillResult, error) {
	start := time.Now()
	if batch <= 0 {
		batch = 32
	}
	res := FillResult{Filled: make([][]int, len(canvases)), NFE: make([]int, len(canvases))}
	byLen := map[int][]int{}
	var lens []int
	for i, cv := range canvases {
		res.Filled[i] = append([]int(nil), cv...)
		if !slices.Contains(cv, m.Contract().MaskID) {
			continue
		}
		if _, ok := byLen[len(cv)]; !ok {
			lens = append(lens, len(cv))
		}
		byLen[len(cv)] = append(byLen[len(cv)], i)
	}
	sort.Ints(lens)
	cfg, err := dec.config(1, seed) // one discarded generated position (see InfillModel)
	if err != nil {
		return FillResult{}, err
	}
	b := 0
	for _, n := range lens {
		idx := byLen[n]
		for lo := 0; lo < len(idx); lo += batch {
			rows := idx[lo:min(lo+batch, len(idx))]
			prompts := make([][]int, len(rows))
			for r, i := range rows {
				prompts[r] = canvases[i]
			}
			cfg.Seed = seed + uint64(b)*0x9e3779b97f4a7c15
			var last llada.Step
			for st, err := range m.Stream(ctx, prompts, cfg) {
				if err != nil {
					return FillResult{}, err
				}
				last = st
			}
			for r, i := range rows {
				row := last.Canvas[r*last.Seq : r*last.Seq+n]
				for j, id := range canvases[i] {
					if id == m.Contract().MaskID {
						res.Filled[i][j] = row[j]
					}
				}
				res.NFE[i] = last.NFE
			}
			res.Forwards += last.NFE
			b++
		}
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// infillCanvases masks each item's span with the contract's mask id.
func infillCanvases(items []InfillItem, c llada.Contract) ([][]int, error) {
	if len(items) == 0 {
		return nil, fmt.Errorf("%w: no infill items", ErrEmptyDataset)
	}
	canvases := make([][]int, len(items))
	for i, it := range items {
		if it.Len <= 0 || it.Start < 0 || it.Start+it.Len > len(it.Tokens) {
			return nil, fmt.Errorf("%w: infill item %d: span [%d,%d) outside its %d tokens", ErrBadConfig, i, it.Start, it.Start+it.Len, len(it.Tokens))
		}
		cv := append([]int(nil), it.Tokens...)
		for j, id := range cv {
			// A mask id outside the span would be decoded too (and scored nowhere); inside it, it could not be
			// told apart from the hole.
			if id == c.MaskID {
				return nil, fmt.Errorf("%w: infill item %d holds the mask id at position %d", ErrBadConfig, i, j)
			}
		}
		for j := it.Start; j < it.Start+it.Len; j++ {
			cv[j] = c.MaskID
		}
		canvases[i] = cv
	}
	return canvases, nil
}

// scoreInfill compares the decoded spans of res with the items.
func scoreInfill(items []InfillItem, res FillResult) InfillScore {
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
	return s
}
