package eval

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/llada-go/llada"
)

// CalibrationBin is one confidence bin of a reliability diagram.
type CalibrationBin struct {
	Lo, Hi     float64 // the bin's confidence range [Lo, Hi) ([Lo, Hi] for the last)
	Count      int
	Confidence float64 // mean argmax probability of the bin's tokens
	Accuracy   float64 // share of them whose argmax is the held-out token
}

// CalibrationScore measures whether the denoiser's confidence means what it says: at masked positions of
// held-out text, the argmax probability against how often the argmax is right.
type CalibrationScore struct {
	Tokens int
	// ECE is the expected calibration error (Guo et al. 2017, "On Calibration of Modern Neural Networks"):
	// Σ_b |B_b|/n · |accuracy(B_b) − confidence(B_b)| over equal-width bins. 0 is perfect calibration.
	ECE float64
	// Accuracy and Confidence are the overall means; Confidence > Accuracy means over-confidence.
	Accuracy, Confidence float64
	Bins                 []CalibrationBin
}

// Calibration masks each window copies times (in each copy l of its L tokens, l uniform in 1..L, at uniformly
// random positions, as the masked-diffusion training objective does), runs the denoiser once per copy, and
// bins the argmax probability at every masked position into bins equal-width bins. Logits-shifted models
// (Dream) are read one position to the left.
func Calibration(ctx context.Context, den llada.Denoiser, c llada.Contract, windows [][]int, copies, bins int, seed uint64) (CalibrationScore, error) {
	if len(windows) == 0 {
		return CalibrationScore{}, fmt.Errorf("%w: no windows to calibrate on", ErrEmptyDataset)
	}
	if copies < 1 || bins < 1 {
		return CalibrationScore{}, fmt.Errorf("%w: calibration needs copies >= 1 and bins >= 1 (got %d, %d)", ErrBadConfig, copies, bins)
	}
	vocab := den.VocabSize()
	n := len(windows[0])
	for i, w := range windows {
		if len(w) != n || n == 0 {
			return CalibrationScore{}, fmt.Errorf("%w: window %d has %d tokens, want %d (all equal, non-empty)", ErrBadConfig, i, len(w), n)
		}
		for _, id := range w {
			if id < 0 || id >= vocab || id == c.MaskID {
				return CalibrationScore{}, fmt.Errorf("%w: window %d holds id %d (outside [0,%d) or the mask id)", ErrBadConfig, i, id, vocab)
			}
		}
	}
	rng := rand.New(rand.NewPCG(seed, 0xca11))
	type tok struct {
		conf  float64
		right bool
	}
	var toks []tok
	rows := len(windows) * copies
	const maxRows = 64
	ids := make([]int64, 0, maxRows*n)
	var logits []float32
	var masks [][]bool
	var targets [][]int
	flush := func() error {
		r := len(masks)
		if r == 0 {
			return nil
		}
		if cap(logits) < r*n*vocab {
			logits = make([]float32, r*n*vocab)
		}
		logits = logits[:r*n*vocab]
		if err := den.Forward(ctx, llada.Batch{IDs: ids, Rows: r, Seq: n}, logits); err != nil {
			return fmt.Errorf("eval: calibration forward pass: %w", err)
		}
		for row, m := range masks {
			for p, masked := range m {
				if !masked {
					continue
				}
				q := p
				if c.LogitsShift && q > 0 {
					q--
				}
				l := logits[(row*n+q)*vocab : (row*n+q+1)*vocab]
				best, mx := 0, l[0]
				for i, v := range l {
					if v > mx {
						best, mx = i, v
					}
				}
				sum := 0.0
				for _, v := range l {
					sum += math.Exp(float64(v - mx))
				}
				conf := 1 / sum
				if math.IsNaN(conf) || math.IsInf(float64(mx), 0) {
					return fmt.Errorf("eval: calibration: unusable logits at row %d position %d", row, p)
				}
				toks = append(toks, tok{conf, best == targets[row][p]})
			}
		}
		ids, masks, targets = ids[:0], masks[:0], targets[:0]
		return nil
	}
	for k := 0; k < rows; k++ {
		w := windows[k%len(windows)]
		l := 1 + rng.IntN(n)
		m := make([]bool, n)
		for _, p := range rng.Perm(n)[:l] {
			m[p] = true
		}
		for p, id := range w {
			if m[p] {
				id = c.MaskID
			}
			ids = append(ids, int64(id))
		}
		masks, targets = append(masks, m), append(targets, w)
		if len(masks) == maxRows {
			if err := flush(); err != nil {
				return CalibrationScore{}, err
			}
		}
	}
	if err := flush(); err != nil {
		return CalibrationScore{}, err
	}
	confs := make([]float64, len(toks))
	right := make([]bool, len(toks))
	for i, t := range toks {
		confs[i], right[i] = t.conf, t.right
	}
	return ReliabilityBins(confs, right, bins), nil
}

// ReliabilityBins bins confidences into bins equal-width bins over [0, 1] and computes the ECE.
func ReliabilityBins(conf []float64, right []bool, bins int) CalibrationScore {
	s := CalibrationScore{Tokens: len(conf), Bins: make([]CalibrationBin, bins)}
	for b := range s.Bins {
		s.Bins[b].Lo, s.Bins[b].Hi = float64(b)/float64(bins), float64(b+1)/float64(bins)
	}
	for i, c := range conf {
		b := min(int(c*float64(bins)), bins-1)
		s.Bins[b].Count++
		s.Bins[b].Confidence += c
		s.Confidence += c
		if right[i] {
			s.Bins[b].Accuracy++
			s.Accuracy++
		}
	}
	if len(conf) == 0 {
		return s
	}
	for b := range s.Bins {
		bn := &s.Bins[b]
		if bn.Count == 0 {
			continue
		}
		bn.Confidence /= float64(bn.Count)
		bn.Accuracy /= float64(bn.Count)
		s.ECE += float64(bn.Count) / float64(len(conf)) * math.Abs(bn.Accuracy-bn.Confidence)
	}
	s.Confidence /= float64(len(conf))
	s.Accuracy /= float64(len(conf))
	return s
}
