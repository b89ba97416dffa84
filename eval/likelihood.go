package eval

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"time"

	"github.com/llada-go/llada"
)

// LikelihoodItem is one sequence to score: Target given Prompt (which may be empty).
type LikelihoodItem struct {
	Prompt, Target []int
}

// MCConfig sets the Monte-Carlo likelihood estimator.
type MCConfig struct {
	// Samples is the number of masked copies per item (LLaDA's mc_num), a multiple of Batch. 0 means 128.
	Samples int
	// Batch is the number of copies that share one stratified draw of mask counts (LLaDA's batch_size). The
	// standard error needs at least two draws per item. 0 means 16.
	Batch int
	// MaxRows caps the rows of one forward pass; copies of several equal-length items share a pass. 0 means
	// 64 (or Batch, when larger).
	MaxRows int
	// Seed makes the draws reproducible; item i draws from its own stream, so results do not depend on how
	// items are packed into forward passes.
	Seed uint64
}

func (c MCConfig) withDefaults() MCConfig {
	if c.Samples == 0 {
		c.Samples = 128
	}
	if c.Batch == 0 {
		c.Batch = 16
	}
	if c.MaxRows == 0 {
		c.MaxRows = 64
	}
	c.MaxRows = max(c.MaxRows, c.Batch)
	return c
}

// Bound is a Monte-Carlo estimate of an upper bound on the negative log-likelihood of a set of sequences.
type Bound struct {
	// NLL is the estimated bound on -log p(targets | prompts) in nats, summed over items.
	NLL float64
	// SE is the Monte-Carlo standard error of NLL: the spread of the independent stratified draws of each item,
	// combined over items. NaN when an item has a single draw.
	SE float64
	// Tokens counts the scored target tokens, Copies the masked copies run through the network.
	Tokens, Copies int
	// Forwards counts forward passes, Elapsed the wall time.
	Forwards int
	Elapsed  time.Duration
}

// PerToken is the bound in nats per target token, and PerTokenSE its standard error.
func (b Bound) PerToken() float64   { return b.NLL / float64(b.Tokens) }
func (b Bound) PerTokenSE() float64 { return b.SE / float64(b.Tokens) }

// Perplexity is exp(PerToken): an upper bound on the model's perplexity.
func (b Bound) Perplexity() float64 { return math.Exp(b.PerToken()) }

// LikelihoodBound estimates the masked-diffusion ELBO of each item's target the way LLaDA does
// (ML-GSAI/LLaDA get_log_likelihood.py, forward_process and get_log_likelihood; paper eq. 6 and Appendix B.5):
// each copy of a target of length L masks l of its tokens (never the prompt's) at uniformly random positions and
// scores L/l times the sum of the cross-entropies at the masked positions, which is the 1/t weighting with
// t = l/L. The mask counts of the Batch copies of one draw are stratified: k is uniform in 1..L and the counts are
// round(linspace(k, k+(Batch-1)L/Batch, Batch)) wrapped into 1..L (torch.round rounds half to even, and so does
// this). The estimate of an item is the mean over its copies. Unlike the reference, which returns only the mean,
// the standard error comes from the spread between draws (copies within a draw are not independent).
func LikelihoodBound(ctx context.Context, den llada.Denoiser, c llada.Contract, items []LikelihoodItem, cfg MCConfig) (Bound, error) {
	start := time.Now()
	cfg = cfg.withDefaults()
	switch {
	case len(items) == 0:
		return Bound{}, fmt.Errorf("%w: no sequences to score", ErrEmptyDataset)
	case cfg.Samples < 0 || cfg.Batch < 0:
		return Bound{}, fmt.Errorf("%w: samples %d and batch %d must be positive", ErrBadConfig, cfg.Samples, cfg.Batch)
	case cfg.Samples%cfg.Batch != 0:
		return Bound{}, fmt.Errorf("%w: samples %d is not a multiple of batch %d", ErrBadConfig, cfg.Samples, cfg.Batch)
	}
	vocab := den.VocabSize()
	for i, it := range items {
		if len(it.Target) == 0 {
			return Bound{}, fmt.Errorf("%w: item %d has an empty target", ErrEmptyDataset, i)
		}
		n := len(it.Prompt) + len(it.Target)
		if c.MaxSeqLen > 0 && n > c.MaxSeqLen {
			return Bound{}, fmt.Errorf("%w: item %d has %d tokens, over the model's max_seq_len %d", ErrBadConfig, i, n, c.MaxSeqLen)
		}
		for _, part := range [][]int{it.Prompt, it.Target} {
			for _, id := range part {
				if id < 0 || id >= vocab || id == c.MaskID {
					return Bound{}, fmt.Errorf("%w: item %d holds id %d (outside [0,%d) or the mask id)", ErrBadConfig, i, id, vocab)
				}
			}
		}
	}
	draws := cfg.Samples / cfg.Batch
	est := make([][]float64, len(items)) // per item, per draw: mean over the draw's copies of L/l * sum CE
	var res Bound
	// Pack whole draws of equal-length items into forward passes of at most MaxRows rows.
	type job struct{ item, draw int }
	var pending []job
	pendingLen := -1
	var ids []int64
	var logits []float32
	var masks [][]bool
	var counts []int
	var rowLoss []float64
	var rowBad []int
	rngs := make([]*rand.Rand, len(items))
	for i := range items {
		rngs[i] = rand.New(rand.NewPCG(cfg.Seed, uint64(i)))
		est[i] = make([]float64, draws)
		res.Tokens += len(items[i].Target)
	}
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		seq := pendingLen
		rows := len(pending) * cfg.Batch
		if cap(ids) < rows*seq {
			ids = make([]int64, rows*seq)
			logits = make([]float32, rows*seq*vocab)
		}
		ids, logits = ids[:rows*seq], logits[:rows*seq*vocab]
		masks, counts = masks[:0], counts[:0]
		r := 0
		for _, jb := range pending {
			it := items[jb.item]
			ms, ls := drawMasks(rngs[jb.item], len(it.Target), cfg.Batch)
			for b := 0; b < cfg.Batch; b++ {
				row := ids[r*seq : (r+1)*seq]
				for j, id := range it.Prompt {
					row[j] = int64(id)
				}
				for j, id := range it.Target {
					if ms[b][j] {
						id = c.MaskID
					}
					row[len(it.Prompt)+j] = int64(id)
				}
				r++
			}
			masks = append(masks, ms...)
			counts = append(counts, ls...)
		}
		if err := den.Forward(ctx, llada.Batch{IDs: ids, Rows: rows, Seq: seq}, logits); err != nil {
			return fmt.Errorf("eval: likelihood forward pass: %w", err)
		}
		res.Forwards++
		res.Copies += rows
		// Score the rows across cores: each row's weighted cross-entropy is independent of the others.
		if cap(rowLoss) < rows {
			rowLoss = make([]float64, rows)
			rowBad = make([]int, rows)
		}
		rowLoss, rowBad = rowLoss[:rows], rowBad[:rows]
		rowItem := func(r int) LikelihoodItem { return items[pending[r/cfg.Batch].item] }
		parallelRows(rows, func(r int) {
			it := rowItem(r)
			ce := 0.0
			rowBad[r] = -1
			for j, m := range masks[r] {
				if !m {
					continue
				}
				q := len(it.Prompt) + j
				if c.LogitsShift && q > 0 {
					q--
				}
				off := (r*seq + q) * vocab
				nll, ok := crossEntropy(logits[off:off+vocab], it.Target[j])
				if !ok {
					rowBad[r] = len(it.Prompt) + j
					return
				}
				ce += nll
			}
			rowLoss[r] = ce * float64(len(it.Target)) / float64(counts[r])
		})
		for r, p := range rowBad {
			if p >= 0 {
				return fmt.Errorf("%w: item %d position %d", llada.ErrBadLogits, pending[r/cfg.Batch].item, p)
			}
		}
		for i, jb := range pending {
			sum := 0.0
			for _, l := range rowLoss[i*cfg.Batch : (i+1)*cfg.Batch] {
				sum += l
			}
			est[jb.item][jb.draw] = sum / float64(cfg.Batch)
		}
		pending = pending[:0]
		return nil
	}
	for d := 0; d < draws; d++ {
		for i, it := range items {
			n := len(it.Prompt) + len(it.Target)
			if n != pendingLen || (len(pending)+1)*cfg.Batch > cfg.MaxRows {
				if err := flush(); err != nil {
					return Bound{}, err
				}
				pendingLen = n
			}
			pending = append(pending, job{i, d})
		}
	}
	if err := flush(); err != nil {
		return Bound{}, err
	}
	variance := 0.0
	for _, e := range est {
		m, v := meanVar(e)
		res.NLL += m
		variance += v / float64(len(e))
	}
	res.SE = math.Sqrt(variance)
	if draws < 2 {
		res.SE = math.NaN()
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// drawMasks draws one stratified set of batch mask patterns over a target of length L, following forward_process
// of ML-GSAI/LLaDA get_log_likelihood.py: counts, then a uniformly random placement per copy.
func drawMasks(rng *rand.Rand, L, batch int) ([][]bool, []int) {
	counts := stratifiedCounts(1+rng.IntN(L), L, batch)
	masks := make([][]bool, batch)
	perm := make([]int, L)
	for b, l := range counts {
		for j := range perm {
			perm[j] = j
		}
		m := make([]bool, L)
		// Partial Fisher-Yates: the first l entries are a uniform l-subset.
		for j := 0; j < l; j++ {
			s := j + rng.IntN(L-j)
			perm[j], perm[s] = perm[s], perm[j]
			m[perm[j]] = true
		}
		masks[b] = m
	}
	return masks, counts
}

// stratifiedCounts spreads batch mask counts evenly over 1..L from offset k: round(k + i*L/batch) (half to even,
// as torch.round), wrapped into 1..L.
func stratifiedCounts(k, L, batch int) []int {
	counts := make([]int, batch)
	for i := range counts {
		l := int(math.RoundToEven(float64(k) + float64(i)*float64(L)/float64(batch)))
		counts[i] = (l-1)%L + 1
	}
	return counts
}

// crossEntropy is -log softmax(logits)[target] in float64; ok is false for NaN, +Inf or all -Inf logits.
func crossEntropy(logits []float32, target int) (float64, bool) {
	mx := float32(math.Inf(-1))
	for _, z := range logits {
		if z > mx {
			mx = z
		} else if z != z {
			return 0, false
		}
	}
	if math.IsInf(float64(mx), 0) {
		return 0, false
	}
	m := float64(mx)
	s := 0.0
	for _, z := range logits {
		s += math.Exp(float64(z) - m)
	}
	return m + math.Log(s) - float64(logits[target]), true
}

// parallelRows runs fn(r) for r in [0,n) on GOMAXPROCS goroutines, in contiguous chunks.
func parallelRows(n int, fn func(r int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for r := 0; r < n; r++ {
			fn(r)
		}
		return
	}
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := lo; r < hi; r++ {
				fn(r)
			}
		}()
	}
	wg.Wait()
}
