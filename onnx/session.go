//go:build cgo

package onnx

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// Session is one loaded model. It is safe for concurrent use: Forward may be called from many goroutines at
// once (each call gets its own input/output buffers), and Close waits for calls in flight.
type Session struct {
	sess     *ort.DynamicAdvancedSession
	source   string // path or "<bytes>", for messages
	library  string
	sig      signature
	inputs   []TensorInfo
	outputs  []TensorInfo
	meta     map[string]string
	feedName []string // inputs we feed, in Run order

	mu     sync.RWMutex // RLock: Forward in flight; Lock: Close
	closed bool

	poolMu sync.Mutex
	pool   []*binding // idle per-shape buffers, most recently used last

	cacheInfo  KVCacheInfo           // the llada.kv_cache geometry, when sig.hasCache
	plain      []*KVCache            // idle caches of Forward on a KV-cache model (kvcache_cgo.go), guarded by poolMu
	closedPool bool                  // set by Close under poolMu: no cache is pooled afterwards
	liveCaches map[*KVCache]struct{} // every open cache, whose IoBindings Close releases first; under poolMu

	extra extraOutputs   // sessions for outputs other than logits (outputs_cgo.go)
	red   reductionState // ForwardReductions' cached tensors (reductions_cgo.go)
}

// Open loads an ONNX model file (external-data files next to it are found by ONNX Runtime) and checks it
// against model contract v1. The ONNX Runtime library is located with LibraryPath on first use.
func Open(modelPath string, opts ...Option) (*Session, error) {
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(modelPath)
	if err != nil {
		return nil, fmt.Errorf("onnx: model file: %w", err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("onnx: model file %q is a directory, want an .onnx file", modelPath)
	}
	if st.Size() == 0 {
		return nil, fmt.Errorf("onnx: model file %q is empty", modelPath)
	}
	return open(c, modelPath, nil)
}

// OpenBytes loads a model held in memory (for example a go:embed'ed file). The bytes are read during the call
// and not retained. Models with external data files cannot be opened this way.
func OpenBytes(model []byte, opts ...Option) (*Session, error) {
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	if len(model) == 0 {
		return nil, errors.New("onnx: model bytes are empty")
	}
	return open(c, "", model)
}

func open(c config, path string, data []byte) (*Session, error) {
	lib, err := ensureEnvironment(c.libraryPath)
	if err != nil {
		return nil, err
	}
	source := path
	if data != nil {
		source = fmt.Sprintf("<%d bytes>", len(data))
	}
	fail := func(what string, err error) (*Session, error) {
		return nil, fmt.Errorf("onnx: model %s: %s: %w", source, what, err)
	}

	// The signature is read from the protobuf itself (see readGraphSignature), so the model is loaded once, by
	// the session below, and a model that breaks the contract fails before its weights are loaded.
	var ins, outs []TensorInfo
	if data != nil {
		ins, outs, err = readGraphSignature(bytes.NewReader(data), int64(len(data)))
	} else {
		ins, outs, err = readSignatureFile(path)
	}
	if err != nil {
		return fail("not a loadable ONNX model", err)
	}
	s := &Session{source: source, library: lib}
	s.inputs, s.outputs = ins, outs
	s.sig, err = validateSignature(s.inputs, s.outputs)
	if err != nil {
		return nil, fmt.Errorf("onnx: model %s: %w", source, err)
	}
	s.feedName = []string{InputIDs}
	if s.sig.hasMask {
		s.feedName = append(s.feedName, AttentionMask)
	}
	if s.sig.hasWindow {
		s.feedName = append(s.feedName, LogitsWindow)
	}
	fetch := []string{Logits}
	if s.sig.hasCache {
		s.feedName = append(s.feedName, PastKeys, PastValues, CacheStart)
		fetch = append(fetch, PresentKeys, PresentValues)
	}
	s.extra.reopen = newReopener(c, lib, path, data, s.feedName, s.outputs)

	so, err := sessionOptions(c, lib)
	if err != nil {
		return nil, err
	}
	defer so.Destroy()
	if data != nil {
		s.sess, err = ort.NewDynamicAdvancedSessionWithONNXData(data, s.feedName, fetch, so)
	} else {
		s.sess, err = ort.NewDynamicAdvancedSession(path, s.feedName, fetch, so)
	}
	if err != nil {
		return fail("not a loadable ONNX model: creating session", err)
	}
	if s.meta, err = readMetadata(s.sess); err != nil {
		s.sess.Destroy()
		return fail("reading metadata", err)
	}
	if s.sig.hasCache {
		if s.cacheInfo, err = parseKVCache(s.meta, s.inputs); err != nil {
			s.sess.Destroy()
			return nil, fmt.Errorf("onnx: model %s: %w", source, err)
		}
	}
	return s, nil
}

func sessionOptions(c config, lib string) (*ort.SessionOptions, error) {
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("onnx: session options: %w", err)
	}
	level := map[GraphOptimization]ort.GraphOptimizationLevel{
		GraphOptimizationAll:      ort.GraphOptimizationLevelEnableAll,
		GraphOptimizationDisabled: ort.GraphOptimizationLevelDisableAll,
		GraphOptimizationBasic:    ort.GraphOptimizationLevelEnableBasic,
		GraphOptimizationExtended: ort.GraphOptimizationLevelEnableExtended,
	}[c.optimization]
	if err := so.SetGraphOptimizationLevel(level); err != nil {
		so.Destroy()
		return nil, fmt.Errorf("onnx: graph optimisation %s: %w", c.optimization, err)
	}
	if c.intraThreads > 0 {
		if err := so.SetIntraOpNumThreads(c.intraThreads); err != nil {
			so.Destroy()
			return nil, fmt.Errorf("onnx: intra-op threads %d: %w", c.intraThreads, err)
		}
	}
	if c.noSpin {
		if err := so.AddSessionConfigEntry("session.intra_op.allow_spinning", "0"); err != nil {
			so.Destroy()
			return nil, fmt.Errorf("onnx: disabling thread spinning: %w", err)
		}
	}
	if c.cuda {
		if err := appendCUDA(so, c.cudaDevice, lib); err != nil {
			so.Destroy()
			return nil, err
		}
	}
	return so, nil
}

// appendCUDA adds the CUDA execution provider. The CPU-only library (the only one obtainable on the machines
// this project is developed on) fails at CreateCUDAProviderOptions or at the append; both become one error
// that says what is missing.
func appendCUDA(so *ort.SessionOptions, device int, lib string) error {
	wrap := func(err error) error {
		return fmt.Errorf("onnx: CUDA execution provider unavailable: the ONNX Runtime library %q has no CUDA EP "+
			"(it is a CPU-only build; WithCUDA needs a CUDA-enabled onnxruntime with libonnxruntime_providers_cuda.so "+
			"and a GPU): %w", lib, err)
	}
	co, err := ort.NewCUDAProviderOptions()
	if err != nil {
		return wrap(err)
	}
	defer co.Destroy()
	if err := co.Update(map[string]string{"device_id": strconv.Itoa(device)}); err != nil {
		return wrap(err)
	}
	if err := so.AppendExecutionProviderCUDA(co); err != nil {
		return wrap(err)
	}
	return nil
}

func readMetadata(sess *ort.DynamicAdvancedSession) (map[string]string, error) {
	md, err := sess.GetModelMetadata()
	if err != nil {
		return nil, err
	}
	defer md.Destroy()
	keys, err := md.GetCustomMetadataMapKeys()
	if err != nil {
		return nil, err
	}
	meta := make(map[string]string, len(keys))
	for _, k := range keys {
		v, ok, err := md.LookupCustomMetadataMap(k)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k, err)
		}
		if ok {
			meta[k] = v
		}
	}
	return meta, nil
}

// Metadata returns a copy of the model's ONNX metadata_props (the custom metadata map).
func (s *Session) Metadata() map[string]string {
	m := make(map[string]string, len(s.meta))
	for k, v := range s.meta {
		m[k] = v
	}
	return m
}

// Inputs describes the model's inputs as ONNX Runtime reports them.
func (s *Session) Inputs() []TensorInfo { return cloneInfos(s.inputs) }

// Outputs describes the model's outputs (all of them; Forward fetches only "logits").
func (s *Session) Outputs() []TensorInfo { return cloneInfos(s.outputs) }

// HasAttentionMask reports whether the model takes an attention_mask input.
func (s *Session) HasAttentionMask() bool { return s.sig.hasMask }

// VocabSize is the static last dimension of logits, or 0 when the model leaves it dynamic; in that case Forward
// learns it from the output of each run.
func (s *Session) VocabSize() int { return s.sig.vocab }

// Library is the ONNX Runtime library file this process loaded.
func (s *Session) Library() string { return s.library }

func cloneInfos(ts []TensorInfo) []TensorInfo {
	out := make([]TensorInfo, len(ts))
	for i, t := range ts {
		out[i] = t
		out[i].Shape = append([]int64(nil), t.Shape...)
	}
	return out
}

// Close releases the session. It waits for Forward calls in flight; later calls fail. Closing twice is a no-op.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.poolMu.Lock()
	for _, b := range s.pool {
		b.destroy()
	}
	s.pool = nil
	plain := s.plain
	s.plain, s.closedPool = nil, true
	live := make([]*KVCache, 0, len(s.liveCaches))
	for c := range s.liveCaches {
		live = append(live, c)
	}
	s.poolMu.Unlock()
	for _, c := range plain {
		_ = c.Close()
	}
	for _, c := range live { // caches callers still hold: their bindings must not outlive the session
		c.mu.Lock()
		c.destroyIO()
		c.mu.Unlock()
	}
	s.red.close()
	if err := errors.Join(s.sess.Destroy(), s.extra.close()); err != nil {
		return fmt.Errorf("onnx: close: %w", err)
	}
	return nil
}

func readSignatureFile(path string) ([]TensorInfo, []TensorInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	return readGraphSignature(f, st.Size())
}
