package gomlx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	mlctx "github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/onnx-gomlx/onnx"
	"github.com/llada-go/llada"
	lonnx "github.com/llada-go/llada/onnx"
)

// Denoiser runs a contract-v1 model.onnx on GoMLX. It implements llada.Denoiser and is safe for concurrent use.
type Denoiser struct {
	model   *onnx.Model
	backend backends.Backend
	vars    *mlctx.Context
	device  string
	hasMask bool
	vocab   int
	meta    map[string]string
	lowered int

	buildMu  sync.Mutex // one graph build/compile at a time: GoMLX builds graphs single-threaded
	mu       sync.RWMutex
	closed   bool
	cache    *shapeCache
	inflight sync.WaitGroup // runs abandoned by a cancelled ctx, still executing; Close waits for them
}

var _ llada.Denoiser = (*Denoiser)(nil)

// Open loads a model.onnx file.
func Open(path string, opts ...Option) (*Denoiser, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("gomlx: %w", err)
	}
	d, err := open(data, filepath.Dir(path), opts)
	if err != nil {
		return nil, fmt.Errorf("%w (model %s)", err, path)
	}
	return d, nil
}

// OpenBytes loads a serialized model.onnx. A model with external data (weights in files beside model.onnx,
// as ONNX stores models above 2 GB) needs Open, which knows the directory.
func OpenBytes(data []byte, opts ...Option) (*Denoiser, error) { return open(data, "", opts) }

// open loads a model; dir locates external data ("" when there is none to read).
func open(data []byte, dir string, opts []Option) (*Denoiser, error) {
	c := defaultConfig()
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if c.maxShapes < 1 {
		return nil, fmt.Errorf("gomlx: WithMaxShapes(%d): must be at least 1", c.maxShapes)
	}
	m, lowered, err := parseModel(data)
	if err != nil {
		return nil, err
	}
	if hasExternalData(m) {
		if dir == "" {
			return nil, errors.New("gomlx: the model keeps its weights in external data files: open it by path (Open, OpenModel)")
		}
		if err := loadExternalData(m, dir); err != nil {
			return nil, fmt.Errorf("gomlx: external data: %w", err)
		}
	}
	d := &Denoiser{model: m, lowered: lowered, meta: metadata(m)}
	if err := d.checkSignature(); err != nil {
		return nil, err
	}
	if d.backend, d.device, err = newBackend(c); err != nil {
		return nil, err
	}
	d.vars = mlctx.New()
	if err := catch(func() error { return m.VariablesToContext(d.vars) }); err != nil {
		d.backend.Finalize()
		return nil, fmt.Errorf("gomlx: loading weights: %w", err)
	}
	releaseWeights(m)
	d.cache = newShapeCache(c.maxShapes)
	return d, nil
}

// parseModel parses the ONNX bytes, checks every op converts, and lowers the ops onnx-gomlx lacks.
func parseModel(data []byte) (*onnx.Model, int, error) {
	var m *onnx.Model
	err := catch(func() (err error) { m, err = onnx.Parse(data); return })
	if err != nil {
		return nil, 0, fmt.Errorf("gomlx: parsing ONNX model: %w", err)
	}
	if m.Proto.Graph == nil {
		return nil, 0, errors.New("gomlx: ONNX model has no graph")
	}
	if err := checkOps(m); err != nil {
		return nil, 0, err
	}
	n, err := lowerUnsupported(m)
	if err != nil {
		return nil, 0, fmt.Errorf("gomlx: %w", err)
	}
	if n == 0 {
		return m, 0, nil
	}
	// The converter indexes nodes and initializers at Parse time: parse the rewritten proto again.
	var buf bytes.Buffer
	if err := m.Write(&buf); err != nil {
		return nil, 0, fmt.Errorf("gomlx: re-serializing the lowered graph: %w", err)
	}
	err = catch(func() (err error) { m, err = onnx.Parse(buf.Bytes()); return })
	if err != nil {
		return nil, 0, fmt.Errorf("gomlx: parsing the lowered graph: %w", err)
	}
	return m, n, nil
}

// releaseWeights drops the float weights from the ONNX proto once they are in the GoMLX context, halving the
// host memory a large model holds. The converter reads initializers from the proto only to materialize small
// integer constants (shapes, axes: onnx-gomlx's isVariableConstant), which are kept.
func releaseWeights(m *onnx.Model) {
	for _, t := range m.Proto.Graph.Initializer {
		if t.DataType == onnxFloat {
			t.RawData, t.FloatData = nil, nil
		}
	}
}

func metadata(m *onnx.Model) map[string]string {
	meta := make(map[string]string, len(m.Proto.MetadataProps))
	for _, p := range m.Proto.MetadataProps {
		meta[p.Key] = p.Value
	}
	return meta
}

// checkSignature applies contract v1 (docs/contract.md): input_ids int64 [batch, seq], optional
// attention_mask int64 [batch, seq], output logits float32 [batch, seq, vocab], and nothing else.
func (d *Denoiser) checkSignature() error {
	var problems []string
	names, shapes := d.model.Inputs()
	haveIDs := false
	for i, name := range names {
		s := shapes[i]
		switch name {
		case lonnx.InputIDs:
			haveIDs = true
		case lonnx.AttentionMask:
			d.hasMask = true
		default:
			problems = append(problems, fmt.Sprintf("unexpected input %q (contract v1 has %q and optional %q)",
				name, lonnx.InputIDs, lonnx.AttentionMask))
			continue
		}
		if s.DType != dtypes.Int64 || s.Rank() != 2 {
			problems = append(problems, fmt.Sprintf("input %q: want int64 of rank 2, got %s", name, s))
		}
	}
	if !haveIDs {
		problems = append(problems, fmt.Sprintf("no %q input", lonnx.InputIDs))
	}
	onames, oshapes := d.model.Outputs()
	i := slices.Index(onames, lonnx.Logits)
	if i < 0 {
		problems = append(problems, fmt.Sprintf("no %q output (outputs: %q)", lonnx.Logits, onames))
	} else {
		s := oshapes[i]
		if s.DType != dtypes.Float32 || s.Rank() != 3 {
			problems = append(problems, fmt.Sprintf("output %q: want float32 of rank 3, got %s", lonnx.Logits, s))
		} else {
			d.vocab = s.Dimensions[2]
		}
	}
	if len(problems) == 0 && d.vocab <= 0 {
		// A dynamic vocabulary dimension: the contract's llada.vocab_size says what it is.
		c, err := llada.ParseContract(d.meta)
		if err != nil {
			return fmt.Errorf("gomlx: logits have a dynamic vocabulary and the contract is unreadable: %w", err)
		}
		d.vocab = c.VocabSize
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("gomlx: model does not follow contract v1: %s", strings.Join(problems, "; "))
	}
	return nil
}

// VocabSize is the logits' last dimension.
func (d *Denoiser) VocabSize() int { return d.vocab }

// Metadata returns a copy of the model's metadata_props.
func (d *Denoiser) Metadata() map[string]string {
	out := make(map[string]string, len(d.meta))
	for k, v := range d.meta {
		out[k] = v
	}
	return out
}

// Contract parses the model's contract metadata.
func (d *Denoiser) Contract() (llada.Contract, error) { return llada.ParseContract(d.meta) }

// HasAttentionMask reports whether the model takes an attention_mask input.
func (d *Denoiser) HasAttentionMask() bool { return d.hasMask }

// Device names where the network runs: "cpu" for the pure-Go backend, else the PJRT plugin in use.
func (d *Denoiser) Device() string { return d.device }

// Backend describes the GoMLX backend ("go" or "xla") and its device, as GoMLX reports it.
func (d *Denoiser) Backend() string { return d.backend.Name() + ": " + d.backend.Description() }

// Lowered is the number of graph nodes rewritten before conversion because onnx-gomlx lacks their op
// (Sigmoid in our exports).
func (d *Denoiser) Lowered() int { return d.lowered }

// Close drops the compiled executables and the backend. Forward calls in flight finish first; later calls fail.
func (d *Denoiser) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	d.inflight.Wait()
	d.cache.clear()
	d.backend.Finalize()
	return nil
}

// Forward writes float32 logits [in.Rows, in.Seq, VocabSize()] into logits.
//
// The first call for a [rows, seq] shape builds and compiles a graph for it (GoMLX compiles per shape);
// later calls reuse it. ctx is checked before the run, and a cancellation during the run returns at once
// with an error wrapping ctx.Err() (the backend finishes the computation in the background and drops it;
// logits is not written).
func (d *Denoiser) Forward(ctx context.Context, in llada.Batch, logits []float32) error {
	if err := d.checkBatch(ctx, in); err != nil {
		return err
	}
	if n := in.Rows * in.Seq * d.vocab; len(logits) != n {
		return fmt.Errorf("gomlx: forward: len(logits)=%d, want rows*seq*vocab=%d*%d*%d=%d",
			len(logits), in.Rows, in.Seq, d.vocab, n)
	}
	outs, err := d.runWith(ctx, kindLogits, in)
	if err != nil {
		return err
	}
	defer finalize(outs)
	return catch(func() error {
		return tensors.ConstFlatData(outs[0], func(flat []float32) { copy(logits, flat) })
	})
}

// checkBatch validates a batch like the ONNX Runtime backend does, plus the id range (an out-of-range id
// would be clamped by the gather, not reported).
func (d *Denoiser) checkBatch(ctx context.Context, in llada.Batch) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("gomlx: forward not started: %w", err)
	}
	if in.Rows <= 0 || in.Seq <= 0 {
		return fmt.Errorf("gomlx: forward: rows=%d seq=%d, both must be positive", in.Rows, in.Seq)
	}
	n := in.Rows * in.Seq
	if len(in.IDs) != n {
		return fmt.Errorf("gomlx: forward: len(ids)=%d, want rows*seq=%d*%d=%d", len(in.IDs), in.Rows, in.Seq, n)
	}
	for i, id := range in.IDs {
		if id < 0 || id >= int64(d.vocab) {
			return fmt.Errorf("gomlx: forward: ids[%d]=%d is outside the vocabulary [0,%d)", i, id, d.vocab)
		}
	}
	if in.Attention != nil {
		if len(in.Attention) != n {
			return fmt.Errorf("gomlx: forward: len(attention)=%d, want rows*seq=%d", len(in.Attention), n)
		}
		for i, a := range in.Attention {
			if a != 0 && a != 1 {
				return fmt.Errorf("gomlx: forward: attention[%d]=%d, want 0 or 1", i, a)
			}
			if a == 0 && !d.hasMask {
				return fmt.Errorf("gomlx: forward: attention[%d]=0 (padding) but the model has no %q input, so it "+
					"cannot ignore padded positions", i, lonnx.AttentionMask)
			}
		}
	}
	return nil
}

// runWith executes the graph of the given kind for the batch's shape, with extra parameters after the
// model's inputs, and returns its outputs, which the caller finalizes.
func (d *Denoiser) runWith(ctx context.Context, kind graphKind, in llada.Batch, extra ...any) ([]*tensors.Tensor, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return nil, errors.New("gomlx: forward: denoiser is closed")
	}
	args := []any{tensors.FromFlatDataAndDimensions(in.IDs, in.Rows, in.Seq)}
	if d.hasMask {
		att := in.Attention
		if att == nil {
			att = make([]int64, len(in.IDs))
			for i := range att {
				att[i] = 1
			}
		}
		args = append(args, tensors.FromFlatDataAndDimensions(att, in.Rows, in.Seq))
	}
	args = append(args, extra...)
	e, err := d.executable(shapeKey{kind: kind, rows: in.Rows, seq: in.Seq}, args)
	if err != nil {
		return nil, err
	}
	type result struct {
		outs []*tensors.Tensor
		err  error
	}
	done := make(chan result, 1)
	d.inflight.Add(1)
	go func() {
		defer d.inflight.Done()
		var r result
		r.err = catch(func() (err error) { r.outs, err = e.Exec(args...); return })
		done <- r
	}()
	select {
	case r := <-done:
		finalize(args)
		if r.err != nil {
			return nil, fmt.Errorf("gomlx: forward [%d,%d]: %w", in.Rows, in.Seq, r.err)
		}
		return r.outs, nil
	case <-ctx.Done():
		go func() { r := <-done; finalize(r.outs); finalize(args) }()
		return nil, fmt.Errorf("gomlx: forward interrupted: %w", ctx.Err())
	}
}

// executable returns the compiled graph for key, building it on first use.
func (d *Denoiser) executable(key shapeKey, args []any) (*mlctx.Exec, error) {
	if e := d.cache.get(key); e != nil {
		return e, nil
	}
	d.buildMu.Lock()
	defer d.buildMu.Unlock()
	if e := d.cache.get(key); e != nil {
		return e, nil
	}
	var e *mlctx.Exec
	err := catch(func() (err error) {
		e, err = mlctx.NewExecAny(d.backend, d.vars, d.graphFn(key.kind))
		if err != nil {
			return err
		}
		e.SetMaxCache(1) // this Exec serves one shape; the LRU above bounds the total
		return e.PreCompile(args...)
	})
	if err != nil {
		if e != nil {
			e.Finalize()
		}
		return nil, fmt.Errorf("gomlx: building the graph for [%d,%d]: %w", key.rows, key.seq, err)
	}
	d.cache.put(key, e)
	return e, nil
}

// graphFn returns the GoMLX graph function of a kind: the converted ONNX graph, and for kindConfidence the
// confidence reduction after it.
func (d *Denoiser) graphFn(kind graphKind) func(*mlctx.Context, []*graph.Node) []*graph.Node {
	return func(ctx *mlctx.Context, in []*graph.Node) []*graph.Node {
		feeds := map[string]*graph.Node{lonnx.InputIDs: in[0]}
		if d.hasMask {
			feeds[lonnx.AttentionMask] = in[1]
		}
		logits := d.model.CallGraph(ctx, in[0].Graph(), feeds, lonnx.Logits)[0]
		if kind == kindConfidence {
			mask := in[len(in)-1] // the never-proposed id, a scalar parameter
			return confidenceGraph(logits, mask)
		}
		return []*graph.Node{logits}
	}
}

// catch runs fn and turns a GoMLX panic (its way of reporting graph errors) into an error.
func catch(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok {
				err = e
			} else {
				err = fmt.Errorf("%v", r)
			}
		}
	}()
	return fn()
}

func finalize[T any](xs []T) {
	for _, x := range xs {
		if t, ok := any(x).(*tensors.Tensor); ok && t != nil {
			_ = t.FinalizeAll()
		}
	}
}
