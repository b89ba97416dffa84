// Package serve is an OpenAI-compatible HTTP server for llada models, with cross-request batching.
//
// A Server is an http.Handler: mount it in a Go service, or run it with `llada serve`. Endpoints:
//
//	GET  /v1/models             the one model served
//	POST /v1/completions        OpenAI completions (prompt: a string or strings), streaming with SSE
//	POST /v1/chat/completions   OpenAI chat completions through the model's chat template
//	GET  /healthz               200 while the process serves
//	GET  /readyz                200 when accepting work, 503 while draining
//	GET  /metrics               Prometheus metrics of this server (its own registry)
//
// Concurrent generations of a masked-family model share forward passes: each step, the canvases of the
// requests waiting for the network run as rows of one batch (see batcher). Every request keeps its own
// sampler, seed and settings, and a greedy request gives the same output alone or batched.
package serve

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/llada-go/llada"
	"github.com/llada-go/llada/chat"
)

// Option configures a Server.
type Option func(*options)

type options struct {
	apiKey          string
	logger          *slog.Logger
	maxConcurrent   int
	maxQueue        int
	maxPromptTokens int
	maxTokens       int
	defaultTokens   int
	maxN            int
	timeout         time.Duration
	batchRows       int
	batchWait       time.Duration
	batchQuantum    int
	batchInFlight   int
	noBatching      bool
	modelName       string
	chatTemplate    *string
	maxBodyBytes    int64
}

// WithAPIKey requires "Authorization: Bearer KEY" on every /v1 request (401 otherwise). Health, readiness
// and metrics stay open, as probes and scrapers expect.
func WithAPIKey(key string) Option { return func(o *options) { o.apiKey = key } }

// WithLogger sets the structured logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithMaxConcurrent bounds the generations running at once (default 64).
func WithMaxConcurrent(n int) Option { return func(o *options) { o.maxConcurrent = n } }

// WithQueue bounds the requests waiting for a generation slot; beyond it requests get 429 (default 256).
func WithQueue(n int) Option { return func(o *options) { o.maxQueue = n } }

// WithMaxPromptTokens bounds the prompt length in tokens (default: the model's max_seq_len).
func WithMaxPromptTokens(n int) Option { return func(o *options) { o.maxPromptTokens = n } }

// WithMaxTokens bounds max_tokens, the generation length (default 256, at most what max_seq_len leaves).
func WithMaxTokens(n int) Option { return func(o *options) { o.maxTokens = n } }

// WithDefaultTokens is the generation length of a request without max_tokens (default llada.DefaultGenLength).
func WithDefaultTokens(n int) Option { return func(o *options) { o.defaultTokens = n } }

// WithMaxN bounds n, the choices per prompt (default 8).
func WithMaxN(n int) Option { return func(o *options) { o.maxN = n } }

// WithTimeout bounds one request's time from admission to its last byte (default 5 minutes; 0 for none).
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithBatching sets cross-request batching: at most rows rows per forward pass, a pass waits at most wait for
// others to join, and canvases are padded to a multiple of quantum positions so that requests of nearby
// lengths share a bucket (defaults 32 rows, 5 ms, 16 positions).
func WithBatching(rows int, wait time.Duration, quantum int) Option {
	return func(o *options) { o.batchRows, o.batchWait, o.batchQuantum = rows, wait, quantum }
}

// WithBatchesInFlight lets up to n batched forward passes run at once (default 2): on a CPU backend one group
// of generations scores its logits while another group's pass runs; 1 serialises them.
func WithBatchesInFlight(n int) Option { return func(o *options) { o.batchInFlight = n } }

// WithoutBatching gives every request its own forward passes (the model's own Stream).
func WithoutBatching() Option { return func(o *options) { o.noBatching = true } }

// WithModelName is the model id that /v1/models lists and responses carry (default "llada").
func WithModelName(name string) Option { return func(o *options) { o.modelName = name } }

// WithChatTemplate sets the chat template (Jinja) used by /v1/chat/completions, replacing the model's own;
// an empty string disables chat.
func WithChatTemplate(src string) Option { return func(o *options) { o.chatTemplate = &src } }

// WithMaxBodyBytes bounds a request body (default 1 MiB).
func WithMaxBodyBytes(n int64) Option { return func(o *options) { o.maxBodyBytes = n } }

// Server serves one model over HTTP. It is safe for concurrent use; Close it when done.
type Server struct {
	o        options
	model    *llada.Model
	contract llada.Contract
	tok      llada.Tokenizer
	batch    *batcher // nil without batching
	chat     *chat.Template
	chatErr  error
	mux      *http.ServeMux
	metrics  *metrics
	log      *slog.Logger

	admitted chan struct{} // capacity maxConcurrent+maxQueue: requests admitted (running or queued)
	slots    chan struct{} // capacity maxConcurrent: generations running
	draining atomic.Bool
	inflight sync.WaitGroup
	nextID   atomic.Uint64
	idPrefix string
	closed   sync.Once
}

// New builds a Server for model. The model stays the caller's: Close the Server, then the model.
func New(model *llada.Model, opts ...Option) (*Server, error) {
	if model == nil {
		return nil, errors.New("serve: nil model")
	}
	c := model.Contract()
	o := options{maxConcurrent: 64, maxQueue: 256, maxTokens: 256, defaultTokens: llada.DefaultGenLength, maxN: 8,
		timeout: 5 * time.Minute, batchRows: 32, batchWait: 5 * time.Millisecond, batchQuantum: 16, batchInFlight: 2,
		modelName: "llada", maxBodyBytes: 1 << 20, maxPromptTokens: c.MaxSeqLen}
	for _, opt := range opts {
		opt(&o)
	}
	switch {
	case o.maxConcurrent < 1:
		return nil, fmt.Errorf("serve: max concurrent %d must be at least 1", o.maxConcurrent)
	case o.maxQueue < 0:
		return nil, fmt.Errorf("serve: queue %d must be >= 0", o.maxQueue)
	case o.maxTokens < 1 || o.defaultTokens < 1 || o.maxN < 1:
		return nil, fmt.Errorf("serve: max tokens %d, default tokens %d and max n %d must be at least 1", o.maxTokens, o.defaultTokens, o.maxN)
	case !o.noBatching && (o.batchRows < 1 || o.batchWait < 0 || o.batchQuantum < 1 || o.batchInFlight < 1):
		return nil, fmt.Errorf("serve: batching needs rows >= 1 (%d), wait >= 0 (%v), quantum >= 1 (%d) and batches in flight >= 1 (%d)",
			o.batchRows, o.batchWait, o.batchQuantum, o.batchInFlight)
	case o.timeout < 0 || o.maxBodyBytes < 1:
		return nil, fmt.Errorf("serve: timeout %v must be >= 0 and max body %d >= 1", o.timeout, o.maxBodyBytes)
	case o.modelName == "":
		return nil, errors.New("serve: empty model name")
	}
	if c.MaxSeqLen > 0 {
		o.maxTokens = min(o.maxTokens, c.MaxSeqLen)
		if o.maxPromptTokens <= 0 || o.maxPromptTokens > c.MaxSeqLen {
			o.maxPromptTokens = c.MaxSeqLen
		}
	}
	o.defaultTokens = min(o.defaultTokens, o.maxTokens)
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{o: o, model: model, contract: c, tok: model.Tokenizer(), log: o.logger,
		admitted: make(chan struct{}, o.maxConcurrent+o.maxQueue), slots: make(chan struct{}, o.maxConcurrent),
		idPrefix: fmt.Sprintf("%x", time.Now().UnixNano())}
	s.metrics = newMetrics(s)
	tmpl := c.ChatTemplate
	if o.chatTemplate != nil {
		tmpl = *o.chatTemplate
	}
	if tmpl == "" {
		s.chatErr = errors.New("the model has no chat template (llada.chat_template); use /v1/completions")
	} else if s.chat, s.chatErr = chat.Parse(tmpl); s.chatErr != nil {
		s.chatErr = fmt.Errorf("the model's chat template does not parse: %w", s.chatErr)
		s.log.Warn("chat template unusable", "err", s.chatErr)
	}
	if c.Family != "continuous" && !o.noBatching {
		s.batch = newBatcher(model.Denoiser(), c.PadID, o.batchQuantum, o.batchRows, o.batchWait, o.batchInFlight, s.metrics.observeBatch)
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.Handle("GET /metrics", s.metrics.handler())
	s.mux.HandleFunc("GET /v1/models", s.auth(s.models))
	s.mux.HandleFunc("POST /v1/completions", s.auth(s.admit("completions", s.completions)))
	s.mux.HandleFunc("POST /v1/chat/completions", s.auth(s.admit("chat", s.chatCompletions)))
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found_error", "", fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path))
	})
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Drain stops admitting generations (503, and /readyz turns 503 so a load balancer moves traffic away) and
// waits until those in flight finish or ctx ends.
func (s *Server) Drain(ctx context.Context) error {
	s.draining.Store(true)
	done := make(chan struct{})
	go func() { s.inflight.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("serve: drain: %w", ctx.Err())
	}
}

// Close drains without a deadline's patience: generations still running fail, and the batcher stops. The
// model is not closed.
func (s *Server) Close() error {
	s.closed.Do(func() {
		s.draining.Store(true)
		if s.batch != nil {
			s.batch.close()
		}
	})
	return nil
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"status":"ok"}`))
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if s.draining.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"status":"draining"}`))
		return
	}
	_, _ = w.Write([]byte(`{"status":"ready"}`))
}

func (s *Server) models(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": []any{map[string]any{
		"id": s.o.modelName, "object": "model", "created": 0, "owned_by": "llada",
		"llada": map[string]any{"family": s.contract.Family, "vocab_size": s.contract.VocabSize,
			"max_seq_len": s.contract.MaxSeqLen, "chat": s.chat != nil, "batching": s.batch != nil},
	}}})
}

// auth checks the bearer key in constant time.
func (s *Server) auth(next http.HandlerFunc) http.HandlerFunc {
	if s.o.apiKey == "" {
		return next
	}
	want := []byte(s.o.apiKey)
	return func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), want) != 1 {
			s.metrics.rejected.WithLabelValues("auth").Inc()
			w.Header().Set("WWW-Authenticate", `Bearer realm="llada"`)
			writeErrorCode(w, http.StatusUnauthorized, "invalid_request_error", "invalid_api_key", "", "missing or wrong API key (Authorization: Bearer KEY)")
			return
		}
		next(w, r)
	}
}

// admit applies admission control around a generation endpoint: 503 while draining, 429 when the queue is
// full, a generation slot (waiting in the queue) and the request timeout.
func (s *Server) admit(endpoint string, next func(http.ResponseWriter, *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		defer func() {
			s.metrics.requests.WithLabelValues(endpoint, fmt.Sprint(rec.code)).Inc()
			s.metrics.latency.WithLabelValues(endpoint).Observe(time.Since(start).Seconds())
		}()
		if s.draining.Load() {
			s.metrics.rejected.WithLabelValues("draining").Inc()
			writeError(rec, http.StatusServiceUnavailable, "service_unavailable", "", "the server is draining; retry on another replica")
			return
		}
		select {
		case s.admitted <- struct{}{}:
		default:
			s.metrics.rejected.WithLabelValues("queue_full").Inc()
			rec.Header().Set("Retry-After", "1")
			writeError(rec, http.StatusTooManyRequests, "rate_limit_error", "", fmt.Sprintf("too many requests: %d running and %d queued", s.o.maxConcurrent, s.o.maxQueue))
			return
		}
		s.inflight.Add(1)
		defer func() { <-s.admitted; s.inflight.Done() }()
		ctx := r.Context()
		if s.o.timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, s.o.timeout)
			defer cancel()
		}
		s.metrics.queued.Inc()
		select {
		case s.slots <- struct{}{}:
			s.metrics.queued.Dec()
		case <-ctx.Done():
			s.metrics.queued.Dec()
			s.writeCtxError(rec, ctx, "waiting for a generation slot")
			return
		}
		defer func() { <-s.slots }()
		s.metrics.running.Inc()
		defer s.metrics.running.Dec()
		next(rec, r.WithContext(ctx))
	}
}

// writeCtxError answers a request whose context ended: 504 on timeout; a client that went away gets nothing.
func (s *Server) writeCtxError(w http.ResponseWriter, ctx context.Context, during string) {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		s.metrics.rejected.WithLabelValues("timeout").Inc()
		writeError(w, http.StatusGatewayTimeout, "timeout", "", fmt.Sprintf("request timed out after %v %s", s.o.timeout, during))
		return
	}
	s.metrics.rejected.WithLabelValues("cancelled").Inc()
	w.WriteHeader(499) // nginx's "client closed request": nobody reads it, the logs and metrics do
}

// stream runs a generation, through the batcher when there is one.
func (s *Server) stream(ctx context.Context, prompts [][]int, cfg llada.GenerateConfig) iter.Seq2[llada.Step, error] {
	if s.batch == nil {
		return s.model.Stream(ctx, prompts, cfg)
	}
	return func(yield func(llada.Step, error) bool) {
		m := s.batch.join()
		defer m.leave()
		for st, err := range llada.Stream(ctx, m, s.contract, prompts, cfg) {
			if !yield(st, err) {
				return
			}
		}
	}
}

func (s *Server) newID(prefix string) string {
	return fmt.Sprintf("%s-%s%06d", prefix, s.idPrefix, s.nextID.Add(1))
}

// statusRecorder remembers the status code for metrics and keeps Flush reachable for streaming.
type statusRecorder struct {
	http.ResponseWriter
	code        int
	wroteHeader bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wroteHeader {
		r.code, r.wroteHeader = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wroteHeader = true
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's Flush.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
