package eval

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/llada-go/llada"
)

// FillResult is the outcome of Fill.
type FillResult struct {
	// Filled holds every canvas with its masks decoded, in input order.
	Filled [][]int
	// NFE is the number of forward passes each canvas took part in, in input order (0 for a canvas without
	// masks). Canvases batched together share their forward passes.
	NFE []int
	// Forwards counts the forward passes of the whole call (the cost), Elapsed its wall time.
	Forwards int
	Elapsed  time.Duration
}

// MeanNFE is the average forward passes per canvas.
func (r FillResult) MeanNFE() float64 {
	if len(r.NFE) == 0 {
		return 0
	}
	s := 0
	for _, n := range r.NFE {
		s += n
	}
	return float64(s) / float64(len(r.NFE))
}

// Fill decodes the positions of each canvas that hold the contract's mask id, anywhere in the sequence, with
// the sampler of dec, and leaves every other token in place.
//
// Each batch is one llada.FillHoles call (the semantics of llada.Model.Infill): the sampler's orders, blocks
// and schedules apply to the masked positions as they do to a suffix, blocks running left to right over them.
//
// Canvases with equal length and mask count are batched together, batch at a time (batch <= 0 means 32); each
// batch draws its randomness from seed and its index, so results depend on the seed, the inputs and batch, not
// on timing.
func Fill(ctx context.Context, den llada.Denoiser, c llada.Contract, canvases [][]int, dec Decoding, batch int, seed uint64) (FillResult, error) {
	start := time.Now()
	if len(canvases) == 0 {
		return FillResult{}, fmt.Errorf("%w: no canvases to fill", ErrEmptyDataset)
	}
	if batch <= 0 {
		batch = 32
	}
	vocab := den.VocabSize()
	res := FillResult{Filled: make([][]int, len(canvases)), NFE: make([]int, len(canvases))}
	type key struct{ n, masked int }
	groups := map[key][]int{}
	var order []key
	for i, cv := range canvases {
		if len(cv) == 0 {
			return FillResult{}, fmt.Errorf("%w: canvas %d is empty", ErrEmptyDataset, i)
		}
		if c.MaxSeqLen > 0 && len(cv) > c.MaxSeqLen {
			return FillResult{}, fmt.Errorf("%w: canvas %d has %d tokens, over the model's max_seq_len %d", ErrBadConfig, i, len(cv), c.MaxSeqLen)
		}
		m := 0
		for j, id := range cv {
			if id < 0 || id >= vocab {
				return FillResult{}, fmt.Errorf("%w: canvas %d position %d: id %d outside the vocabulary [0,%d)", ErrBadConfig, i, j, id, vocab)
			}
			if id == c.MaskID {
				m++
			}
		}
		res.Filled[i] = append([]int(nil), cv...)
		if m == 0 {
			continue
		}
		k := key{len(cv), m}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
	}
	sort.Slice(order, func(a, b int) bool {
		if order[a].n != order[b].n {
			return order[a].n < order[b].n
		}
		return order[a].masked < order[b].masked
	})
	b := 0
	for _, k := range order {
		idx := groups[k]
		for lo := 0; lo < len(idx); lo += batch {
			rows := idx[lo:min(lo+batch, len(idx))]
			cfg, err := dec.config(k.masked, seed+uint64(b)*0x9e3779b97f4a7c15)
			if err != nil {
				return FillResult{}, err
			}
			nfe, err := fillBatch(ctx, den, c, canvases, rows, res.Filled, cfg)
			if err != nil {
				return FillResult{}, err
			}
			for _, i := range rows {
				res.NFE[i] = nfe
			}
			res.Forwards += nfe
			b++
		}
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// fillBatch decodes canvases[rows] (equal length and mask count) in one generation and writes them to out.
func fillBatch(ctx context.Context, den llada.Denoiser, c llada.Contract, canvases [][]int, rows []int, out [][]int, cfg llada.GenerateConfig) (int, error) {
	batch := make([][]int, len(rows))
	for r, i := range rows {
		batch[r] = canvases[i]
	}
	filled, nfe, _, err := llada.FillHoles(ctx, den, c, batch, cfg)
	if err != nil {
		return 0, err
	}
	for r, i := range rows {
		out[i] = filled[r]
	}
	return nfe, nil
}
