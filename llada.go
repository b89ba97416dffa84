// Package llada runs masked diffusion language models (LLaDA, Dream, MDLM-style) exported to ONNX.
//
// A diffusion LM does not write left to right: generation starts from a canvas of [MASK] tokens after the
// prompt, and a bidirectional transformer (the Denoiser) predicts every masked position at once; the sampler
// commits some of those predictions each step until nothing is masked. llada runs the network through ONNX
// Runtime (package onnx) and does everything around it in Go: schedules, samplers, guidance, batching and
// streaming.
//
// # Model directory contract v1
//
// A model directory holds model.onnx and tokenizer.json (Hugging Face format). The ONNX graph takes
// input_ids (int64 [batch, seq]) and optionally attention_mask (int64 [batch, seq], 0 for left padding) and
// returns logits (float32 [batch, seq, vocab]). Its metadata_props carry the contract (see Contract):
// llada.contract=1, llada.family=masked, llada.mask_token_id, llada.eos_token_id, llada.pad_token_id,
// llada.vocab_size, llada.max_seq_len, llada.logits_shift (0, or 1 for Dream-style models where position i is
// predicted at i-1), and optionally llada.eot_token_id, llada.bos_token_id, llada.chat_template. Unknown keys
// are kept and ignored. Any model that follows the contract works; nothing is keyed on model names.
//
// # Concurrency
//
// A Model is safe for concurrent use: every generation owns its buffers, and the ONNX session serves
// concurrent forward passes.
package llada

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"time"

	"github.com/llada-go/llada/onnx"
)

// Model ties a Denoiser, a Tokenizer and the contract metadata together.
type Model struct {
	den      Denoiser
	tok      Tokenizer
	contract Contract
	closer   io.Closer
	closed   closedFlag
	cont     *continuousModel // set for llada.family = continuous (den is then nil)
}

// Option configures Open and OpenFS.
type Option func(*options)

type options struct {
	onnx []onnx.Option
	tok  Tokenizer
	spin bool // WithThreadSpinning; applyOptions passes it to onnx last
}

// WithLibraryPath names the ONNX Runtime shared library (otherwise: $ONNXRUNTIME_SHARED_LIBRARY_PATH, the
// llada cache filled by onnx.InstallCommand or `llada install-onnxruntime`, then system paths).
func WithLibraryPath(path string) Option {
	return func(o *options) { o.onnx = append(o.onnx, onnx.WithLibraryPath(path)) }
}

// WithIntraOpThreads sets ONNX Runtime's threads per operator; 0 keeps its default (one per physical core).
func WithIntraOpThreads(n int) Option {
	return func(o *options) { o.onnx = append(o.onnx, onnx.WithIntraOpThreads(n)) }
}

// WithThreadSpinning sets whether ONNX Runtime's intra-op threads busy-wait between runs. Off by default here
// (ONNX Runtime's own default is on): between forward passes the Go scoring workers need the same cores, and on
// a shared 2-core machine spinning threads made generation 1.7-2.3x slower and twice as variable from run to run
// (README, "Performance at real scale": thread settings). On an idle machine spinning saved ~20% of a step on the
// small Brown model (3 ms forward passes, where waking the threads is a visible share), so a dedicated host
// running small models may turn it on.
func WithThreadSpinning(enabled bool) Option {
	return func(o *options) { o.spin = enabled }
}

// WithCUDA runs the network on a CUDA device. It needs a CUDA build of ONNX Runtime, which the install script
// does not provide; with the CPU library, Open fails with an error that says so.
func WithCUDA(deviceID int) Option {
	return func(o *options) { o.onnx = append(o.onnx, onnx.WithCUDA(deviceID)) }
}

// WithTokenizer replaces the directory's tokenizer.json (for example with the cgo backend).
func WithTokenizer(t Tokenizer) Option { return func(o *options) { o.tok = t } }

// Model directory file names.
const (
	ModelFile     = "model.onnx"
	TokenizerFile = "tokenizer.json"
)

// Open loads a model directory (model.onnx + tokenizer.json) with ONNX Runtime.
func Open(dir string, opts ...Option) (*Model, error) {
	o := applyOptions(opts)
	path := filepath.Join(dir, ModelFile)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("llada: open model directory %q: %w", dir, err)
	}
	sess, err := onnx.Open(path, o.onnx...)
	if errors.Is(err, onnx.ErrContinuousModel) {
		return openContinuousPath(dir, o)
	}
	if err != nil {
		return nil, fmt.Errorf("llada: open %s: %w", path, err)
	}
	return finishOpen(sess, o, func() (Tokenizer, error) { return LoadTokenizer(filepath.Join(dir, TokenizerFile)) })
}

// OpenFS loads a model directory from a file system, such as an embed.FS; model.onnx and tokenizer.json sit at
// the root of fsys.
func OpenFS(fsys fs.FS, opts ...Option) (*Model, error) {
	o := applyOptions(opts)
	data, err := fs.ReadFile(fsys, ModelFile)
	if err != nil {
		return nil, fmt.Errorf("llada: read %s: %w", ModelFile, err)
	}
	sess, err := onnx.OpenBytes(data, o.onnx...)
	if errors.Is(err, onnx.ErrContinuousModel) {
		return openContinuousFS(fsys, data, o)
	}
	if err != nil {
		return nil, fmt.Errorf("llada: open %s: %w", ModelFile, err)
	}
	return finishOpen(sess, o, func() (Tokenizer, error) {
		tj, err := fs.ReadFile(fsys, TokenizerFile)
		if err != nil {
			return nil, fmt.Errorf("llada: read %s: %w", TokenizerFile, err)
		}
		return ParseTokenizer(tj)
	})
}

func applyOptions(opts []Option) options {
	var o options
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	o.onnx = append(o.onnx, onnx.WithThreadSpinning(o.spin))
	return o
}

func finishOpen(sess *onnx.Session, o options, loadTok func() (Tokenizer, error)) (*Model, error) {
	fail := func(err error) (*Model, error) {
		return nil, errors.Join(err, sess.Close())
	}
	c, err := ParseContract(sess.Metadata())
	if err != nil {
		return fail(err)
	}
	if v := sess.VocabSize(); v != 0 && v != c.VocabSize {
		return fail(fmt.Errorf("llada: logits output has vocabulary %d but llada.vocab_size is %d", v, c.VocabSize))
	}
	tok, err := modelTokenizer(o, loadTok, c.VocabSize)
	if err != nil {
		return fail(err)
	}
	m, err := New(newONNXDenoiser(sess, c.VocabSize), tok, c)
	if err != nil {
		return fail(err)
	}
	m.closer = sess
	return m, nil
}

// New assembles a Model from parts: another backend, a test double, or a custom tokenizer.
func New(den Denoiser, tok Tokenizer, c Contract) (*Model, error) {
	if den == nil || tok == nil {
		return nil, errors.New("llada: New needs a Denoiser and a Tokenizer")
	}
	if c.Family == FamilyContinuous {
		return nil, errors.New("llada: New: a continuous-family contract needs NewContinuous")
	}
	if den.VocabSize() != c.VocabSize {
		return nil, fmt.Errorf("llada: denoiser vocabulary %d differs from the contract's %d", den.VocabSize(), c.VocabSize)
	}
	return &Model{den: den, tok: tok, contract: c}, nil
}

// Contract returns the model's metadata.
func (m *Model) Contract() Contract { return m.contract }

// Tokenizer returns the model's tokenizer.
func (m *Model) Tokenizer() Tokenizer { return m.tok }

// Denoiser returns the network backend of a masked model (nil for a continuous one).
func (m *Model) Denoiser() Denoiser { return m.den }

// ErrClosed is wrapped by the error of a generation on a closed Model.
var ErrClosed = errors.New("llada: model is closed")

// Close releases the ONNX Runtime session. It does not wait for generations: a forward pass already running
// finishes, and every generation of the model, in flight or started later, then fails at its next step with
// an error wrapping ErrClosed (its Step stream ends with that error). Closing twice is a no-op.
func (m *Model) Close() error {
	if m.closed.Swap(true) || m.closer == nil {
		return nil
	}
	return m.closer.Close()
}

// Sequence is one row of a Result.
type Sequence struct {
	// IDs is the whole canvas of this row: prompt (without batch padding) followed by the generation.
	IDs []int
	// PromptLen is the number of prompt tokens at the start of IDs.
	PromptLen int
	// Text is the decoded generation, special tokens skipped.
	Text string
}

// Result is the outcome of a generation.
type Result struct {
	Sequences []Sequence
	NFE       int // network forward passes
	Steps     int // denoising steps taken
	Elapsed   time.Duration
}

// Generate completes one text prompt.
func (m *Model) Generate(ctx context.Context, prompt string, cfg GenerateConfig) (Result, error) {
	return m.GenerateBatch(ctx, []string{prompt}, cfg)
}

// GenerateBatch completes several text prompts in one batch (left-padded to a common length).
func (m *Model) GenerateBatch(ctx context.Context, prompts []string, cfg GenerateConfig) (Result, error) {
	ids := make([][]int, len(prompts))
	for i, p := range prompts {
		enc, err := m.tok.Encode(p, true)
		if err != nil {
			return Result{}, fmt.Errorf("llada: prompt %d: %w", i, err)
		}
		ids[i] = enc
	}
	return m.GenerateIDs(ctx, ids, cfg)
}

// GenerateIDs completes prompts given as token ids.
func (m *Model) GenerateIDs(ctx context.Context, prompts [][]int, cfg GenerateConfig) (Result, error) {
	start := time.Now()
	var last Step
	var res Result
	seen := false
	for st, err := range m.Stream(ctx, prompts, cfg) {
		if err != nil {
			return Result{}, err
		}
		last, seen = st, true
		res.Steps++
	}
	if !seen {
		return Result{}, errors.New("llada: generation produced no step")
	}
	res.NFE = last.NFE
	res.Sequences = make([]Sequence, len(prompts))
	for r, p := range prompts {
		row := last.Canvas[r*last.Seq+last.PromptLen-len(p) : (r+1)*last.Seq]
		seq := Sequence{IDs: append([]int(nil), row...), PromptLen: len(p)}
		text, err := m.tok.Decode(seq.IDs[len(p):], true)
		if err != nil {
			return Result{}, fmt.Errorf("llada: decode row %d: %w", r, err)
		}
		seq.Text = text
		res.Sequences[r] = seq
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// Stream runs a generation and yields every denoising step; see Step for the lifetime of its slices.
func (m *Model) Stream(ctx context.Context, prompts [][]int, cfg GenerateConfig) iter.Seq2[Step, error] {
	if m.cont != nil {
		return m.cont.stream(ctx, m.contract, prompts, cfg)
	}
	return streamOn(ctx, m.den, m.contract, prompts, cfg, &m.closed)
}

// onnxDenoiser adapts an ONNX Runtime session to Denoiser.
type onnxDenoiser struct {
	s     *onnx.Session
	vocab int
}

func (d *onnxDenoiser) VocabSize() int { return d.vocab }

func (d *onnxDenoiser) Forward(ctx context.Context, in Batch, logits []float32) error {
	err := d.s.Forward(ctx, in.IDs, in.Attention, in.Rows, in.Seq, logits)
	if errors.Is(err, onnx.ErrClosed) {
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return err
}

// Deterministic: contract v1 networks take no time input (see Deterministic).
func (d *onnxDenoiser) Deterministic() bool { return true }

// ReleaseBuffer drops the session's cached tensors around logits (see BufferHolder).
func (d *onnxDenoiser) ReleaseBuffer(logits []float32) { d.s.ReleaseBuffer(logits) }
