package llada

import (
	"context"
	"fmt"
	"math"
	"slices"
)

// RepairConfig configures Repair. The zero value remasks the least likely tenth of the canvas (at least one
// token) once and refills it greedily.
type RepairConfig struct {
	// K is the number of tokens remasked per round: those the denoiser finds least likely in context, ties to
	// the lowest position. 0 (with Threshold 0) means max(1, editable tokens / 10).
	K int
	// Threshold, when positive, remasks instead every editable token whose in-context probability is below it.
	// Set K or Threshold, not both.
	Threshold float64
	// Rounds of score, remask and refill; 0 means 1. A round that selects nothing ends the repair.
	Rounds int
	// Keep protects the first Keep positions (a prompt): they are never remasked.
	Keep int
	// Fill is the generation that refills the remasked tokens, as in Infill. Round i runs with Seed Fill.Seed+i.
	Fill GenerateConfig
	// Batch is the number of rows per scoring forward pass; 0 means 16.
	Batch int
}

// RepairRound is what one round did.
type RepairRound struct {
	Remasked []int // positions remasked, ascending
	Changed  []int // positions whose token the refill changed, ascending
	// MeanLogProb is the mean in-context log-probability of the editable tokens before the round.
	MeanLogProb float64
	NFE         int // forward passes of the round: scoring and refilling
}

// RepairResult is the outcome of Repair.
type RepairResult struct {
	IDs    []int
	Text   string // IDs decoded, special tokens skipped (Model.Repair only)
	Rounds []RepairRound
	// Changed counts the positions where IDs differs from the input.
	Changed int
	// FinalLogProb is the mean in-context log-probability of the editable tokens after the last round.
	FinalLogProb float64
	NFE          int
}

func (cfg RepairConfig) validate(n int) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: repair: %s", ErrInvalidConfig, fmt.Sprintf(format, a...))
	}
	switch {
	case cfg.K < 0:
		return bad("k %d is negative", cfg.K)
	case math.IsNaN(cfg.Threshold) || cfg.Threshold < 0 || cfg.Threshold > 1:
		return bad("threshold %v must be a probability in [0, 1]", cfg.Threshold)
	case cfg.K > 0 && cfg.Threshold > 0:
		return bad("k %d and threshold %v are both set; use one", cfg.K, cfg.Threshold)
	case cfg.Rounds < 0:
		return bad("rounds %d is negative", cfg.Rounds)
	case cfg.Keep < 0:
		return bad("keep %d is negative", cfg.Keep)
	case cfg.Keep >= n:
		return bad("keep %d protects the whole canvas of %d tokens: nothing to repair", cfg.Keep, n)
	case cfg.K > n-cfg.Keep:
		return bad("k %d is more than the %d editable tokens", cfg.K, n-cfg.Keep)
	case cfg.Batch < 0:
		return bad("batch %d is negative", cfg.Batch)
	}
	return nil
}

// Repair finds the tokens of canvas that the denoiser finds least likely in context (each scored with only its
// own position masked: the pseudo-log-likelihood), remasks them and refills them, for cfg.Rounds rounds.
func Repair(ctx context.Context, den Denoiser, c Contract, canvas []int, cfg RepairConfig) (RepairResult, error) {
	if _, err := checkCanvas(c, den.VocabSize(), 0, canvas); err != nil {
		return RepairResult{}, err
	}
	if err := cfg.validate(len(canvas)); err != nil {
		return RepairResult{}, err
	}
	if p := slices.Index(canvas, c.MaskID); p >= 0 {
		return RepairResult{}, fmt.Errorf("%w: canvas holds the mask id at position %d: fill it first (Infill)", ErrBadCanvas, p)
	}
	rounds := max(cfg.Rounds, 1)
	cur := slices.Clone(canvas)
	res := RepairResult{}
	lp, nfe, err := TokenLogProbs(ctx, den, c, cur, cfg.Keep, cfg.Batch)
	if err != nil {
		return RepairResult{}, err
	}
	for i := 0; i < rounds; i++ {
		round := RepairRound{MeanLogProb: mean(lp), NFE: nfe}
		round.Remasked = selectRepair(lp, cfg, cfg.Keep)
		if len(round.Remasked) == 0 {
			res.NFE += nfe
			nfe = 0
			break
		}
		holed := slices.Clone(cur)
		for _, p := range round.Remasked {
			holed[p] = c.MaskID
		}
		fill := cfg.Fill
		fill.Seed += uint64(i)
		out, fnfe, _, err := FillHoles(ctx, den, c, [][]int{holed}, fill)
		if err != nil {
			return RepairResult{}, fmt.Errorf("llada: repair round %d: %w", i+1, err)
		}
		for _, p := range round.Remasked {
			if out[0][p] != cur[p] {
				round.Changed = append(round.Changed, p)
			}
		}
		cur = out[0]
		round.NFE += fnfe
		if lp, nfe, err = TokenLogProbs(ctx, den, c, cur, cfg.Keep, cfg.Batch); err != nil {
			return RepairResult{}, err
		}
		res.NFE += round.NFE
		res.Rounds = append(res.Rounds, round)
	}
	res.NFE += nfe
	res.IDs, res.FinalLogProb = cur, mean(lp)
	for p := range cur {
		if cur[p] != canvas[p] {
			res.Changed++
		}
	}
	return res, nil
}

// Repair is the package-level Repair on the model's denoiser, with the result decoded.
func (m *Model) Repair(ctx context.Context, canvas []int, cfg RepairConfig) (RepairResult, error) {
	res, err := Repair(ctx, m.den, m.contract, canvas, cfg)
	if err != nil {
		return RepairResult{}, err
	}
	if res.Text, err = m.tok.Decode(res.IDs, true); err != nil {
		return RepairResult{}, fmt.Errorf("llada: decode repair: %w", err)
	}
	return res, nil
}

// selectRepair picks the positions to remask from the editable tokens' log-probabilities (lp[i] is position
// from+i), ascending.
func selectRepair(lp []float64, cfg RepairConfig, from int) []int {
	var out []int
	if cfg.Threshold > 0 {
		lt := math.Log(cfg.Threshold)
		for i, v := range lp {
			if v < lt {
				out = append(out, from+i)
			}
		}
		return out
	}
	k := cfg.K
	if k == 0 {
		k = max(1, len(lp)/10)
	}
	idx := make([]int, len(lp))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case lp[a] < lp[b]:
			return -1
		case lp[a] > lp[b]:
			return 1
		}
		return a - b
	})
	for _, i := range idx[:min(k, len(idx))] {
		out = append(out, from+i)
	}
	slices.Sort(out)
	return out
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// TokenLogProbs returns, for every position p >= from of canvas, log p(canvas[p] | canvas with only p masked)
// under the denoiser (the pseudo-log-likelihood terms), and the forward passes it took. Rows of batch copies
// (0 means 16) share a forward pass.
func TokenLogProbs(ctx context.Context, den Denoiser, c Contract, canvas []int, from, batch int) ([]float64, int, error) {
	n := len(canvas)
	if from < 0 || from >= n {
		return nil, 0, fmt.Errorf("%w: scoring from position %d of a canvas of %d tokens", ErrBadCanvas, from, n)
	}
	if batch <= 0 {
		batch = 16
	}
	v := den.VocabSize()
	out := make([]float64, n-from)
	rows := min(batch, n-from)
	ids := make([]int64, rows*n)
	logits := make([]float32, rows*n*v)
	nfe := 0
	for lo := from; lo < n; lo += rows {
		k := min(rows, n-lo)
		for r := 0; r < k; r++ {
			row := ids[r*n : (r+1)*n]
			for j, id := range canvas {
				row[j] = int64(id)
			}
			row[lo+r] = int64(c.MaskID)
		}
		if err := den.Forward(ctx, Batch{IDs: ids[:k*n], Rows: k, Seq: n}, logits[:k*n*v]); err != nil {
			return nil, nfe, fmt.Errorf("llada: scoring forward pass: %w", err)
		}
		nfe++
		for r := 0; r < k; r++ {
			p := lo + r
			q := p
			if c.LogitsShift && p > 0 {
				q = p - 1
			}
			l := logits[(r*n+q)*v : (r*n+q+1)*v]
			lp, ok := logProb(l, canvas[p])
			if !ok {
				return nil, nfe, fmt.Errorf("%w: position %d (NaN, +Inf, or no finite logit)", ErrBadLogits, p)
			}
			out[p-from] = lp
		}
	}
	return out, nfe, nil
}

// logProb is log softmax(l)[tok] in float64, false when l holds NaN or +Inf or no finite value.
func logProb(l []float32, tok int) (float64, bool) {
	mx := math.Inf(-1)
	for _, x := range l {
		f := float64(x)
		if math.IsNaN(f) || math.IsInf(f, 1) {
			return 0, false
		}
		mx = math.Max(mx, f)
	}
	if math.IsInf(mx, -1) {
		return 0, false
	}
	z := 0.0
	for _, x := range l {
		z += math.Exp(float64(x) - mx)
	}
	return float64(l[tok]) - mx - math.Log(z), true
}
