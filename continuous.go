package llada

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"

	"github.com/llada-go/llada/onnx"
)

// EmbeddingsFile is the sidecar of a continuous model directory that holds the embedding table.
const EmbeddingsFile = "embeddings.bin"

// embeddingsMagic starts every embeddings.bin (docs/contract.md documents the layout).
const embeddingsMagic = "LLADAEMB"

// Embeddings is a continuous model's token embedding table: Vocab rows of Dim float32, row-major. Prompts are
// embedded with it, score interpolation averages its rows, and rounding picks the nearest row.
type Embeddings struct {
	Vocab, Dim int
	Data       []float32
	sqNorm     []float64 // squared row norms, for nearest-row rounding
}

// Row returns the embedding of token id.
func (e *Embeddings) Row(id int) []float32 { return e.Data[id*e.Dim : (id+1)*e.Dim] }

// ParseEmbeddings reads embeddings.bin: the 8-byte magic "LLADAEMB", then little-endian uint32 version (1),
// vocab, dim and dtype (1 = float32), then vocab*dim float32 values. It checks the size, the values (finite) and
// the shape against the contract (vocab_size, embed_dim), the row norms against llada.continuous.embedding_norm,
// and the file's SHA-256 against llada.continuous.embeddings_sha256.
func ParseEmbeddings(data []byte, c Contract) (*Embeddings, error) {
	fail := func(format string, a ...any) (*Embeddings, error) {
		return nil, fmt.Errorf("llada: %s: %s", EmbeddingsFile, fmt.Sprintf(format, a...))
	}
	cc := c.Continuous
	if cc == nil {
		return fail("the contract is not of family %q", FamilyContinuous)
	}
	const header = 8 + 4*4
	if len(data) < header || !bytes.Equal(data[:8], []byte(embeddingsMagic)) {
		return fail("not an embedding table (want the magic %q and a %d-byte header)", embeddingsMagic, header)
	}
	le := binary.LittleEndian
	version, vocab, dim, dtype := le.Uint32(data[8:]), int(le.Uint32(data[12:])), int(le.Uint32(data[16:])), le.Uint32(data[20:])
	switch {
	case version != 1:
		return fail("version %d, this build reads version 1", version)
	case dtype != 1:
		return fail("dtype %d, want 1 (float32)", dtype)
	case vocab != c.VocabSize || dim != cc.EmbedDim:
		return fail("shape [%d, %d], the contract says [vocab_size %d, embed_dim %d]", vocab, dim, c.VocabSize, cc.EmbedDim)
	case len(data) != header+4*vocab*dim:
		return fail("%d bytes, want %d for a [%d, %d] float32 table", len(data), header+4*vocab*dim, vocab, dim)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != cc.EmbeddingsSHA256 {
		return fail("SHA-256 %s differs from llada.continuous.embeddings_sha256 %s (the table belongs to another graph)", got, cc.EmbeddingsSHA256)
	}
	e := &Embeddings{Vocab: vocab, Dim: dim, Data: make([]float32, vocab*dim), sqNorm: make([]float64, vocab)}
	want := map[string]float64{"unit": 1, "sqrt_dim": math.Sqrt(float64(dim))}[cc.EmbeddingNorm]
	for i := range e.Data {
		v := math.Float32frombits(le.Uint32(data[header+4*i:]))
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fail("value %d (row %d) is %v", i, i/dim, v)
		}
		e.Data[i] = v
		e.sqNorm[i/dim] += float64(v) * float64(v)
	}
	if want > 0 {
		for r, sq := range e.sqNorm {
			if n := math.Sqrt(sq); math.Abs(n-want) > 1e-3*want {
				return fail("row %d has norm %.6g, but llada.continuous.embedding_norm = %s wants %.6g", r, n, cc.EmbeddingNorm, want)
			}
		}
	}
	return e, nil
}

// ContinuousBatch is one forward pass of a continuous denoiser: Rows x Seq positions of Dim floats, row-major.
type ContinuousBatch struct {
	X         []float32 // noisy embeddings as the model takes them (its process and time convention)
	Timestep  []float32 // per position: what llada.continuous.time says (sigma, or t)
	SelfCond  []float32 // the previous x0 estimate, nil when self-conditioning is off
	Attention []int64   // 1 = token, 0 = padding; nil when no row is padded
	Rows, Seq int
	Dim       int
}

// ContinuousDenoiser is the network of a continuous (embedding-space) model: logits over the vocabulary of the
// clean token at every position, given noisy embeddings and their noise levels.
type ContinuousDenoiser interface {
	// ForwardContinuous writes float32 logits [Rows, Seq, VocabSize()] into logits.
	ForwardContinuous(ctx context.Context, in ContinuousBatch, logits []float32) error
	VocabSize() int
}

// continuousModel is the continuous half of a Model.
type continuousModel struct {
	den ContinuousDenoiser
	emb *Embeddings
}

// NewContinuous assembles a continuous-family Model from parts: a backend, the embedding table and a tokenizer.
func NewContinuous(den ContinuousDenoiser, emb *Embeddings, tok Tokenizer, c Contract) (*Model, error) {
	switch {
	case den == nil || tok == nil || emb == nil:
		return nil, errors.New("llada: NewContinuous needs a ContinuousDenoiser, Embeddings and a Tokenizer")
	case c.Family != FamilyContinuous || c.Continuous == nil:
		return nil, fmt.Errorf("llada: NewContinuous: contract family %q, want %q", c.Family, FamilyContinuous)
	case den.VocabSize() != c.VocabSize:
		return nil, fmt.Errorf("llada: denoiser vocabulary %d differs from the contract's %d", den.VocabSize(), c.VocabSize)
	case emb.Vocab != c.VocabSize || emb.Dim != c.Continuous.EmbedDim || len(emb.Data) != emb.Vocab*emb.Dim:
		return nil, fmt.Errorf("llada: embedding table [%d, %d] (%d values) does not match the contract's [%d, %d]",
			emb.Vocab, emb.Dim, len(emb.Data), c.VocabSize, c.Continuous.EmbedDim)
	}
	if emb.sqNorm == nil {
		emb.sqNorm = make([]float64, emb.Vocab)
		for i, v := range emb.Data {
			emb.sqNorm[i/emb.Dim] += float64(v) * float64(v)
		}
	}
	return &Model{tok: tok, contract: c, cont: &continuousModel{den: den, emb: emb}}, nil
}

// Embeddings returns a continuous model's embedding table, nil for a masked model.
func (m *Model) Embeddings() *Embeddings {
	if m.cont == nil {
		return nil
	}
	return m.cont.emb
}

// onnxContinuous adapts onnx.ContinuousSession to ContinuousDenoiser.
type onnxContinuous struct {
	s     *onnx.ContinuousSession
	vocab int
}

func (d *onnxContinuous) VocabSize() int { return d.vocab }

func (d *onnxContinuous) ForwardContinuous(ctx context.Context, in ContinuousBatch, logits []float32) error {
	return d.s.Forward(ctx, onnx.ContinuousInput{X: in.X, Timestep: in.Timestep, SelfCond: in.SelfCond,
		Attention: in.Attention, Rows: in.Rows, Seq: in.Seq}, in.Dim, logits)
}

// openContinuousDir finishes Open for a graph that takes x_t: the session, the contract, embeddings.bin and
// the tokenizer. model is the graph's bytes (OpenFS) or nil (read from path).
func openContinuousDir(path string, model []byte, o options, readFile func(name string) ([]byte, error),
	loadTok func() (Tokenizer, error)) (*Model, error) {
	var sess *onnx.ContinuousSession
	var err error
	if model != nil {
		sess, err = onnx.OpenContinuousBytes(model, o.onnx...)
	} else {
		sess, err = onnx.OpenContinuous(path, o.onnx...)
	}
	if err != nil {
		return nil, fmt.Errorf("llada: open %s: %w", ModelFile, err)
	}
	fail := func(err error) (*Model, error) { return nil, errors.Join(err, sess.Close()) }
	c, err := ParseContract(sess.Metadata())
	if err != nil {
		return fail(err)
	}
	if c.Family != FamilyContinuous {
		return fail(fmt.Errorf("llada: the graph takes %q (continuous family) but llada.family = %q", onnx.XT, c.Family))
	}
	if v := sess.VocabSize(); v != 0 && v != c.VocabSize {
		return fail(fmt.Errorf("llada: logits output has vocabulary %d but llada.vocab_size is %d", v, c.VocabSize))
	}
	if d := sess.EmbedDim(); d != 0 && d != c.Continuous.EmbedDim {
		return fail(fmt.Errorf("llada: x_t has dim %d but llada.continuous.embed_dim is %d", d, c.Continuous.EmbedDim))
	}
	if sess.HasSelfCond() != c.Continuous.SelfConditioning {
		return fail(fmt.Errorf("llada: the graph's self_cond input (present: %v) disagrees with llada.continuous.self_conditioning (%v)",
			sess.HasSelfCond(), c.Continuous.SelfConditioning))
	}
	data, err := readFile(EmbeddingsFile)
	if err != nil {
		return fail(fmt.Errorf("llada: continuous model without its embedding table: %w", err))
	}
	emb, err := ParseEmbeddings(data, c)
	if err != nil {
		return fail(err)
	}
	tok, err := modelTokenizer(o, loadTok, c.VocabSize)
	if err != nil {
		return fail(err)
	}
	m, err := NewContinuous(&onnxContinuous{s: sess, vocab: c.VocabSize}, emb, tok, c)
	if err != nil {
		return fail(err)
	}
	m.closer = sess
	return m, nil
}

// openContinuousPath is Open's continuous branch.
func openContinuousPath(dir string, o options) (*Model, error) {
	return openContinuousDir(filepath.Join(dir, ModelFile), nil, o,
		func(name string) ([]byte, error) { return os.ReadFile(filepath.Join(dir, name)) },
		func() (Tokenizer, error) { return LoadTokenizer(filepath.Join(dir, TokenizerFile)) })
}

// openContinuousFS is OpenFS's continuous branch.
func openContinuousFS(fsys fs.FS, model []byte, o options) (*Model, error) {
	return openContinuousDir("", model, o,
		func(name string) ([]byte, error) { return fs.ReadFile(fsys, name) },
		func() (Tokenizer, error) {
			tj, err := fs.ReadFile(fsys, TokenizerFile)
			if err != nil {
				return nil, fmt.Errorf("llada: read %s: %w", TokenizerFile, err)
			}
			return ParseTokenizer(tj)
		})
}

// modelTokenizer is the tokenizer Open gives a model: WithTokenizer's, else the directory's, which may not have
// more tokens than the model's vocabulary.
func modelTokenizer(o options, loadTok func() (Tokenizer, error), vocab int) (Tokenizer, error) {
	tok := o.tok
	if tok == nil {
		var err error
		if tok, err = loadTok(); err != nil {
			return nil, fmt.Errorf("llada: tokenizer: %w", err)
		}
	}
	if tok.VocabSize() > vocab {
		return nil, fmt.Errorf("llada: tokenizer has %d tokens but the model's vocabulary is %d", tok.VocabSize(), vocab)
	}
	return tok, nil
}
