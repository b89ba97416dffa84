package eval

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/llada-go/llada/onnx"
)

// ErrNoFeatures is wrapped when a semantic metric needs features and the judge has none: its ONNX file lacks
// the optional hidden_states output (docs/contract.md, "Hidden-state features"; export/add_hidden_output.py
// adds it).
var ErrNoFeatures = errors.New("eval: the judge has no hidden-state features")

// Featurizer computes one feature vector per token: rows×seq ids in, rows×seq×Dim() features out. The judge's
// ONNX session is one (through its hidden_states output); tests use doubles.
type Featurizer interface {
	TokenFeatures(ctx context.Context, ids []int64, rows, seq int) ([]float32, error)
	Dim() int
}

// sessionFeatures reads the hidden_states output of an ONNX session.
type sessionFeatures struct {
	s   *onnx.Session
	dim int
}

func (f sessionFeatures) Dim() int { return f.dim }

func (f sessionFeatures) TokenFeatures(ctx context.Context, ids []int64, rows, seq int) ([]float32, error) {
	out, err := f.s.ForwardOutputs(ctx, ids, nil, rows, seq, onnx.HiddenStates)
	if err != nil {
		return nil, err
	}
	if sh := out[0].Shape; len(sh) != 3 || sh[2] != int64(f.dim) {
		return nil, fmt.Errorf("eval: %s has shape %v, want [%d %d %d]", onnx.HiddenStates, sh, rows, seq, f.dim)
	}
	return out[0].Data, nil
}

// hiddenFeatures returns the session's hidden-state featurizer, nil when the model does not advertise the
// extension, or an error when it advertises it but the output is malformed.
func hiddenFeatures(s *onnx.Session) (Featurizer, error) {
	if s.Metadata()[onnx.MetaHiddenStates] != "1" {
		return nil, nil
	}
	for _, o := range s.Outputs() {
		if o.Name != onnx.HiddenStates {
			continue
		}
		if o.ElementType != "float32" || len(o.Shape) != 3 || o.Shape[2] <= 0 {
			return nil, fmt.Errorf("output %s is %s, want float32 [batch, seq, d] with a static d", onnx.HiddenStates, o)
		}
		return sessionFeatures{s, int(o.Shape[2])}, nil
	}
	return nil, fmt.Errorf("%s=1 but the graph has no %q output", onnx.MetaHiddenStates, onnx.HiddenStates)
}

// Features are the per-token feature vectors of one sequence: Data holds Len×Dim values, row-major.
type Features struct {
	Len, Dim int
	Data     []float32
}

// Token returns the feature vector of position p.
func (f Features) Token(p int) []float32 { return f.Data[p*f.Dim : (p+1)*f.Dim] }

// Mean is the average of the token vectors of positions from..Len-1 (mean pooling; every position is a real
// token, since Encode never pads). from out of range gives the mean of all positions.
func (f Features) Mean(from int) []float64 {
	if from < 0 || from >= f.Len {
		from = 0
	}
	m := make([]float64, f.Dim)
	for p := from; p < f.Len; p++ {
		for i, v := range f.Token(p) {
			m[i] += float64(v)
		}
	}
	for i := range m {
		m[i] /= float64(f.Len - from)
	}
	return m
}

// Encoder turns token sequences into features with a Featurizer.
type Encoder struct {
	f         Featurizer
	vocab     int
	maxSeqLen int
	batch     int
}

// NewEncoder wraps a featurizer over a vocabulary of vocab ids with a maximum length (0 = unlimited); batch
// rows share a forward pass (<= 0 means 32).
func NewEncoder(f Featurizer, vocab, maxSeqLen, batch int) (*Encoder, error) {
	if f == nil || f.Dim() <= 0 || vocab <= 0 {
		return nil, fmt.Errorf("%w: an encoder needs a featurizer with a positive dimension and a vocabulary", ErrBadConfig)
	}
	if batch <= 0 {
		batch = 32
	}
	return &Encoder{f: f, vocab: vocab, maxSeqLen: maxSeqLen, batch: batch}, nil
}

// Dim is the feature dimension.
func (e *Encoder) Dim() int { return e.f.Dim() }

// Encode returns the features of every sequence. Sequences of equal length share forward passes, so no row is
// padded: with a causal featurizer (the judge) position p's vector depends on tokens 0..p only.
func (e *Encoder) Encode(ctx context.Context, seqs [][]int) ([]Features, error) {
	if len(seqs) == 0 {
		return nil, fmt.Errorf("%w: no sequences to encode", ErrEmptyDataset)
	}
	byLen := map[int][]int{}
	var lens []int
	for i, s := range seqs {
		if len(s) == 0 {
			return nil, fmt.Errorf("%w: sequence %d is empty", ErrEmptyDataset, i)
		}
		if e.maxSeqLen > 0 && len(s) > e.maxSeqLen {
			return nil, fmt.Errorf("%w: sequence %d has %d tokens, over the encoder's max_seq_len %d", ErrBadConfig, i, len(s), e.maxSeqLen)
		}
		for p, id := range s {
			if id < 0 || id >= e.vocab {
				return nil, fmt.Errorf("%w: sequence %d position %d: id %d outside the vocabulary %d", ErrVocabMismatch, i, p, id, e.vocab)
			}
		}
		if _, ok := byLen[len(s)]; !ok {
			lens = append(lens, len(s))
		}
		byLen[len(s)] = append(byLen[len(s)], i)
	}
	d := e.f.Dim()
	out := make([]Features, len(seqs))
	var ids []int64
	for _, n := range lens {
		idx := byLen[n]
		for lo := 0; lo < len(idx); lo += e.batch {
			rows := idx[lo:min(lo+e.batch, len(idx))]
			ids = ids[:0]
			for _, i := range rows {
				for _, id := range seqs[i] {
					ids = append(ids, int64(id))
				}
			}
			feats, err := e.f.TokenFeatures(ctx, ids, len(rows), n)
			if err != nil {
				return nil, fmt.Errorf("eval: features: %w", err)
			}
			if len(feats) != len(rows)*n*d {
				return nil, fmt.Errorf("eval: features: got %d values for %d×%d tokens of dimension %d", len(feats), len(rows), n, d)
			}
			for r, i := range rows {
				f := Features{Len: n, Dim: d, Data: feats[r*n*d : (r+1)*n*d]}
				for _, v := range f.Data {
					if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
						return nil, fmt.Errorf("eval: features of sequence %d are not finite", i)
					}
				}
				out[i] = f
			}
		}
	}
	return out, nil
}

// SentenceVectors mean-pools each sequence's features from position from[i] on (from may be nil: all
// positions).
func SentenceVectors(fs []Features, from []int) [][]float64 {
	out := make([][]float64, len(fs))
	for i, f := range fs {
		p := 0
		if from != nil {
			p = from[i]
		}
		out[i] = f.Mean(p)
	}
	return out
}

// Cosine is the cosine similarity of two vectors; 0 when either is zero.
func Cosine(a, b []float64) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += a[i] * b[i]
		aa += a[i] * a[i]
		bb += b[i] * b[i]
	}
	if aa == 0 || bb == 0 {
		return 0
	}
	return ab / math.Sqrt(aa*bb)
}
