package gomlx

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"sync"

	"github.com/llada-go/llada"
)

// The Denoiser has the llada.ReductionDenoiser capability: a greedy generation's step loop runs the
// confidence graph (confidence.go) instead of Forward, so only [Rows, Seq] values leave the device and no
// scoring runs on the host (issue 14, "keep the confidence pass on the device"). Which configurations use it
// is llada's rule (llada.ReductionDenoiser); the rest run on Forward's logits.
var _ llada.ReductionDenoiser = (*Denoiser)(nil)

// Reductions reports the contract's mask id, which the confidence graph's argmax never proposes; ok is false
// for a model whose metadata has no valid llada.mask_token_id.
func (d *Denoiser) Reductions() (excludeID int, ok bool) {
	id, err := strconv.Atoi(d.meta["llada.mask_token_id"])
	if err != nil || id < 0 || id >= d.vocab {
		return 0, false
	}
	return id, true
}

// confScratch recycles the Confidences of ForwardReductions across steps.
var confScratch = sync.Pool{New: func() any { return new(Confidences) }}

// ForwardReductions runs the network with the confidence graph over every position (this backend has no
// logits window, so it is only asked for start=0, n=Seq) and writes the [Rows, Seq] reductions into out, in
// the contract's convention: a position the graph marks not OK (NaN or +Inf logits, or no finite
// proposable logit) gets a NaN probability, which llada reports as ErrBadLogits.
func (d *Denoiser) ForwardReductions(ctx context.Context, in llada.Batch, start, n int, out *llada.Reductions) error {
	if start != 0 || n != in.Seq {
		return fmt.Errorf("gomlx: forward reductions: window [%d,%d) of %d positions: this backend reduces whole canvases only", start, start+n, in.Seq)
	}
	never, ok := d.Reductions()
	if !ok {
		return fmt.Errorf("gomlx: forward reductions: the model's metadata has no valid llada.mask_token_id")
	}
	want := in.Rows * in.Seq
	if out == nil || len(out.Token) != want || len(out.Prob) != want || len(out.Margin) != want || len(out.Entropy) != want {
		return fmt.Errorf("gomlx: forward reductions: output slices must hold rows*seq=%d values each", want)
	}
	c := confScratch.Get().(*Confidences)
	defer confScratch.Put(c)
	if err := d.Confidence(ctx, in, never, c); err != nil {
		return err
	}
	nan := float32(math.NaN())
	for i := range want {
		out.Token[i], out.Prob[i], out.Margin[i], out.Entropy[i] = int64(c.Token[i]), c.Prob[i], c.Margin[i], c.Entropy[i]
		if !c.OK[i] {
			out.Prob[i] = nan
		}
	}
	return nil
}
