package llada

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/llada-go/llada/onnx"
)

// Reductions receives, per logits row of a forward pass, what a greedy sampler reads from the logits (the
// in-graph reductions of docs/contract.md): rows×n values each, row-major, n the positions asked for.
type Reductions struct {
	// Token is the argmax of the logits with the excluded id (the mask id) removed; ties go to the lowest id.
	Token []int64
	// Prob is Token's probability under softmax(logits) over the whole vocabulary (temperature 1).
	Prob []float32
	// Margin is the top-1 minus the top-2 probability of that softmax.
	Margin []float32
	// Entropy is that softmax's entropy in nats.
	Entropy []float32
}

// ReductionDenoiser is an optional Denoiser capability: a network that reduces its logits on its own side
// (ONNX Runtime with the in-graph reduction outputs, or GoMLX's confidence graph) and returns only [Rows, n]
// values, so that a greedy step never moves the [Rows, Seq, Vocab] logits to the host nor scores them there.
//
// The step loop uses it when the generation only needs those values, which holds exactly when (see
// reductionsQualify): the temperature is 0; the proposal is ProposeLLaDA, or ProposeFiltered without top-k or
// top-p; the score is prob, margin, neg-entropy or random; SuppressMask, SuppressEOS and DeferEOS are off (they
// change which ids the statistics read); there is no Constraint (it rescores the logits) and no guidance (it
// mixes two passes' logits); and the denoiser's excluded id is the contract's mask id. Every transfer rule,
// ReMDM, editing, AlgTemp and StopAtEOS qualify: they read only the token, probability, score and entropy.
// Any other configuration runs on the logits as before.
type ReductionDenoiser interface {
	Denoiser
	// Reductions reports whether the reductions are available and which id their argmax never proposes.
	Reductions() (excludeID int, ok bool)
	// ForwardReductions runs the network on in and writes the reductions of positions [start, start+n) of
	// every row into out, whose slices hold exactly Rows*n values. A denoiser that is not also a
	// WindowDenoiser is only asked for start=0, n=Seq.
	ForwardReductions(ctx context.Context, in Batch, start, n int, out *Reductions) error
}

// failReduced marks a position whose in-graph reductions were not finite.
const failReduced scoreFailure = 100

// reductionsQualify reports whether this generation can score from the in-graph reductions (see
// ReductionDenoiser for the rule and why).
func (g *generation) reductionsQualify() (ReductionDenoiser, bool) {
	rd, ok := g.den.(ReductionDenoiser)
	if !ok {
		return nil, false
	}
	ex, ok := rd.Reductions()
	smp, cfg := g.smp, g.cfg
	switch {
	case !ok, ex != g.c.MaskID, cfg.Temperature != 0, g.guide.on, cfg.Constraint != nil, cfg.Cache != CacheNone,
		smp.SuppressMask, cfg.SuppressEOS, cfg.DeferEOS:
		return nil, false
	}
	switch smp.Proposal {
	case ProposeLLaDA:
	case ProposeFiltered:
		if g.needsBuf() {
			return nil, false
		}
	default:
		return nil, false
	}
	switch smp.Score {
	case ScoreProb, ScoreMargin, ScoreNegEntropy, ScoreRandom:
		return rd, true
	}
	return nil, false
}

// reductionState is the generation's side of the reductions path, allocated once.
type reductionState struct {
	den  ReductionDenoiser
	out  Reductions // rows*seq capacity; a pass uses rows*n
	pass Reductions // the views of out a pass writes (a field, so that passing its address allocates nothing)
	n    int        // the positions the last pass reduced, from g.winLo
	rng  *rand.PCG  // ScoreRandom's per-position stream, seeded as the score pool seeds its own
}

// initReductions switches the generation to the reductions path when it qualifies, and reports whether it did.
func (g *generation) initReductions() bool {
	rd, ok := g.reductionsQualify()
	if !ok {
		return false
	}
	n := g.rows * g.seq
	g.red = &reductionState{den: rd, rng: rand.NewPCG(0, 0), out: Reductions{
		Token: make([]int64, n), Prob: make([]float32, n), Margin: make([]float32, n), Entropy: make([]float32, n)}}
	return true
}

// forwardReductions is forward on the reductions path: the same reuse rule (an unchanged canvas of a
// Deterministic denoiser whose last pass covers this step's positions), the window when the denoiser has one.
func (g *generation) forwardReductions(ctx context.Context) error {
	if g.reuse && g.haveLogits && slices.Equal(g.canvas, g.lastIDs) && g.windowCovers() {
		return nil
	}
	in := Batch{IDs: g.canvas, Attention: g.attention, Rows: g.rows, Seq: g.seq}
	lo, hi := 0, g.seq
	if _, ok := g.den.(WindowDenoiser); ok {
		if l, h, ok := g.logitsWindow(); ok {
			lo, hi = l, h
		}
	}
	n := g.rows * (hi - lo)
	r := g.red
	r.pass = Reductions{Token: r.out.Token[:n], Prob: r.out.Prob[:n], Margin: r.out.Margin[:n], Entropy: r.out.Entropy[:n]}
	g.winLo, g.winHi = 0, 0
	if err := r.den.ForwardReductions(ctx, in, lo, hi-lo, &r.pass); err != nil {
		g.haveLogits = false
		return fmt.Errorf("llada: forward pass %d (in-graph reductions): %w", g.nfe+1, err)
	}
	g.winLo, g.winHi, r.n = lo, hi, hi-lo
	g.nfe++
	copy(g.lastIDs, g.canvas)
	g.haveLogits = true
	return nil
}

// scoreReductions fills g.res for the work positions from the last pass's reductions, as the scorer would
// from the logits (scan.go: scorer.runLLaDA, runSoftmax and finish at temperature 0), and draws the step seed
// as the score pool does, so the random stream, and with it every later choice, is the same on both paths.
func (g *generation) scoreReductions() {
	g.stepSeed = g.rng.Uint64()
	r := g.red
	random := g.smp.Score == ScoreRandom
	bare := random && g.smp.Proposal == ProposeLLaDA // runLLaDA's random order reads no distribution
	for _, j := range g.work {
		k := g.logitsRow(j)
		i := (k/g.seq)*r.n + k%g.seq - g.winLo
		prob, ent := float64(r.out.Prob[i]), float64(r.out.Entropy[i])
		if !isFinite(prob) || !isFinite(ent) {
			g.res[j] = scored{token: -1, fail: failReduced}
			continue
		}
		s := scored{token: int(r.out.Token[i]), prob: prob, entropy: ent, ok: true}
		switch g.smp.Score {
		case ScoreProb:
			s.score = prob
		case ScoreMargin:
			s.score = float64(r.out.Margin[i])
		case ScoreNegEntropy:
			s.score = -ent
		}
		if random {
			r.rng.Seed(g.stepSeed, uint64(j))
			s.score = uniform53(r.rng)
		}
		if bare {
			s.prob, s.entropy = 0, 0
		}
		g.res[j] = s
	}
}

func isFinite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// score scores the work positions: from the reductions when the generation runs on them, else from the logits.
func (g *generation) score(pool *scorePool) {
	if g.red != nil {
		g.scoreReductions()
		return
	}
	pool.score()
}

// ONNX Runtime: a model whose metadata advertises the reduction outputs.
type onnxReducer struct {
	s       *onnx.Session
	exclude int
}

func (o onnxReducer) Reductions() (int, bool) { return o.exclude, true }

func (o onnxReducer) ForwardReductions(ctx context.Context, in Batch, start, n int, out *Reductions) error {
	err := o.s.ForwardReductions(ctx, in.IDs, in.Attention, in.Rows, in.Seq, start, n,
		&onnx.Reductions{Token: out.Token, Prob: out.Prob, Margin: out.Margin, Entropy: out.Entropy})
	if errors.Is(err, onnx.ErrClosed) {
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return err
}

type onnxReductionDenoiser struct {
	*onnxDenoiser
	onnxReducer
}

type onnxWindowReductionDenoiser struct {
	*onnxWindowDenoiser
	onnxReducer
}

// withReductions adds the reductions capability to an ONNX Runtime denoiser whose model has the outputs. A
// model that advertises them malformed keeps the logits path (its error is reported by Session.Reductions).
func withReductions(sess *onnx.Session, d Denoiser) Denoiser {
	ex, ok, err := sess.Reductions()
	if !ok || err != nil {
		return d
	}
	r := onnxReducer{s: sess, exclude: ex}
	switch d := d.(type) {
	case *onnxWindowDenoiser:
		return &onnxWindowReductionDenoiser{onnxWindowDenoiser: d, onnxReducer: r}
	case *onnxDenoiser:
		return &onnxReductionDenoiser{onnxDenoiser: d, onnxReducer: r}
	}
	return d
}

var (
	_ ReductionDenoiser = (*onnxReductionDenoiser)(nil)
	_ ReductionDenoiser = (*onnxWindowReductionDenoiser)(nil)
	_ WindowDenoiser    = (*onnxWindowReductionDenoiser)(nil)
	_ Deterministic     = (*onnxReductionDenoiser)(nil)
	_ BufferHolder      = (*onnxWindowReductionDenoiser)(nil)
)
