package llada

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrBadCanvas is wrapped by every error about a canvas given to Infill, Edit, Repair or Augment: empty,
// too long for the model, ids outside the vocabulary, spans out of range or overlapping, bad placeholders.
var ErrBadCanvas = errors.New("llada: bad canvas")

// InfillResult is the outcome of filling one canvas's holes.
type InfillResult struct {
	// IDs is the whole canvas with every hole filled; every other position is the input's token.
	IDs []int
	// Holes lists the positions that were holes, ascending.
	Holes []int
	// Text is IDs decoded, special tokens skipped.
	Text  string
	NFE   int // network forward passes
	Steps int // denoising steps
	// Elapsed is the wall time of the call.
	Elapsed time.Duration
}

// Infill fills the holes of canvas (positions holding the contract's mask id, anywhere) and leaves every other
// token as it is.
//
// cfg is a generation over the holes: GenLength must be 0 or the number of holes, and zero Steps and
// BlockLength default to the number of holes, so the zero GenerateConfig is greedy (temperature 0), one token
// per step, committing first the hole whose argmax is most probable anywhere in the canvas (the mask token is
// never proposed), ties to the lowest position. Every sampler works: its blocks run left to right over the
// holes, its schedule counts all of them, and nothing is left masked. A canvas without holes comes back
// unchanged with NFE 0.
func (m *Model) Infill(ctx context.Context, canvas []int, cfg GenerateConfig) (InfillResult, error) {
	start := time.Now()
	filled, nfe, steps, err := FillHoles(ctx, m.den, m.contract, [][]int{canvas}, cfg)
	if err != nil {
		return InfillResult{}, err
	}
	res := InfillResult{IDs: filled[0], NFE: nfe, Steps: steps}
	for p, id := range canvas {
		if id == m.contract.MaskID {
			res.Holes = append(res.Holes, p)
		}
	}
	if res.Text, err = m.tok.Decode(res.IDs, true); err != nil {
		return InfillResult{}, fmt.Errorf("llada: decode infill: %w", err)
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// InfillText fills the holes of a text written with placeholders (see ParseCanvas).
func (m *Model) InfillText(ctx context.Context, text string, cfg GenerateConfig) (InfillResult, error) {
	ids, err := ParseCanvas(m.tok, m.contract, text)
	if err != nil {
		return InfillResult{}, err
	}
	return m.Infill(ctx, ids, cfg)
}

// Placeholder syntax: "<|mask:N|>" in a text stands for N holes (N >= 1).
const (
	placeholderOpen  = "<|mask"
	placeholderClose = "|>"
)

// ParseCanvas turns a text with placeholders into a canvas of token ids. "<|mask:N|>" stands for N masked
// tokens (holes); the model's own mask token spelled out (for the Brown model "<|mdm_mask|>") is one hole.
// The text between placeholders is encoded piece by piece, the first with the tokenizer's special tokens; one
// space right before a placeholder is dropped (the first hole's word carries its own leading space). A
// placeholder without a positive count ("<|mask|>", "<|mask:|>", "<|mask:x|>"), or one asking for more holes
// than the model's max_seq_len, is an error naming it.
func ParseCanvas(tok Tokenizer, c Contract, text string) ([]int, error) {
	maskText, _ := tok.Decode([]int{c.MaskID}, false)
	var ids []int
	first := true
	encode := func(s string) error {
		if s == "" && !first {
			return nil
		}
		enc, err := tok.Encode(s, first)
		if err != nil {
			return fmt.Errorf("%w: encode %q: %v", ErrBadCanvas, s, err)
		}
		first = false
		ids = append(ids, enc...)
		return nil
	}
	rest, off := text, 0
	for {
		i := strings.Index(rest, placeholderOpen)
		if i < 0 {
			break
		}
		if maskText != "" && strings.HasPrefix(rest[i:], maskText) {
			// The mask token itself: the tokenizer maps it to the mask id.
			i += len(maskText)
			if err := encode(rest[:i]); err != nil {
				return nil, err
			}
			rest, off = rest[i:], off+i
			continue
		}
		// One space before a placeholder belongs to the hole: byte-level BPE vocabularies spell words with their
		// leading space (" was"), so "that <|mask:2|> was" must not encode a lone space token before the holes.
		if err := encode(strings.TrimSuffix(rest[:i], " ")); err != nil {
			return nil, err
		}
		body := rest[i+len(placeholderOpen):]
		end := strings.Index(body, placeholderClose)
		count := ""
		if end >= 0 {
			count = body[:end]
		}
		n, err := strconv.Atoi(strings.TrimPrefix(count, ":"))
		if end < 0 || !strings.HasPrefix(count, ":") || err != nil || n < 1 {
			return nil, fmt.Errorf("%w: placeholder at byte %d has no hole count: write %s:N%s with N >= 1",
				ErrBadCanvas, off+i, placeholderOpen, placeholderClose)
		}
		if c.MaxSeqLen > 0 && n > c.MaxSeqLen {
			return nil, fmt.Errorf("%w: placeholder at byte %d asks for %d holes, over the model's max_seq_len %d",
				ErrBadCanvas, off+i, n, c.MaxSeqLen)
		}
		for ; n > 0; n-- {
			ids = append(ids, c.MaskID)
		}
		first = false
		skip := i + len(placeholderOpen) + end + len(placeholderClose)
		rest, off = rest[skip:], off+skip
	}
	if err := encode(rest); err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%w: the text encodes to no tokens", ErrBadCanvas)
	}
	return ids, nil
}

// checkCanvas validates one canvas against the contract and returns its number of holes.
func checkCanvas(c Contract, vocab int, i int, cv []int) (int, error) {
	if len(cv) == 0 {
		return 0, fmt.Errorf("%w: canvas %d is empty", ErrBadCanvas, i)
	}
	holes := 0
	for p, id := range cv {
		if id < 0 || id >= vocab {
			return 0, fmt.Errorf("%w: canvas %d position %d: id %d outside the vocabulary [0,%d)", ErrBadCanvas, i, p, id, vocab)
		}
		if id == c.MaskID {
			if c.MaxSeqLen > 0 && p >= c.MaxSeqLen {
				return 0, fmt.Errorf("%w: canvas %d has a hole at position %d, which the model cannot see (max_seq_len %d)",
					ErrBadCanvas, i, p, c.MaxSeqLen)
			}
			holes++
		}
	}
	if c.MaxSeqLen > 0 && len(cv) > c.MaxSeqLen {
		return 0, fmt.Errorf("%w: canvas %d has %d tokens, over the model's max_seq_len %d", ErrBadCanvas, i, len(cv), c.MaxSeqLen)
	}
	return holes, nil
}

// infillConfig turns cfg into the generation over holes holes.
func infillConfig(cfg GenerateConfig, holes int) (GenerateConfig, error) {
	if cfg.GenLength != 0 && cfg.GenLength != holes {
		return cfg, fmt.Errorf("%w: gen_length %d: an infill generates exactly its %d holes (leave it 0)", ErrInvalidConfig, cfg.GenLength, holes)
	}
	if len(cfg.Guidance.NegativeIDs) > 0 {
		return cfg, fmt.Errorf("%w: a negative prompt has no place in an infill canvas; guide with the masked-context default", ErrInvalidConfig)
	}
	cfg.GenLength = holes
	return cfg, cfg.Validate()
}

// FillHoles fills the holes of canvases of equal length and equal hole count in one batched generation (see
// Model.Infill for the semantics) and returns the filled canvases, the forward passes and the steps taken.
//
// The engine decodes a suffix after a prompt, so FillHoles shows it a permuted view of each canvas (known tokens
// first, as the prompt, then the holes in their order, as the generation) through a Denoiser that puts every
// token back at its real position before running the network and gathers the logits the other way: the network
// sees the real canvas, and every sampler's orders, blocks and schedules apply to the holes as they would to a
// suffix.
func FillHoles(ctx context.Context, den Denoiser, c Contract, canvases [][]int, cfg GenerateConfig) ([][]int, int, int, error) {
	if len(canvases) == 0 {
		return nil, 0, 0, fmt.Errorf("%w: no canvases", ErrBadCanvas)
	}
	vocab := den.VocabSize()
	holes := -1
	for i, cv := range canvases {
		h, err := checkCanvas(c, vocab, i, cv)
		if err != nil {
			return nil, 0, 0, err
		}
		switch {
		case holes < 0:
			holes = h
		case len(cv) != len(canvases[0]) || h != holes:
			return nil, 0, 0, fmt.Errorf("%w: canvas %d has %d tokens and %d holes, canvas 0 %d and %d: a batch needs equal shapes",
				ErrBadCanvas, i, len(cv), h, len(canvases[0]), holes)
		}
	}
	out := make([][]int, len(canvases))
	for i, cv := range canvases {
		out[i] = append([]int(nil), cv...)
	}
	if holes == 0 {
		return out, 0, 0, nil
	}
	cfg, err := infillConfig(cfg, holes)
	if err != nil {
		return nil, 0, 0, err
	}
	n := len(canvases[0])
	pd := &permutedDenoiser{inner: den, shift: c.LogitsShift, perm: make([][]int, len(canvases))}
	prompts := make([][]int, len(canvases))
	for r, cv := range canvases {
		perm := make([]int, 0, n)
		prompt := make([]int, 0, n-holes)
		for j, id := range cv {
			if id != c.MaskID {
				perm = append(perm, j)
				prompt = append(prompt, id)
			}
		}
		for j, id := range cv {
			if id == c.MaskID {
				perm = append(perm, j)
			}
		}
		pd.perm[r], prompts[r] = perm, prompt
	}
	ec := c
	ec.LogitsShift = false // the permuting denoiser undoes the shift itself
	var last Step
	steps := 0
	for st, err := range Stream(ctx, pd, ec, prompts, cfg) {
		if err != nil {
			return nil, 0, 0, err
		}
		last = st
		steps++
	}
	if steps == 0 {
		return nil, 0, 0, errors.New("llada: infill produced no step")
	}
	for r := range canvases {
		row := last.Canvas[r*last.Seq : (r+1)*last.Seq]
		for e, j := range pd.perm[r] {
			out[r][j] = row[e]
		}
		for _, j := range pd.perm[r][n-holes:] {
			if out[r][j] == c.MaskID {
				return nil, 0, 0, fmt.Errorf("llada: infill left position %d of canvas %d masked", j, r)
			}
		}
	}
	return out, last.NFE, steps, nil
}

// permutedDenoiser runs its inner Denoiser on canvases whose positions the engine sees permuted: engine position
// e of row r is real position perm[r][e]. Rows beyond len(perm) (the unconditional half under classifier-free
// guidance) reuse the permutation of row r mod len(perm).
type permutedDenoiser struct {
	inner  Denoiser
	perm   [][]int
	shift  bool // the inner model predicts position p at p-1 (Dream); engine logits are unshifted here
	ids    []int64
	logits []float32
}

func (p *permutedDenoiser) VocabSize() int { return p.inner.VocabSize() }

// Deterministic: permuting positions keeps the inner denoiser's capability.
func (p *permutedDenoiser) Deterministic() bool { return reusesLogits(p.inner) }

// ReleaseBuffer releases the inner denoiser's hold on this view's own logits buffer, the one it passes down.
func (p *permutedDenoiser) ReleaseBuffer([]float32) {
	if p.logits != nil {
		releaseBuffer(p.inner, p.logits)
	}
}

func (p *permutedDenoiser) Forward(ctx context.Context, in Batch, logits []float32) error {
	for _, a := range in.Attention {
		if a == 0 {
			return errors.New("llada: permuted infill canvases cannot carry padding")
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
			return fmt.Errorf("llada: permuted row %d has %d positions, the engine sent %d", r, len(perm), in.Seq)
		}
		base := r * in.Seq
		for e, j := range perm {
			ids[base+j] = in.IDs[base+e]
		}
	}
	if err := p.inner.Forward(ctx, Batch{IDs: ids, Rows: in.Rows, Seq: in.Seq}, real); err != nil {
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

// checkPromptMasks rejects masks typed into a prompt under a sampler that only looks inside its blocks (LLaDA
// 2.x, first-hitting): they would come back still masked. Other samplers count and fill them.
func (g *generation) checkPromptMasks() error {
	if g.maskFrom(g.promptLen) == 0 {
		return nil
	}
	mask := int64(g.c.MaskID)
	for j, id := range g.canvas {
		if p := j % g.seq; p < g.promptLen && id == mask && (g.attention == nil || g.attention[j] != 0) {
			return fmt.Errorf("%w: prompt %d holds the mask id at position %d, but sampler %q decodes inside its blocks only and would leave it masked (use Infill)",
				ErrInvalidConfig, j/g.seq, p, g.smp.Name)
		}
	}
	return nil
}
