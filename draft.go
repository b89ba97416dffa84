package llada

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"

	"github.com/llada-go/llada/onnx"
)

// Drafter writes drafts with an autoregressive language model (ONNX metadata llada.family=autoregressive:
// input_ids [batch, seq] -> logits [batch, seq, vocab], causal, the logits at position i predicting token i+1),
// such as the shipped judge models/judge/model.onnx. Refine repairs its drafts with a diffusion model.
type Drafter struct {
	den    Denoiser
	spec   DrafterSpec
	closer io.Closer
}

// DrafterSpec is what a drafter needs to know about its network besides the logits.
type DrafterSpec struct {
	MaxSeqLen int // longest sequence, 0 = unlimited
	NeverID   int // a token id never drafted (a mask token), -1 for none
	EOSID     int // the end-of-sequence id that DraftConfig.StopAtEOS stops at, -1 for none
}

// ErrNoDrafter is wrapped when refinement has no autoregressive model to draft with.
var ErrNoDrafter = errors.New("llada: no autoregressive drafter")

// OpenDrafter loads an autoregressive ONNX model file. A file that is missing, or whose llada.family is not
// "autoregressive", is an error wrapping ErrNoDrafter that names it.
func OpenDrafter(path string, opts ...Option) (*Drafter, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%w: %v (refine drafts with the AR judge, models/judge/model.onnx)", ErrNoDrafter, err)
	}
	o := applyOptions(opts)
	s, err := onnx.Open(path, o.onnx...)
	if err != nil {
		return nil, fmt.Errorf("llada: open drafter %s: %w", path, err)
	}
	meta := s.Metadata()
	fail := func(format string, a ...any) (*Drafter, error) {
		return nil, errors.Join(fmt.Errorf("llada: drafter %s: "+format, append([]any{path}, a...)...), s.Close())
	}
	if fam := meta["llada.family"]; fam != "autoregressive" {
		return fail("%w: llada.family is %q, a drafter must be \"autoregressive\"", ErrNoDrafter, fam)
	}
	num := func(key string, def int) (int, error) {
		v, ok := meta[key]
		if !ok {
			return def, nil
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%s %q is not a non-negative integer", key, v)
		}
		return n, nil
	}
	vocab, err := num("llada.vocab_size", 0)
	if err != nil || vocab == 0 {
		return fail("llada.vocab_size %q is not a positive integer", meta["llada.vocab_size"])
	}
	if v := s.VocabSize(); v != 0 && v != vocab {
		return fail("logits have vocabulary %d but llada.vocab_size is %d", v, vocab)
	}
	maxLen, err := num("llada.max_seq_len", 0)
	if err != nil {
		return fail("%v", err)
	}
	never, err := num("llada.mask_token_id", -1)
	if err != nil {
		return fail("%v", err)
	}
	eos, err := num("llada.eos_token_id", -1)
	if err != nil {
		return fail("%v", err)
	}
	d, err := NewDrafter(&onnxDenoiser{s: s, vocab: vocab}, DrafterSpec{MaxSeqLen: maxLen, NeverID: never, EOSID: eos})
	if err != nil {
		return fail("%v", err)
	}
	d.closer = s
	return d, nil
}

// NewDrafter wraps a causal network: any Denoiser whose logits at position i predict token i+1.
func NewDrafter(net Denoiser, spec DrafterSpec) (*Drafter, error) {
	if net == nil || net.VocabSize() <= 0 {
		return nil, fmt.Errorf("%w: a drafter needs a network with a positive vocabulary", ErrNoDrafter)
	}
	return &Drafter{den: net, spec: spec}, nil
}

// VocabSize is the drafter's vocabulary size.
func (d *Drafter) VocabSize() int { return d.den.VocabSize() }

// Close releases the ONNX session OpenDrafter made.
func (d *Drafter) Close() error {
	if d == nil || d.closer == nil {
		return nil
	}
	return d.closer.Close()
}

// DraftConfig configures Draft.
type DraftConfig struct {
	Tokens      int     // tokens to write after the prompt; 0 means DefaultGenLength
	Temperature float64 // 0 takes the argmax (ties to the lowest id); > 0 draws from softmax(logits/T) in float64
	Seed        uint64
	// StopAtEOS ends the draft after the drafter's EOS token, when it writes one.
	StopAtEOS bool
}

// Draft continues prompt token by token (one forward pass of the whole sequence per token: these models are
// small and have no cache) and returns prompt + continuation.
func (d *Drafter) Draft(ctx context.Context, prompt []int, cfg DraftConfig) ([]int, error) {
	if len(prompt) == 0 {
		return nil, fmt.Errorf("%w: drafting needs a prompt of at least one token", ErrBadCanvas)
	}
	n := cfg.Tokens
	if n == 0 {
		n = DefaultGenLength
	}
	if n < 0 || math.IsNaN(cfg.Temperature) || math.IsInf(cfg.Temperature, 0) || cfg.Temperature < 0 {
		return nil, fmt.Errorf("%w: draft tokens %d and temperature %v must be >= 0 and finite", ErrInvalidConfig, cfg.Tokens, cfg.Temperature)
	}
	v := d.den.VocabSize()
	if d.spec.MaxSeqLen > 0 && len(prompt)+n > d.spec.MaxSeqLen {
		return nil, fmt.Errorf("%w: prompt (%d) + draft (%d) tokens exceed the drafter's max_seq_len %d", ErrInvalidConfig, len(prompt), n, d.spec.MaxSeqLen)
	}
	for i, id := range prompt {
		if id < 0 || id >= v {
			return nil, fmt.Errorf("%w: prompt token %d: id %d outside the drafter's vocabulary [0,%d)", ErrBadCanvas, i, id, v)
		}
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x6472616674)) // stream id "draft"
	seq := append([]int(nil), prompt...)
	ids := make([]int64, 0, len(prompt)+n)
	for _, id := range prompt {
		ids = append(ids, int64(id))
	}
	logits := make([]float32, (len(prompt)+n)*v)
	for i := 0; i < n; i++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("llada: draft stopped at token %d: %w", i, err)
		}
		L := len(ids)
		if err := d.den.Forward(ctx, Batch{IDs: ids, Rows: 1, Seq: L}, logits[:L*v]); err != nil {
			return nil, fmt.Errorf("llada: drafter forward pass %d: %w", i+1, err)
		}
		tok, err := d.pick(logits[(L-1)*v:L*v], cfg.Temperature, rng)
		if err != nil {
			return nil, fmt.Errorf("%w: drafter position %d", err, L)
		}
		seq = append(seq, tok)
		ids = append(ids, int64(tok))
		if cfg.StopAtEOS && d.spec.EOSID >= 0 && tok == d.spec.EOSID {
			break
		}
	}
	return seq, nil
}

// pick proposes the next token from one position's logits.
func (d *Drafter) pick(l []float32, temperature float64, rng *rand.Rand) (int, error) {
	best := -1
	for k, x := range l {
		f := float64(x)
		if math.IsNaN(f) || math.IsInf(f, 1) {
			return 0, ErrBadLogits
		}
		if k != d.spec.NeverID && !math.IsInf(f, -1) && (best < 0 || x > l[best]) {
			best = k
		}
	}
	if best < 0 {
		return 0, ErrBadLogits
	}
	if temperature == 0 {
		return best, nil
	}
	mx := float64(l[best])
	z := 0.0
	for k, x := range l {
		if k != d.spec.NeverID {
			z += math.Exp((float64(x) - mx) / temperature)
		}
	}
	u := rng.Float64() * z
	for k, x := range l {
		if k == d.spec.NeverID {
			continue
		}
		u -= math.Exp((float64(x) - mx) / temperature)
		if u < 0 {
			return k, nil
		}
	}
	return best, nil // rounding left u >= 0: the mass is at the top
}

// RefineConfig configures Refine.
type RefineConfig struct {
	Draft DraftConfig
	// Repair repairs the draft's continuation; its Keep is set to the prompt's length.
	Repair RepairConfig
}

// RefineResult is a draft and its repair.
type RefineResult struct {
	Prompt []int
	Draft  []int // prompt + the drafter's continuation
	Repair RepairResult
	// ChangedShare is the share of the continuation's tokens that the repair changed.
	ChangedShare float64
}

// Refine drafts a continuation of prompt with an autoregressive drafter, then repairs the continuation with the
// diffusion model (Repair with Keep = len(prompt)). A nil drafter, or one with another vocabulary, is an error.
func (m *Model) Refine(ctx context.Context, d *Drafter, prompt []int, cfg RefineConfig) (RefineResult, error) {
	if d == nil {
		return RefineResult{}, fmt.Errorf("%w: refine needs the AR judge (models/judge/model.onnx) or another autoregressive model", ErrNoDrafter)
	}
	if d.VocabSize() != m.contract.VocabSize {
		return RefineResult{}, fmt.Errorf("%w: the drafter has %d tokens but the model %d: they must share a tokenizer", ErrInvalidConfig, d.VocabSize(), m.contract.VocabSize)
	}
	draft, err := d.Draft(ctx, prompt, cfg.Draft)
	if err != nil {
		return RefineResult{}, err
	}
	rc := cfg.Repair
	rc.Keep = len(prompt)
	rep, err := m.Repair(ctx, draft, rc)
	if err != nil {
		return RefineResult{}, err
	}
	res := RefineResult{Prompt: append([]int(nil), prompt...), Draft: draft, Repair: rep}
	if n := len(draft) - len(prompt); n > 0 {
		res.ChangedShare = float64(rep.Changed) / float64(n)
	}
	return res, nil
}
