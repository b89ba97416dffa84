package llada

import (
	"context"
	"fmt"
)

// tableDenoiser is a test double whose logits are a pure function of (row input, position), so tests can
// predict every decision of the sampler.
type tableDenoiser struct {
	vocab int
	// fill writes the logits of one position given that row's ids and attention.
	fill  func(ids, att []int64, pos int, out []float32)
	calls int
	last  Batch
}

func (d *tableDenoiser) VocabSize() int { return d.vocab }

func (d *tableDenoiser) Deterministic() bool { return true }

func (d *tableDenoiser) Forward(ctx context.Context, in Batch, logits []float32) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(in.IDs) != in.Rows*in.Seq || len(logits) != in.Rows*in.Seq*d.vocab {
		return fmt.Errorf("tableDenoiser: bad shapes ids=%d logits=%d rows=%d seq=%d", len(in.IDs), len(logits), in.Rows, in.Seq)
	}
	d.calls++
	d.last = Batch{IDs: append([]int64(nil), in.IDs...), Attention: append([]int64(nil), in.Attention...), Rows: in.Rows, Seq: in.Seq}
	for r := 0; r < in.Rows; r++ {
		ids := in.IDs[r*in.Seq : (r+1)*in.Seq]
		var att []int64
		if in.Attention != nil {
			att = in.Attention[r*in.Seq : (r+1)*in.Seq]
		}
		for p := 0; p < in.Seq; p++ {
			o := logits[(r*in.Seq+p)*d.vocab : (r*in.Seq+p+1)*d.vocab]
			d.fill(ids, att, p, o)
		}
	}
	return nil
}

// testContract is a small contract for test doubles: ids 0..3 are special.
func testContract(vocab int) Contract {
	return Contract{Version: 1, Family: "masked", MaskID: 0, EOSID: 1, PadID: 2, EOTID: 3, BOSID: -1,
		VocabSize: vocab, MaxSeqLen: 512}
}

// guidanceDenoiser prefers token 9 on rows that start with the prompt token 7 (conditional) and token 10 on
// rows whose prompt is masked (unconditional), so guidance has a visible effect.
func guidanceDenoiser() *tableDenoiser {
	return &tableDenoiser{vocab: 16, fill: func(ids, att []int64, pos int, out []float32) {
		for v := range out {
			out[v] = 0
		}
		if ids[0] == 7 {
			out[9], out[10] = 2, 1
		} else {
			out[9], out[10] = 1, 1.5
		}
	}}
}
