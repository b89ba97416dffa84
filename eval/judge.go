package eval

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/llada-go/llada/onnx"
)

// Network is a forward pass over token ids, the shape of onnx.Session.Forward.
type Network interface {
	Forward(ctx context.Context, ids, attention []int64, rows, seq int, logits []float32) error
}

// Judge is an autoregressive language model used to score samples: the logits at position i predict token i+1.
type Judge struct {
	net       Network
	vocab     int
	maxSeqLen int
	closer    func() error
	feats     Featurizer // nil when the judge has no feature output
}

// NewJudge wraps a causal network with its vocabulary size and maximum length (0 = unlimited). A network that
// is also a Featurizer gives the judge features (Encoder).
func NewJudge(net Network, vocab, maxSeqLen int) (*Judge, error) {
	if net == nil || vocab <= 0 {
		return nil, fmt.Errorf("%w: a judge needs a network and a positive vocabulary (got %d)", ErrBadConfig, vocab)
	}
	j := &Judge{net: net, vocab: vocab, maxSeqLen: maxSeqLen}
	j.feats, _ = net.(Featurizer)
	return j, nil
}

// OpenJudge loads an ONNX judge exported with the llada contract's metadata and llada.family=autoregressive
// (input_ids [batch, seq] -> logits [batch, seq, vocab], causal attention).
func OpenJudge(path string, opts ...onnx.Option) (*Judge, error) {
	s, err := onnx.Open(path, opts...)
	if err != nil {
		return nil, fmt.Errorf("eval: judge: %w", err)
	}
	meta := s.Metadata()
	fail := func(format string, a ...any) (*Judge, error) {
		return nil, errors.Join(fmt.Errorf("eval: judge %s: "+format, append([]any{path}, a...)...), s.Close())
	}
	if fam := meta["llada.family"]; fam != "autoregressive" {
		return fail("llada.family is %q, a judge must be \"autoregressive\" (a causal LM)", fam)
	}
	vocab, err := strconv.Atoi(strings.TrimSpace(meta["llada.vocab_size"]))
	if err != nil || vocab <= 0 {
		return fail("llada.vocab_size %q is not a positive integer", meta["llada.vocab_size"])
	}
	if v := s.VocabSize(); v != 0 && v != vocab {
		return fail("logits have vocabulary %d but llada.vocab_size is %d", v, vocab)
	}
	maxLen := 0
	if v, ok := meta["llada.max_seq_len"]; ok {
		if maxLen, err = strconv.Atoi(strings.TrimSpace(v)); err != nil || maxLen < 0 {
			return fail("llada.max_seq_len %q is not a non-negative integer", v)
		}
	}
	j, err := NewJudge(s, vocab, maxLen)
	if err != nil {
		return fail("%v", err)
	}
	if j.feats, err = hiddenFeatures(s); err != nil {
		return fail("%v", err)
	}
	j.closer = s.Close
	return j, nil
}

// Encoder returns the judge's feature encoder (its hidden states, docs/contract.md "Hidden-state features"),
// batch rows per forward pass, or an error wrapping ErrNoFeatures when the judge's file lacks them.
func (j *Judge) Encoder(batch int) (*Encoder, error) {
	if j.feats == nil {
		return nil, fmt.Errorf("%w (add it with export/add_hidden_output.py)", ErrNoFeatures)
	}
	return NewEncoder(j.feats, j.vocab, j.maxSeqLen, batch)
}

// VocabSize is the judge's vocabulary size.
func (j *Judge) VocabSize() int { return j.vocab }

// Close releases the judge's session, if OpenJudge made one.
func (j *Judge) Close() error {
	if j.closer == nil {
		return nil
	}
	return j.closer()
}

// CheckVocab fails with ErrVocabMismatch unless the evaluated model's vocabulary equals the judge's: scores of
// token ids from another vocabulary would be meaningless.
func (j *Judge) CheckVocab(modelVocab int) error {
	if modelVocab != j.vocab {
		return fmt.Errorf("%w: the model has %d tokens but the judge has %d; the judge must use the model's tokenizer",
			ErrVocabMismatch, modelVocab, j.vocab)
	}
	return nil
}

// Perplexity is a generative-perplexity measurement.
type Perplexity struct {
	NLL    float64 // summed negative log-likelihood of the scored tokens, nats
	Tokens int     // scored tokens
}

// Value is exp(NLL/Tokens).
func (p Perplexity) Value() float64 { return math.Exp(p.NLL / float64(p.Tokens)) }

// GenPPL scores each sequence's tokens from position from[i] on under the judge, given everything before them
// (generative perplexity: the prompt conditions, the continuation is scored). Sequences of equal length share
// forward passes of at most batch rows (batch <= 0 means 32). from[i] must be at least 1: the first token has
// no context to be predicted from.
func (j *Judge) GenPPL(ctx context.Context, seqs [][]int, from []int, batch int) (Perplexity, error) {
	var out Perplexity
	err := j.score(ctx, seqs, from, batch, func(_ int, nll float64) {
		out.NLL += nll
		out.Tokens++
	})
	if err != nil {
		return Perplexity{}, err
	}
	return out, nil
}

// MeanLogProbs returns, per sequence, the mean log-probability (nats) that the judge gives its tokens from
// position from[i] on: the per-sequence form of GenPPL (exp of minus the mean over all tokens of all sequences
// is GenPPL when the sequences have equal lengths), with the same arguments and checks.
func (j *Judge) MeanLogProbs(ctx context.Context, seqs [][]int, from []int, batch int) ([]float64, error) {
	out := make([]float64, len(seqs))
	err := j.score(ctx, seqs, from, batch, func(i int, nll float64) { out[i] -= nll })
	if err != nil {
		return nil, err
	}
	for i, s := range seqs {
		out[i] /= float64(len(s) - from[i])
	}
	return out, nil
}

// score runs the judge over seqs and calls add(i, nll) for every scored token of sequence i, in a fixed order
// (lengths in first-seen order, rows in input order, positions ascending), so sums are reproducible.
func (j *Judge) score(ctx context.Context, seqs [][]int, from []int, batch int, add func(i int, nll float64)) error {
	if len(seqs) == 0 {
		return fmt.Errorf("%w: no samples to score", ErrEmptyDataset)
	}
	if len(from) != len(seqs) {
		return fmt.Errorf("%w: %d sequences but %d start positions", ErrBadConfig, len(seqs), len(from))
	}
	if batch <= 0 {
		batch = 32
	}
	byLen := map[int][]int{}
	var lens []int
	for i, s := range seqs {
		if from[i] < 1 || from[i] >= len(s) {
			return fmt.Errorf("%w: sequence %d scores from position %d of %d (want 1 <= from < length)", ErrBadConfig, i, from[i], len(s))
		}
		if j.maxSeqLen > 0 && len(s) > j.maxSeqLen {
			return fmt.Errorf("%w: sequence %d has %d tokens, over the judge's max_seq_len %d", ErrBadConfig, i, len(s), j.maxSeqLen)
		}
		for p, id := range s {
			if id < 0 || id >= j.vocab {
				return fmt.Errorf("%w: sequence %d position %d: id %d outside the judge's vocabulary %d", ErrVocabMismatch, i, p, id, j.vocab)
			}
		}
		if _, ok := byLen[len(s)]; !ok {
			lens = append(lens, len(s))
		}
		byLen[len(s)] = append(byLen[len(s)], i)
	}
	var ids []int64
	var logits []float32
	for _, n := range lens {
		idx := byLen[n]
		for lo := 0; lo < len(idx); lo += batch {
			rows := idx[lo:min(lo+batch, len(idx))]
			ids = ids[:0]
			for _, i := range rows {
				for _, id := range seqs[i] {
					ids = append(ids, int64(id))
				}
			}
			if cap(logits) < len(ids)*j.vocab {
				logits = make([]float32, len(ids)*j.vocab)
			}
			logits = logits[:len(ids)*j.vocab]
			if err := j.net.Forward(ctx, ids, nil, len(rows), n, logits); err != nil {
				return fmt.Errorf("eval: judge forward pass: %w", err)
			}
			for r, i := range rows {
				for p := from[i]; p < n; p++ {
					off := (r*n + p - 1) * j.vocab
					nll, ok := crossEntropy(logits[off:off+j.vocab], seqs[i][p])
					if !ok {
						return fmt.Errorf("eval: judge returned unusable logits for sequence %d position %d", i, p)
					}
					add(i, nll)
				}
			}
		}
	}
	return nil
}
