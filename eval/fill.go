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
// The engine decodes a suffix after a prompt; Fill presents it a permuted view of each canvas (known tokens
// first, as the prompt, then the masked positions in their order, as the generation) and a Denoiser that puts
// the tokens back in their real positions before running the network and gathers the logits the other way. The
// network therefore sees the real canvas with its real positions, and the sampler's semantics (orders, blocks,
// schedules) apply to the masked positions exactly as they do to a suffix. Blocks run left to right over the
// masked positions.
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
	engineContract := c
	engineContract.LogitsShift = false // the permuting denoiser undoes the shift itself
	b := 0
	for _, k := range order {
		idx := groups[k]
		for lo := 0; lo < len(idx); lo += batch {
			rows := idx[lo:min(lo+batch, len(idx))]
			cfg, err := dec.config(k.masked, seed+uint64(b)*0x9e3779b97f4a7c15)
			if err != nil {
				return FillResult{}, err
			}
			nfe, err := fillBatch(ctx, den, c, engineContract, canvases, rows, res.Filled, cfg)
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
func fillBatch(ctx context.Context, den llada.Denoiser, c, ec llada.Contract, canvases [][]int, rows []int, out [][]int, cfg llada.GenerateConfig) (int, error) {
	n := len(canvases[rows[0]])
	pd := &permutedDenoiser{inner: den, shift: c.LogitsShift, perm: make([][]int, len(rows))}
	prompts := make([][]int, len(rows))
	for r, i := range rows {
		cv := canvases[i]
		perm := make([]int, 0, n)
		for j, id := range cv {
			if id != c.MaskID {
				perm = append(perm, j)
			}
		}
		prompt := make([]int, len(perm))
		for e, j := range perm {
			prompt[e] = cv[j]
		}
		for j, id := range cv {
			if id == c.MaskID {
				perm = append(perm, j)
			}
		}
		pd.perm[r], prompts[r] = perm, prompt
	}
	var last llada.Step
	seen := false
	for st, err := range llada.Stream(ctx, pd, ec, prompts, cfg) {
		if err != nil {
			return 0, err
		}
		last, seen = st, true
	}
	if !seen {
		return 0, fmt.Errorf("eval: generation produced no step")
	}
	for r, i := range rows {
		row := last.Canvas[r*last.Seq : (r+1)*last.Seq]
		for e, j := range pd.perm[r] {
			out[i][j] = row[e]
		}
	}
	return last.NFE, nil
}

// permutedDenoiser runs its inner Denoiser on canvases whose positions the engine sees permuted: engine position
// e of row r is real position perm[r][e]. Rows beyond len(perm) (the unconditional half under classifier-free
// guidance) reuse the permutation of row r mod len(perm).
type permutedDenoiser struct {
	inner  llada.Denoiser
	perm   [][]int
	shift  bool // the inner model predicts position p at p-1 (Dream); engine logits are unshifted here
	ids    []int64
	logits []float32
}

func (p *permutedDenoiser) VocabSize() int { return p.inner.VocabSize() }

// Deterministic: permuting positions keeps the inner denoiser's capability.
func (p *permutedDenoiser) Deterministic() bool {
	d, ok := p.inner.(llada.Deterministic)
	return ok && d.Deterministic()
}

func (p *permutedDenoiser) Forward(ctx context.Context, in llada.Batch, logits []float32) error {
	for _, a := range in.Attention {
		if a == 0 {
			return fmt.Errorf("eval: permuted canvases cannot carry padding")
		}
	}
	v := p.inner.VocabSize()
	n := in.Rows * in.Seq
	if cap(p.ids) < n {
		p.ids = make([]int64, n)
		p.logits = make([]float32, n*v)
	}
	ids, real := p.ids[:n], p.logits[:n*v]
	for r := 0; r < in.Rows; r++ {
		perm := p.perm[r%len(p.perm)]
		if len(perm) != in.Seq {
			return fmt.Errorf("eval: permuted row %d has %d positions, the engine sent %d", r, len(perm), in.Seq)
		}
		base := r * in.Seq
		for e, j := range perm {
			ids[base+j] = in.IDs[base+e]
		}
	}
	if err := p.inner.Forward(ctx, llada.Batch{IDs: ids, Rows: in.Rows, Seq: in.Seq}, real); err != nil {
		return err
	}
	for r := 0; r < in.Rows; r++ {
		perm := p.perm[r%len(p.perm)]
		base := r * in.Seq
		for e, j := range perm {
			if p.shift && j > 0 {
				j--
			}
			copy(logits[(base+e)*v:(base+e+1)*v], real[(base+j)*v:(base+j+1)*v])
		}
	}
	return nil
}
