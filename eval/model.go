package eval

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/llada-go/llada"
	"github.com/llada-go/llada/onnx"
)

// OpenModel loads a model directory like llada.Open, but takes ONNX Runtime options directly, so that the
// evaluation can turn off the runtime's thread spinning: between forward passes the samplers and metrics run in
// Go on the same few cores, and spinning workers would take their CPU. Close the returned io.Closer when done.
func OpenModel(dir string, opts ...onnx.Option) (*llada.Model, io.Closer, error) {
	s, err := onnx.Open(filepath.Join(dir, llada.ModelFile), opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("eval: model %s: %w", dir, err)
	}
	fail := func(err error) (*llada.Model, io.Closer, error) {
		return nil, nil, errors.Join(fmt.Errorf("eval: model %s: %w", dir, err), s.Close())
	}
	c, err := llada.ParseContract(s.Metadata())
	if err != nil {
		return fail(err)
	}
	if v := s.VocabSize(); v != 0 && v != c.VocabSize {
		return fail(fmt.Errorf("logits have vocabulary %d but llada.vocab_size is %d", v, c.VocabSize))
	}
	tok, err := llada.LoadTokenizer(filepath.Join(dir, llada.TokenizerFile))
	if err != nil {
		return fail(err)
	}
	if tok.VocabSize() > c.VocabSize {
		return fail(fmt.Errorf("the tokenizer has %d tokens but the model's vocabulary is %d", tok.VocabSize(), c.VocabSize))
	}
	m, err := llada.New(sessionDenoiser{s, c.VocabSize}, tok, c)
	if err != nil {
		return fail(err)
	}
	return m, s, nil
}

// sessionDenoiser adapts an ONNX Runtime session to llada.Denoiser.
type sessionDenoiser struct {
	s     *onnx.Session
	vocab int
}

func (d sessionDenoiser) VocabSize() int { return d.vocab }

// Deterministic: contract v1 networks take no time input (see llada.Deterministic).
func (d sessionDenoiser) Deterministic() bool { return true }

// ReleaseBuffer lets the step loop unpin its logits buffer from the session (see llada.BufferHolder).
func (d sessionDenoiser) ReleaseBuffer(logits []float32) { d.s.ReleaseBuffer(logits) }

func (d sessionDenoiser) Forward(ctx context.Context, in llada.Batch, logits []float32) error {
	return d.s.Forward(ctx, in.IDs, in.Attention, in.Rows, in.Seq, logits)
}
